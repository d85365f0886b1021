//! Phone numbers, parsed once at the boundary.

use std::fmt;

/// A phone number as the caller wrote it (trimmed): 7 to 15 digits, with
/// spaces, `+`, `-`, `.` and parentheses allowed around them. Its `Debug`
/// hides the number: it may identify a patient.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub const INVALID: &'static str = "must be a phone number of 7 to 15 digits";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        let digits = trimmed.chars().filter(char::is_ascii_digit).count();
        let allowed = trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if allowed && (7..=15).contains(&digits) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(Self::INVALID)
        }
    }

    pub const NOT_E164: &'static str = "must be in E.164 form, such as +15550109999";

    /// A number in E.164 form (`+` and 8 to 15 digits, nothing else): what
    /// an account's phone must be, since codes are sent to it by SMS.
    pub fn parse_e164(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        let Some(digits) = trimmed.strip_prefix('+') else {
            return Err(Self::NOT_E164);
        };
        if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(Self::NOT_E164)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as compared for equality (blind indexes): its digits,
    /// with a leading `+` kept, so `+1 (555) 010-4242` equals `+15550104242`.
    pub fn normalized(&self) -> String {
        normalize(&self.0)
    }
}

/// [`Phone::normalized`] for a number already stored, which was checked
/// when it was written.
pub fn normalize(phone: &str) -> String {
    let plus = phone.trim_start().starts_with('+');
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if plus { format!("+{digits}") } else { digits }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked_and_compare_by_digits() {
        let phone = Phone::parse(" +1 (555) 010-4242 ").unwrap();
        assert_eq!(phone.as_str(), "+1 (555) 010-4242");
        assert_eq!(phone.normalized(), "+15550104242");
        assert_eq!(normalize("555.010.4242"), "5550104242");
        for bad in [
            "",
            "12",
            "555-CALL-NOW",
            "1234567890123456",
            "+1 555 010 42x2",
        ] {
            assert_eq!(Phone::parse(bad), Err(Phone::INVALID), "{bad}");
        }
        assert_eq!(format!("{phone:?}"), "Phone(..)");
        assert_eq!(
            Phone::parse_e164(" +15550109999 ").unwrap().as_str(),
            "+15550109999"
        );
        for bad in [
            "15550109999",
            "+1 555 010 9999",
            "+1234567",
            "+1234567890123456",
            "+",
        ] {
            assert_eq!(Phone::parse_e164(bad), Err(Phone::NOT_E164), "{bad}");
        }
    }
}
