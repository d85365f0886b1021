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
        .map(|(status, description)| (status.to_owned(), problem_response(description)))
        .collect()
    }
}

/// What the kernel and the body extractors answer to a body before any
/// handler looks at it, so every operation that takes a body may answer it.
const BODY_PROBLEMS: [(&str, &str); 2] = [
    (
        "413",
        "The body is over the limit, or a file in it over the upload limit (`errors` names it)",
    ),
    (
        "415",
        "The body is not of the media type the operation takes (JSON: in UTF-8)",
    ),
];

fn problem_response(description: &str) -> RefOr<Response> {
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    RefOr::T(response)
}

/// Documents [`BODY_PROBLEMS`] on every operation of `document` that takes
/// a body, beside any it documents itself. Both the served document and
/// `carebase openapi` pass through it.
pub fn with_body_problems(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_none() {
                continue;
            }
            for (status, description) in BODY_PROBLEMS {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem_response(description));
            }
        }
    }
    document
}

/// The document's fixed parts; the routers add their paths to it.
pub fn base_document() -> utoipa::openapi::OpenApi {
    BaseDocument::openapi()
}

/// The complete OpenAPI document of the API with the routes of `contexts`,
/// as served at `/openapi.json`.
pub fn document(contexts: OpenApiRouter<AppState>) -> utoipa::openapi::OpenApi {
    with_body_problems(super::api(contexts).into_openapi())
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
