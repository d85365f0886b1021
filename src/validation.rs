//! Checking a request's fields: every invalid field is collected and named,
//! so a client fixes its input in one round trip, not one field at a time.

use crate::error::{ApiError, FieldError};
use crate::identity::email::Email;

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

    /// A phone number: 7 to 15 digits, with spaces, `+`, `-`, `.` and
    /// parentheses allowed around them.
    pub fn phone(&mut self, field: &str, value: &str) {
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let allowed = value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !allowed || !(7..=15).contains(&digits) {
            self.fail(field, "must be a phone number of 7 to 15 digits");
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

/// A phone number as compared for equality (blind indexes): its digits,
/// with a leading `+` kept, so `+1 (555) 010-4242` equals `+15550104242`.
pub fn normalize_phone(phone: &str) -> String {
    let plus = phone.trim_start().starts_with('+');
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if plus { format!("+{digits}") } else { digits }
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
