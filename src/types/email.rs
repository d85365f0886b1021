//! Email addresses, parsed once at the boundary.

use std::fmt;

/// An email address in normalized form (trimmed, lower-case), which is what
/// uniqueness and lookups compare. Its `Debug` hides the address: it may
/// identify a patient.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain` with a dot in the domain; the real check is the
    /// confirmation mail.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let normalized = raw.trim().to_lowercase();
        if normalized.len() > 254 {
            return Err("is longer than 254 characters");
        }
        let Some((local, domain)) = normalized.split_once('@') else {
            return Err("is not an email address");
        };
        let valid = !local.is_empty()
            && !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !normalized.contains(char::is_whitespace)
            && !domain.contains('@');
        if valid {
            Ok(Self(normalized))
        } else {
            Err("is not an email address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Jane.Roe@Clinic.Example ").unwrap().as_str(),
            "jane.roe@clinic.example"
        );
        for bad in [
            "",
            "jane",
            "jane@",
            "@clinic.example",
            "jane@clinic",
            "ja ne@clinic.example",
            "a@b@c.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{:?}", Email::parse("a@b.c").unwrap()), "Email(..)");
    }
}
