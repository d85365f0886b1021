//! Every error response leaves as `application/problem+json`.
//!
//! Handlers answer with [`ApiError`], which already renders a problem; this
//! layer adds the request path and id to it. Responses the framework makes
//! on its own (no route, wrong method, body over the limit, timeout, panic)
//! arrive here bare and are given the same shape, so a client never has to
//! parse a second error format.

use std::any::Any;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::REQUEST_ID;
use crate::error::{ApiError, Problem, ProblemType};

/// What the problem layer needs to know to explain framework errors.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
}

/// Middleware: completes handler problems and converts bare error responses.
pub async fn render_problems(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    // Both clones share their buffers: cheap enough for every request.
    let request_id = req.headers().get(REQUEST_ID).cloned();
    let uri = req.uri().clone();
    let method = req.method().clone();
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let mut problem = match response.extensions().get::<Problem>() {
        Some(problem) => problem.clone(),
        None => bare_problem(status, &method, limits),
    };
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        problem.detail = too_large(limits);
    }
    problem.instance = Some(uri.path().to_owned());
    problem.request_id = request_id.and_then(|v| v.to_str().ok().map(str::to_owned));
    let (parts, _) = response.into_parts();
    let mut rendered = problem.into_response();
    // Keep the headers that qualify the error (Allow, Retry-After,
    // WWW-Authenticate, CORS…); the body and its framing are replaced.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && name != header::TRANSFER_ENCODING
        {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

fn bare_problem(status: StatusCode, method: &axum::http::Method, limits: Limits) -> Problem {
    let problem_type = match status {
        // Only the timeout layer answers 503 without a problem of its own.
        StatusCode::SERVICE_UNAVAILABLE => ProblemType::Timeout,
        other => ProblemType::for_status(other),
    };
    let detail = match problem_type {
        ProblemType::PayloadTooLarge => too_large(limits),
        ProblemType::Timeout => format!(
            "the request did not finish within {} seconds",
            limits.request_timeout_secs
        ),
        ProblemType::MethodNotAllowed => {
            format!("this resource does not accept {method}; see the Allow header")
        }
        ProblemType::Internal => {
            "the server failed to handle this request; it has been logged".to_owned()
        }
        _ => status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_owned(),
    };
    Problem::new(problem_type, detail)
}

fn too_large(limits: Limits) -> String {
    format!(
        "the request body exceeds the limit of {} bytes",
        limits.body_limit_bytes
    )
}

/// The fallback for paths no route matches.
pub async fn unknown_route() -> ApiError {
    ApiError::NotFound
}

/// Answers a panicking handler with a 500 problem. The panic payload is not
/// logged: it may quote data the handler was working on.
pub fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a handler panicked; the request was answered with 500");
    let (parts, body) = ApiError::Internal(anyhow::anyhow!("handler panicked"))
        .problem()
        .into_response()
        .into_parts();
    Response::from_parts(parts, body)
}
