//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! an interactive reference (Swagger UI) served from the binary itself, so
//! it works on a clinic network with no internet access.

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use std::collections::BTreeMap;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::{FieldError, PROBLEM_JSON, Problem};

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    info(
        title = "carebase",
        description = "An open healthcare platform backend. Every error is an RFC 9457 \
            problem (`application/problem+json`) whose `type` is a stable URN.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    paths(openapi_json),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "operations", description = "Health, readiness and this document"),
    ),
)]
struct BaseDocument;

/// Declares the `bearer` scheme: an access token from `/auth/sign-in`, or an
/// API key (`cbak_…`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from POST /auth/sign-in, or an API key (cbak_…)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The problem responses any authenticated endpoint may give, declared once.
pub struct Problems;

impl IntoResponses for Problems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "The request could not be read"),
            ("401", "No valid credentials"),
            ("403", "Not allowed"),
            ("404", "No such resource, or not within reach"),
            ("409", "Conflicts with existing data"),
            ("422", "Invalid fields; `errors` names each"),
            ("429", "Too many attempts"),
            ("500", "Server failure"),
            ("503", "Unavailable or timed out"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}

/// The document's fixed parts; the routers add their paths to it.
pub fn base_document() -> utoipa::openapi::OpenApi {
    BaseDocument::openapi()
}

/// The complete OpenAPI document of the API with the routes of `contexts`,
/// as served at `/openapi.json`.
pub fn document(contexts: OpenApiRouter<AppState>) -> utoipa::openapi::OpenApi {
    super::api(contexts).into_openapi()
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
