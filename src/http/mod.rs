//! The HTTP kernel: the middleware every request passes through, the
//! extractors that turn bad input into precise problems, and the server loop.
//!
//! A request travels, outermost first: the kernel layer (request id, body
//! limit, panic guard, problem rendering, gzip, access log; see `kernel`) →
//! CORS when configured → for context routes, the request timeout → the
//! handler. Contexts contribute an `OpenApiRouter`; this module
//! wraps it, so no route can opt out of the stack.

pub mod api_docs;
pub mod client_addr;
mod drain;
pub mod extract;
pub mod health;
pub mod json;
pub mod kernel;
pub mod nul;
pub mod problem;
pub mod serve;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::config::Config;

pub use client_addr::TrustedProxies;
pub use extract::{ApiPath, ApiQuery, Page, PageQuery};
pub use json::ApiJson;

/// The header that carries the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Room for a multipart upload's framing and fields beside the file.
const UPLOAD_FRAMING_BYTES: usize = 64 * 1024;

/// The whole API: the kernel's operational endpoints and `contexts`. The
/// OpenAPI document is generated from this.
fn api(contexts: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(api_docs::base_document())
        .merge(health::routes())
        .merge(contexts)
}

/// The application as served: the router inside the kernel layer.
pub type App = kernel::Kernel<Router>;

/// The complete application: the operational endpoints, `contexts`, and the
/// API reference, wrapped in the middleware stack.
pub fn router(state: AppState, contexts: OpenApiRouter<AppState>) -> App {
    let config = &state.config;
    // The request timeout guards handlers that wait on I/O. The operational
    // endpoints answer from memory (`/ready` bounds its own database check),
    // and a liveness probe must not pay for a timer on every call.
    // The kernel caps every body at this request's limit (uploads carry
    // files up to `upload_max_bytes`); axum's own 2 MiB default for form
    // and raw bodies would refuse files the configured limit allows.
    let contexts = contexts
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout(),
        ))
        .layer(DefaultBodyLimit::disable());
    let (api, document) = api(contexts).split_for_parts();
    // After routing, where the route's template is known: refusals on a
    // patient's routes are audited as failed access.
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        crate::policy::failed_access::FailedAccess::new(state.clone()),
        crate::policy::failed_access::watch,
    ));
    let document = api_docs::with_body_problems(document);
    let inner = api
        .merge(api_docs::routes(document))
        .fallback(problem::unknown_route)
        .with_state(state.clone());
    let inner = match cors(config) {
        Some(cors) => inner.layer(cors),
        None => inner,
    };
    // The kernel wraps the whole router once, not each route: a per-route
    // layer is cloned with its route on every request.
    let kernel = kernel::KernelLayer {
        limits: problem::Limits {
            body_limit_bytes: config.http_body_limit_bytes,
            upload_limit_bytes: usize::try_from(config.upload_max_bytes)
                .unwrap_or(usize::MAX)
                .saturating_add(UPLOAD_FRAMING_BYTES)
                .max(config.http_body_limit_bytes),
            request_timeout_secs: config.http_request_timeout_secs,
        },
        // Checked when the configuration loaded.
        proxies: std::sync::Arc::new(
            TrustedProxies::parse(&config.trusted_proxies).unwrap_or_default(),
        ),
    };
    kernel.layer(inner)
}

/// CORS for the configured origins; none configured, no layer at all.
fn cors(config: &Config) -> Option<CorsLayer> {
    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let origin = if config.cors_allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .cors_allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    let layer = CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(600));
    Some(layer)
}
