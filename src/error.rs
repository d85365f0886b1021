//! One error type for every handler, answered as RFC 9457 problem details.
//!
//! A handler returns `Result<_, ApiError>`; the variant decides the status
//! and the stable problem `type`. What the client sees is written for the
//! client: internal errors are logged with their cause and answered with a
//! generic 500, so neither SQL, stack traces nor patient data leave the
//! server. The HTTP layer (`crate::http::problem`) adds the request id and
//! the request path to every problem, and turns the bare error responses of
//! the framework (unknown route, wrong method, body too large, timeout) into
//! the same shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{ConstraintKind, ConstraintViolation};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The stable kinds of problem carebase answers with. Clients branch on the
/// `type` URI, never on `title` or `detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    MalformedRequest,
    Validation,
    Unauthorized,
    MfaRequired,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    InvalidTransition,
    /// A refusal a context defines for itself (see [`Refusal`]).
    Refused(&'static Refusal),
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    Timeout,
    Unavailable,
    Internal,
}

impl ProblemType {
    pub const ALL: [ProblemType; 15] = [
        ProblemType::MalformedRequest,
        ProblemType::Validation,
        ProblemType::Unauthorized,
        ProblemType::MfaRequired,
        ProblemType::Forbidden,
        ProblemType::NotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::Conflict,
        ProblemType::InvalidTransition,
        ProblemType::PayloadTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::TooManyRequests,
        ProblemType::Timeout,
        ProblemType::Unavailable,
        ProblemType::Internal,
    ];

    fn slug(self) -> &'static str {
        match self {
            ProblemType::MalformedRequest => "malformed-request",
            ProblemType::Validation => "validation",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::MfaRequired => "mfa-required",
            ProblemType::Forbidden => "forbidden",
            ProblemType::NotFound => "not-found",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::Conflict => "conflict",
            ProblemType::InvalidTransition => "invalid-transition",
            ProblemType::Refused(refusal) => refusal.slug,
            ProblemType::PayloadTooLarge => "payload-too-large",
            ProblemType::UnsupportedMediaType => "unsupported-media-type",
            ProblemType::TooManyRequests => "too-many-requests",
            ProblemType::Timeout => "timeout",
            ProblemType::Unavailable => "unavailable",
            ProblemType::Internal => "internal",
        }
    }

    /// The `type` member: a URN, stable across releases.
    pub fn uri(self) -> String {
        format!("urn:carebase:problem:{}", self.slug())
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::MalformedRequest => StatusCode::BAD_REQUEST,
            ProblemType::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::Unauthorized | ProblemType::MfaRequired => StatusCode::UNAUTHORIZED,
            ProblemType::Forbidden => StatusCode::FORBIDDEN,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::Conflict | ProblemType::InvalidTransition => StatusCode::CONFLICT,
            ProblemType::Refused(refusal) => refusal.status,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemType::MalformedRequest => "The request could not be read",
            ProblemType::Validation => "The request has invalid fields",
            ProblemType::Unauthorized => "Authentication is required",
            ProblemType::MfaRequired => "A second factor is required",
            ProblemType::Forbidden => "This action is not allowed",
            ProblemType::NotFound => "Not found",
            ProblemType::MethodNotAllowed => "Method not allowed",
            ProblemType::Conflict => "The request conflicts with the current state",
            ProblemType::InvalidTransition => "This status change is not allowed",
            ProblemType::Refused(refusal) => refusal.title,
            ProblemType::PayloadTooLarge => "The request body is too large",
            ProblemType::UnsupportedMediaType => "Unsupported media type",
            ProblemType::TooManyRequests => "Too many requests",
            ProblemType::Timeout => "The request took too long",
            ProblemType::Unavailable => "The service is not available",
            ProblemType::Internal => "Internal server error",
        }
    }

    /// The problem type for a bare error status the framework produced.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => ProblemType::Unauthorized,
            StatusCode::FORBIDDEN => ProblemType::Forbidden,
            StatusCode::NOT_FOUND => ProblemType::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ProblemType::MethodNotAllowed,
            StatusCode::CONFLICT => ProblemType::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => ProblemType::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemType::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ProblemType::Validation,
            StatusCode::TOO_MANY_REQUESTS => ProblemType::TooManyRequests,
            StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ProblemType::Timeout,
            StatusCode::SERVICE_UNAVAILABLE => ProblemType::Unavailable,
            s if s.is_server_error() => ProblemType::Internal,
            _ => ProblemType::MalformedRequest,
        }
    }
}

