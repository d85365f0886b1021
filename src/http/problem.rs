//! Every error response leaves as `application/problem+json`.
//!
//! Handlers answer with [`ApiError`], which already renders a problem; the
//! kernel layer completes it with the request path and id. Responses the
//! framework makes on its own (no route, wrong method, timeout) and panics
//! arrive bare and are given the same shape, so a client never has to parse
//! a second error format.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Problem, ProblemType};

/// What the kernel needs to know to explain framework errors.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub body_limit_bytes: usize,
    /// The limit of attachment uploads: the largest file accepted plus
    /// room for the multipart framing.
    pub upload_limit_bytes: usize,
    pub request_timeout_secs: u64,
}

impl Limits {
    /// The limits of one request: uploads carry files up to
    /// `upload_max_bytes`; everything else stays under the general limit.
    pub fn for_request(self, method: &Method, path: &str) -> Self {
        let upload = (method == Method::POST && path.ends_with("/attachments"))
            || (method == Method::PUT && path.starts_with("/uploads/"));
        if upload {
            Self {
                body_limit_bytes: self.upload_limit_bytes,
                ..self
            }
        } else {
            self
        }
    }
}

/// Completes the problem of an error response, or makes one for a bare
/// error response, and stamps it with the request's path and id.
pub fn complete(
    response: Response,
    method: &Method,
    path: &str,
    request_id: &HeaderValue,
    limits: Limits,
) -> Response {
    let status = response.status();
    let limits = limits.for_request(method, path);
    let mut problem = match response.extensions().get::<Problem>() {
        Some(problem) => problem.clone(),
        None => bare_problem(status, method, limits),
    };
    // A file over its own limit names it (`errors`); any other 413 is the
    // body over the limit of this request, which only the kernel knows.
    if status == StatusCode::PAYLOAD_TOO_LARGE && problem.errors.is_empty() {
        problem.detail = too_large(limits);
    }
    problem.instance = Some(path.to_owned());
    problem.request_id = request_id.to_str().ok().map(str::to_owned);
    let (parts, _) = response.into_parts();
    let mut rendered = problem.into_response();
    // Keep what qualifies the error (Allow, Retry-After, WWW-Authenticate,
    // CORS…); the body, its framing and its encoding are replaced (a problem
    // is small and goes out uncompressed).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && name != header::TRANSFER_ENCODING
            && name != header::CONTENT_ENCODING
        {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if let Some(cause) = parts.extensions.get::<crate::error::InternalCause>() {
        rendered.extensions_mut().insert(cause.clone());
    }
    rendered
}

fn bare_problem(status: StatusCode, method: &Method, limits: Limits) -> Problem {
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

/// The answer to a request whose body is declared larger than the limit.
pub fn payload_too_large() -> Response {
    ApiError::PayloadTooLarge.into_response()
}

/// The answer to a handler that panicked. The panic payload is dropped
/// unread: it may quote data the handler was working on.
pub fn panicked() -> Response {
    ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
}

/// The fallback for paths no route matches.
pub async fn unknown_route() -> ApiError {
    ApiError::NotFound
}
