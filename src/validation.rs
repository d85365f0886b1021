//! Checking a request's fields: every invalid field is collected and named,
//! so a client fixes its input in one round trip, not one field at a time.

use crate::error::{ApiError, FieldError};
use crate::types::{Email, Phone};

/// The invalid fields found so far.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn fail(&mut self, field: &str, reason: &str) {
        self.0.push(FieldError::new(field, reason));
    }

    /// Non-blank text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if value.chars().count() > max {
            self.fail(field, &format!("must be at most {max} characters"));
        }
    }

    /// As [`Self::text`] when given.
    pub fn optional_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(value) = value {
            self.text(field, value, max);
        }
    }

    /// A phone number (see [`Phone`]).
    pub fn phone(&mut self, field: &str, value: &str) {
        if let Err(reason) = Phone::parse(value) {
            self.fail(field, reason);
        }
    }

    pub fn email(&mut self, field: &str, value: &str) {
        if let Err(reason) = Email::parse(value) {
            self.fail(field, reason);
        }
    }

    /// A whole number within `range`.
    pub fn within(&mut self, field: &str, value: i64, range: std::ops::RangeInclusive<i64>) {
        if !range.contains(&value) {
            self.fail(
                field,
                &format!("must be between {} and {}", range.start(), range.end()),
            );
        }
    }

    pub fn is_clean(&self) -> bool {
        self.0.is_empty()
    }

    /// The collected errors, or `Ok` when there are none.
    pub fn done(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_is_kept_in_order() {
        let mut c = Checks::default();
        c.text("name", " ", 10);
        c.text("title", "fine", 10);
        c.phone("phone", "12");
        c.email("email", "nope");
        c.within("calls", 1001, 0..=1000);
        let fields: Vec<String> = c.into_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "phone", "email", "calls"]);
    }
}