/// A kind of refusal a context defines for itself, so the kernel names no
/// context's problems: its `type` is `urn:carebase:problem:<slug>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub slug: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
}

impl Refusal {
    /// This refusal, for one reason, explained by `detail`.
    pub fn because(&'static self, reason: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Refused {
            refusal: self,
            reason,
            detail: detail.into(),
        }
    }
}

/// An RFC 9457 problem details object.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URN naming the kind of problem, e.g. `urn:carebase:problem:validation`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, written for the client.
    pub detail: String,
    /// The request path this problem occurred on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id, also sent as `x-request-id`; quote it when reporting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation problems, each offending field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a refused status change, the statuses that are allowed from the
    /// current one (empty when it is final).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// For a refusal a context defines, why, as a stable code: for
    /// `slot-unavailable`, `in_the_past`, `too_soon`, `blocked`,
    /// `outside_working_hours` or `taken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Problem {
    pub fn new(problem_type: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            problem_type: problem_type.uri(),
            title: problem_type.title().to_owned(),
            status: problem_type.status().as_u16(),
            detail: detail.into(),
            instance: None,
            request_id: None,
            errors: Vec::new(),
            allowed: None,
            reason: None,
        }
    }

    /// The response carrying this problem. The problem also rides along as a
    /// response extension so the HTTP layer can add the request id.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        response
    }
}

/// One invalid field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's path in the request, e.g. `patient.date_of_birth` or `items[2].quantity`.
    pub field: String,
    /// Why the value was refused.
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or a parameter could not be parsed at all (400).
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    /// Parsed, but one or more fields are invalid (422).
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The body is over the server's limit; the HTTP layer, which knows
    /// the limit, states it in the problem.
    #[error("body too large")]
    PayloadTooLarge,
    /// A file within the body is over its own size limit (413): the field
    /// that holds it, and its size against the limit.
    #[error("file too large")]
    FileTooLarge(FieldError),
    /// No credentials, or credentials that do not count (401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A correct password but a second factor is needed (401).
    #[error("second factor required")]
    MfaRequired,
    /// The actor may not do this to a resource it can see (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The resource does not exist or is outside the caller's reach; the two
    /// are deliberately indistinguishable.
    #[error("not found")]
    NotFound,
    /// Too many attempts; try again after the given number of seconds (429).
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("conflict: {0}")]
    Conflict(String),
    /// A status change its state machine does not allow (409).
    #[error(transparent)]
    Transition(#[from] crate::transition::TransitionError),
    /// A refusal a context defines (a slot that cannot be booked, …): its
    /// own problem type, a stable reason code and a sentence for the client.
    #[error("{}: {reason}", refusal.slug)]
    Refused {
        refusal: &'static Refusal,
        reason: &'static str,
        detail: String,
    },
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an outage. The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, reason)])
    }

    pub fn problem(&self) -> Problem {
        match self {
            ApiError::MalformedRequest(detail) => {
                Problem::new(ProblemType::MalformedRequest, detail)
            }
            ApiError::Validation(errors) => {
                let detail = match errors.as_slice() {
                    [one] => format!("`{}` is invalid: {}", one.field, one.reason),
                    many => format!("{} fields are invalid", many.len()),
                };
                Problem {
                    errors: errors.clone(),
                    ..Problem::new(ProblemType::Validation, detail)
                }
            }
            ApiError::UnsupportedMediaType(detail) => {
                Problem::new(ProblemType::UnsupportedMediaType, detail)
            }
            ApiError::PayloadTooLarge => Problem::new(
                ProblemType::PayloadTooLarge,
                "the request body is too large",
            ),
            ApiError::FileTooLarge(error) => Problem {
                errors: vec![error.clone()],
                ..Problem::new(
                    ProblemType::PayloadTooLarge,
                    format!("`{}` {}", error.field, error.reason),
                )
            },
            ApiError::Unauthorized(detail) => Problem::new(ProblemType::Unauthorized, detail),
            ApiError::MfaRequired => Problem::new(
                ProblemType::MfaRequired,
                "this account uses a second factor: send the current code as `totp_code`",
            ),
            ApiError::Forbidden(detail) => Problem::new(ProblemType::Forbidden, detail),
            ApiError::NotFound => Problem::new(ProblemType::NotFound, "no such resource"),
            ApiError::TooManyRequests { retry_after_secs } => Problem::new(
                ProblemType::TooManyRequests,
                format!("too many attempts; try again in {retry_after_secs} seconds"),
            ),
            ApiError::Conflict(detail) => Problem::new(ProblemType::Conflict, detail),
            ApiError::Transition(refused) => Problem {
                allowed: Some(refused.allowed.clone()),
                ..Problem::new(ProblemType::InvalidTransition, refused.detail())
            },
            ApiError::Refused {
                refusal,
                reason,
                detail,
            } => Problem {
                reason: Some((*reason).to_owned()),
                ..Problem::new(ProblemType::Refused(refusal), detail)
            },
            ApiError::Unavailable(detail) => Problem::new(ProblemType::Unavailable, detail),
            ApiError::Internal(_) => Problem::new(
                ProblemType::Internal,
                "the server failed to handle this request; it has been logged",
            ),
        }
    }
}

