//! `ApiJson<T>`: a JSON body, or a problem that says exactly what is wrong.
//!
//! Request types derive `Deserialize` with `deny_unknown_fields`, so a typo
//! in a field name is an error rather than a silently ignored value. Errors
//! are sorted into: not JSON, or not in UTF-8 (415), not well-formed (400),
//! too large (413), and well-formed but wrong for the type (422, naming the
//! field). Query strings name their parameters the same way (see
//! `extract::ApiQuery`).

use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use http_body_util::LengthLimitError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON request body of type `T`, and `Json` for responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(&req)?;
        // Read without axum's own default limit: the kernel layer has already
        // capped the body at the configured limit.
        let bytes = req
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                if is_over_limit(&e) {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedRequest("the request body could not be read".to_owned())
                }
            })?
            .to_bytes();
        parse(&bytes).map(ApiJson)
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Whether reading a body failed because it passed the kernel's limit;
/// every extractor that reads a body tells a 413 apart this way.
pub(crate) fn is_over_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Takes `application/json` (or a `+json` type) in UTF-8, the only
/// encoding JSON has (RFC 8259): a body declared in another charset is
/// refused rather than read as if it were UTF-8.
fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok());
    let Some(mime) = mime.filter(|m| {
        m.type_() == mime::APPLICATION
            && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
    }) else {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ));
    };
    match mime
        .get_param(mime::CHARSET)
        .map(|c| c.as_str().trim_matches('"'))
    {
        Some(charset) if !charset.eq_ignore_ascii_case("utf-8") => {
            Err(ApiError::UnsupportedMediaType(
                "JSON is read as UTF-8 only: send the body in UTF-8, with `charset=utf-8` or none"
                    .to_owned(),
            ))
        }
        _ => Ok(()),
    }
}

/// Parses `bytes` as a `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a truncated body is reported as such and not as a
    // missing field; skimming without building values costs little.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| {
        ApiError::MalformedRequest(format!(
            "the body is not well-formed JSON: {}",
            without_position(&e)
        ))
    })?;
    super::nul::check_body(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => field_error(&path, &without_position(&inner)),
            _ => ApiError::MalformedRequest(format!(
                "the body is not well-formed JSON: {}",
                without_position(&inner)
            )),
        }
    })?;
    deserializer.end().map_err(|e| {
        ApiError::MalformedRequest(format!(
            "the body is not well-formed JSON: {}",
            without_position(&e)
        ))
    })?;
    Ok(value)
}

/// Builds the 422 for a value of the wrong shape from serde's `message`
/// about the value at `path` (a body's JSON path, or a query parameter).
/// Serde reports a missing field at its parent's path, so the field name is
/// taken from the message and appended.
pub(crate) fn field_error(path: &str, message: &str) -> ApiError {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let parent = if path == "." { "" } else { path };
    let join = |name: String| {
        if parent.is_empty() {
            name
        } else {
            format!("{parent}.{name}")
        }
    };
    let error = if let Some(name) = named("unknown field `") {
        // serde_path_to_error has already stepped into the unknown key.
        let field = if parent == name || parent.ends_with(&format!(".{name}")) {
            parent.to_owned()
        } else {
            join(name)
        };
        FieldError::new(field, "is not a known field")
    } else if let Some(name) = named("missing field `") {
        FieldError::new(join(name), "is required")
    } else {
        FieldError::new(
            parent,
            allowed_values(message).unwrap_or_else(|| message.to_owned()),
        )
    };
    ApiError::Validation(vec![error])
}

/// serde's "unknown variant `x`, expected one of `a`, `b`" as "must be one
/// of a, b": the allowed values, without echoing the value sent.
fn allowed_values(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown variant `")?;
    let (_, expected) = rest.split_once("`, expected ")?;
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let values: Vec<&str> = expected
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|value| value.trim_matches('`'))
        .collect();
    Some(format!("must be one of {}", values.join(", ")))
}

/// serde_json appends " at line L column C"; the field path says more.
fn without_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

/// Deserializes a field that is present (possibly `null`) as `Some(..)`,
/// so that an absent field (serde's default, `None`) can be told apart
/// from one set to null. Use it on the `Option<Option<T>>` fields of a
/// PATCH body with `#[serde(default, deserialize_with = "…::present")]`.
pub fn present<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Visit {
        duration_minutes: u32,
        patient: Patient,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Patient {
        mrn: String,
    }

    fn fields(err: ApiError) -> Vec<FieldError> {
        match err {
            ApiError::Validation(errors) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let err =
            parse::<Visit>(br#"{"duration_minutes": 30, "patient": {"mrn": 5}}"#).unwrap_err();
        let errors = fields(err);
        assert_eq!(errors[0].field, "patient.mrn");
        assert!(errors[0].reason.contains("expected a string"), "{errors:?}");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let errors = fields(
            parse::<Visit>(br#"{"duration_minutes": 30, "patient": {"mrn": "1", "ssn": "x"}}"#)
                .unwrap_err(),
        );
        assert_eq!(
            errors[0],
            FieldError::new("patient.ssn", "is not a known field")
        );
        let errors = fields(parse::<Visit>(br#"{"patient": {"mrn": "1"}}"#).unwrap_err());
        assert_eq!(
            errors[0],
            FieldError::new("duration_minutes", "is required")
        );
    }

    #[test]
    fn an_unknown_variant_lists_the_allowed_values_without_the_value() {
        for (message, reason) in [
            (
                "unknown variant `maybe`, expected one of `new`, `contacted`, `no_show`",
                "must be one of new, contacted, no_show",
            ),
            (
                "unknown variant `x`, expected `a` or `b`",
                "must be one of a, b",
            ),
            (
                "unknown variant `everything`, expected `active`",
                "must be one of active",
            ),
        ] {
            let errors = fields(field_error("status", message));
            assert_eq!(errors, [FieldError::new("status", reason)]);
        }
    }

    #[test]
    fn malformed_json_and_trailing_garbage_are_400() {
        assert!(matches!(
            parse::<Visit>(br#"{"duration_minutes": "#),
            Err(ApiError::MalformedRequest(_))
        ));
        assert!(matches!(
            parse::<Visit>(br#"{"duration_minutes": 1, "patient": {"mrn": "1"}} x"#),
            Err(ApiError::MalformedRequest(_))
        ));
    }
}
