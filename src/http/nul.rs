//! PostgreSQL cannot store NUL (U+0000) in text, and SQLite would store it
//! and cut the value short for anything that reads it as a C string. So a
//! NUL anywhere in a JSON body or a query parameter is refused with a 422
//! naming the field, on both backends alike, before any handler sees it.

use serde_json::Value;

use crate::error::ApiError;

const REASON: &str = "must not contain the NUL character (U+0000)";

/// Refuses a JSON body holding a NUL in any string or key. JSON can only
/// carry one escaped, so the body is searched for the escape first and
/// parsed only when it is there.
pub fn check_body(bytes: &[u8]) -> Result<(), ApiError> {
    const ESCAPE: &[u8] = b"\\u0000";
    if !bytes.windows(ESCAPE.len()).any(|w| w == ESCAPE) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(());
    };
    match path_to_nul(&value, "") {
        Some(path) => Err(ApiError::invalid(path, REASON)),
        None => Ok(()),
    }
}

/// The path of the first string (or key) holding a NUL, as the field
/// errors name fields (`medications[0].name`).
fn path_to_nul(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(at.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| path_to_nul(item, &format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if key.contains('\0') {
                Some(here)
            } else {
                path_to_nul(item, &here)
            }
        }),
        _ => None,
    }
}

/// Refuses a query string with a NUL (`%00`) in a parameter's name or
/// value, naming the parameter.
pub fn check_query(query: Option<&str>) -> Result<(), ApiError> {
    let Some(query) = query else {
        return Ok(());
    };
    match query.split('&').find(|pair| pair.contains("%00")) {
        Some(pair) => {
            let name = pair.split('=').next().unwrap_or_default();
            Err(ApiError::invalid(name.replace("%00", ""), REASON))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldError;

    fn field(result: Result<(), ApiError>) -> String {
        match result {
            Err(ApiError::Validation(errors)) => {
                let [FieldError { field, .. }] = errors.as_slice() else {
                    panic!("one field expected: {errors:?}");
                };
                field.clone()
            }
            other => panic!("a 422 expected, got {other:?}"),
        }
    }

    #[test]
    fn a_nul_in_a_body_names_its_field() {
        let body = br#"{"name": "ok", "medications": [{"name": "a\u0000b"}]}"#;
        assert_eq!(field(check_body(body)), "medications[0].name");
        assert_eq!(field(check_body(br#"{"notes": "\u0000"}"#)), "notes");
        assert!(check_body(br#"{"notes": "a\\u0000 is text"}"#).is_ok());
        assert!(check_body(br#"{"notes": "fine"}"#).is_ok());
    }

    #[test]
    fn a_nul_in_a_query_names_its_parameter() {
        assert_eq!(field(check_query(Some("limit=5&source=a%00b"))), "source");
        assert_eq!(field(check_query(Some("q=%00"))), "q");
        assert!(check_query(Some("source=a%2000")).is_ok());
        assert!(check_query(None).is_ok());
    }
}