/// Turns a named constraint violation into the client error it means.
pub trait OnConstraint<T> {
    /// When the database refused the write because of `constraint`, answer
    /// `error` instead of the generic conflict.
    fn on_constraint(
        self,
        constraint: &str,
        error: impl FnOnce() -> ApiError,
    ) -> Result<T, ApiError>;
}

impl<T> OnConstraint<T> for Result<T, DbErr> {
    fn on_constraint(
        self,
        constraint: &str,
        error: impl FnOnce() -> ApiError,
    ) -> Result<T, ApiError> {
        self.map_err(|e| match ConstraintViolation::from_db_err(&e) {
            Some(v) if v.is(constraint) => error(),
            _ => ApiError::from(e),
        })
    }
}

impl From<DbErr> for ApiError {
    /// A constraint the handler did not anticipate still answers as a client
    /// error; anything else is internal.
    fn from(err: DbErr) -> Self {
        match ConstraintViolation::from_db_err(&err) {
            Some(v) if v.kind == ConstraintKind::Unique => {
                ApiError::Conflict("a record with the same unique values already exists".to_owned())
            }
            Some(_) => ApiError::Validation(vec![FieldError::new(
                "",
                "the request breaks a data rule (a reference, a required value or an allowed value)",
            )]),
            None => ApiError::Internal(err.into()),
        }
    }
}

/// The cause of a 500, carried on the response to the kernel layer, which
/// logs it with the request id. It never reaches the client.
#[derive(Clone, Debug)]
pub struct InternalCause(pub std::sync::Arc<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.problem().into_response();
        match &self {
            ApiError::Unauthorized(_) | ApiError::MfaRequired => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"carebase\""),
                );
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        if let ApiError::Internal(cause) = self {
            response
                .extensions_mut()
                .insert(InternalCause(std::sync::Arc::new(format!("{cause:#}"))));
        }
        response
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    /// Sealed data that does not open is corruption or tampering: never a
    /// client's fault, never shown.
    fn from(err: crate::crypto::CryptoError) -> Self {
        ApiError::Internal(anyhow::anyhow!("sealed data did not open: {err}"))
    }
}

impl From<crate::crypto::data_keys::KeyringError> for ApiError {
    fn from(err: crate::crypto::data_keys::KeyringError) -> Self {
        use crate::crypto::data_keys::KeyringError;
        match err {
            KeyringError::MasterKeyRetired => ApiError::Unavailable(
                "this server holds a retired master key; retry, another server will answer"
                    .to_owned(),
            ),
            other => ApiError::Internal(other.into()),
        }
    }
}
