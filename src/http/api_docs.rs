//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! an interactive reference (Swagger UI) served from the binary itself, so
//! it works on a clinic network with no internet access.

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::app::AppState;
use crate::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "carebase",
        description = "An open healthcare platform backend. Every error is an RFC 9457 \
            problem (`application/problem+json`) whose `type` is a stable URN.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    paths(openapi_json),
    components(schemas(Problem, FieldError)),
    tags((name = "operations", description = "Health, readiness and this document")),
)]
struct BaseDocument;

/// The document's fixed parts; the routers add their paths to it.
pub fn base_document() -> utoipa::openapi::OpenApi {
    BaseDocument::openapi()
}

/// The complete OpenAPI document of the API, as served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    super::api(super::context_routes()).into_openapi()
}

/// The document rendered once at start-up.
#[derive(Clone)]
struct RenderedDocument(Bytes);

/// `/openapi.json` and the reference at `/docs`.
pub fn routes(document: utoipa::openapi::OpenApi) -> Router<AppState> {
    let rendered = document
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the document cannot be rendered: {e}\"}}"));
    let swagger = SwaggerUi::new("/docs").config(
        Config::from("/openapi.json")
            .validator_url("none")
            .try_it_out_enabled(true)
            .display_request_duration(true),
    );
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .layer(Extension(RenderedDocument(Bytes::from(rendered))))
        .merge(Router::from(swagger))
}

/// This OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json(Extension(document): Extension<RenderedDocument>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0)
}
