//! The HTTP kernel: the middleware every request passes through, the
//! extractors that turn bad input into precise problems, and the server loop.
//!
//! A request travels, outermost first: request id → tracing span → gzip →
//! CORS → problem rendering → panic guard → timeout → body limit → the
//! context's handler. Contexts contribute an `OpenApiRouter`; this module
//! wraps it, so no route can opt out of the stack.

pub mod api_docs;
pub mod health;
pub mod json;
pub mod problem;
pub mod serve;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::config::Config;

pub use json::ApiJson;

/// The header that carries the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the API: the kernel's operational endpoints and each
/// context's routes. The OpenAPI document is generated from this.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(api_docs::base_document()).merge(health::routes())
}

/// The complete application: `api` plus the API reference, wrapped in the
/// middleware stack.
pub fn router(state: AppState, api: OpenApiRouter<AppState>) -> Router {
    let (api, document) = api.split_for_parts();
    let config = state.config.clone();
    // Layers listed outermost first.
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CompressionLayer::new().gzip(true))
        .layer(cors(&config))
        .layer(axum::middleware::from_fn_with_state(
            problem::Limits {
                body_limit_bytes: config.http_body_limit_bytes,
                request_timeout_secs: config.http_request_timeout_secs,
            },
            problem::render_problems,
        ))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout(),
        ))
        .layer(RequestBodyLimitLayer::new(config.http_body_limit_bytes));
    api.merge(api_docs::routes(document))
        .fallback(problem::unknown_route)
        // One body limit for the whole API, set above.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
        .layer(middleware)
}

fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The path only: query strings may carry identifiers.
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
    )
}

fn log_response<B>(res: &axum::http::Response<B>, latency: Duration, _: &tracing::Span) {
    tracing::info!(
        status = res.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "request finished"
    );
}

fn cors(config: &Config) -> CorsLayer {
    if config.cors_allowed_origins.is_empty() {
        return CorsLayer::new();
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
    CorsLayer::new()
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
        .max_age(Duration::from_secs(600))
}

/// Request ids are UUID v7: unique across servers and sortable by time.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}
