//! The rules a new patient and a change to one must follow, field by
//! field, so the patient record itself reads as data and sealing.

use super::patients::{Address, EmergencyContact, Insurance, NewPatient, PatientChanges};
use crate::error::ApiError;
use crate::validation::Checks;

/// The optional fields of a new patient or a change, as given.
struct OptionalFields<'a> {
    gender: Option<&'a str>,
    ssn: Option<&'a str>,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    address: Option<&'a Address>,
    emergency_contact: Option<&'a EmergencyContact>,
    insurance: Option<&'a Insurance>,
}

/// The checks of patient fields, beside the general ones.
trait PatientChecks {
    fn mrn(&mut self, value: &str);
    fn date_of_birth(&mut self, value: &str);
    fn ssn(&mut self, value: &str);
    fn gender(&mut self, value: &str);
    fn allergies(&mut self, values: &[String]);
    fn address(&mut self, address: &Address);
    fn emergency_contact(&mut self, contact: &EmergencyContact);
    fn insurance(&mut self, insurance: &Insurance);
    /// Checks the optional fields that are given.
    fn optional_fields(&mut self, fields: OptionalFields<'_>);
}

impl PatientChecks for Checks {
    fn mrn(&mut self, value: &str) {
        let value = value.trim();
        let valid = !value.is_empty()
            && value.len() <= 50
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            self.fail("mrn", "must be 1 to 50 letters, digits, '-' or '.'");
        }
    }

    fn date_of_birth(&mut self, value: &str) {
        // Today somewhere on Earth may be tomorrow in UTC.
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        let latest = today.tomorrow().unwrap_or(today);
        match value.parse::<jiff::civil::Date>() {
            Ok(date) if date > latest => self.fail("date_of_birth", "must not be in the future"),
            Ok(date) if date.year() < 1880 => self.fail("date_of_birth", "must be after 1880"),
            Ok(_) => {}
            Err(_) => self.fail("date_of_birth", "must be a date as YYYY-MM-DD"),
        }
    }

    fn ssn(&mut self, value: &str) {
        let digits: String = value.chars().filter(|c| *c != '-').collect();
        if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.fail("ssn", "must be 9 digits, as 123-45-6789 or 123456789");
        }
    }

    fn gender(&mut self, value: &str) {
        self.text("gender", value, 20);
    }

    fn allergies(&mut self, values: &[String]) {
        if values.len() > 100 {
            self.fail("allergies", "must list at most 100 allergies");
        }
        for (i, allergy) in values.iter().enumerate() {
            self.text(&format!("allergies[{i}]"), allergy, 200);
        }
    }

    fn address(&mut self, address: &Address) {
        self.text("address.line1", &address.line1, 200);
        self.text("address.city", &address.city, 100);
    }

    fn emergency_contact(&mut self, contact: &EmergencyContact) {
        self.text("emergency_contact.name", &contact.name, 200);
        if let Some(phone) = &contact.phone {
            self.phone("emergency_contact.phone", phone);
        }
    }

    fn insurance(&mut self, insurance: &Insurance) {
        self.text("insurance.provider", &insurance.provider, 200);
    }

    fn optional_fields(&mut self, fields: OptionalFields<'_>) {
        if let Some(v) = fields.gender {
            self.gender(v);
        }
        if let Some(v) = fields.ssn {
            self.ssn(v);
        }
        if let Some(v) = fields.phone {
            self.phone("phone", v);
        }
        if let Some(v) = fields.email {
            self.email("email", v);
        }
        if let Some(v) = fields.address {
            self.address(v);
        }
        if let Some(v) = fields.emergency_contact {
            self.emergency_contact(v);
        }
        if let Some(v) = fields.insurance {
            self.insurance(v);
        }
    }
}

impl NewPatient {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.mrn(&self.mrn);
        c.text("first_name", &self.first_name, 100);
        c.text("last_name", &self.last_name, 100);
        c.date_of_birth(&self.date_of_birth);
        c.optional_fields(OptionalFields {
            gender: self.gender.as_deref(),
            ssn: self.ssn.as_deref(),
            phone: self.phone.as_deref(),
            email: self.email.as_deref(),
            address: self.address.as_ref(),
            emergency_contact: self.emergency_contact.as_ref(),
            insurance: self.insurance.as_ref(),
        });
        c.allergies(&self.allergies);
        c.done()
    }
}

impl PatientChanges {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        if let Some(v) = &self.mrn {
            c.mrn(v);
        }
        if let Some(v) = &self.first_name {
            c.text("first_name", v, 100);
        }
        if let Some(v) = &self.last_name {
            c.text("last_name", v, 100);
        }
        if let Some(v) = &self.date_of_birth {
            c.date_of_birth(v);
        }
        c.optional_fields(OptionalFields {
            gender: self.gender.as_ref().and_then(|v| v.as_deref()),
            ssn: self.ssn.as_ref().and_then(|v| v.as_deref()),
            phone: self.phone.as_ref().and_then(|v| v.as_deref()),
            email: self.email.as_ref().and_then(|v| v.as_deref()),
            address: self.address.as_ref().and_then(Option::as_ref),
            emergency_contact: self.emergency_contact.as_ref().and_then(Option::as_ref),
            insurance: self.insurance.as_ref().and_then(Option::as_ref),
        });
        if let Some(v) = &self.allergies {
            c.allergies(v);
        }
        if matches!(self.portal_account_id, Some(Some(_))) {
            c.fail(
                "portal_account_id",
                "only null (unlink) is accepted: a portal is opened by invitation (POST …/portal-invitations), which its owner accepts",
            );
        }
        c.done()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A patient every check accepts; tests change one field.
    pub(in crate::care) fn valid() -> NewPatient {
        serde_json::from_value(serde_json::json!({
            "mrn": "a-100", "first_name": "Zebediah", "last_name": "Quuxworth",
            "date_of_birth": "1980-02-29", "ssn": "123-45-6789", "phone": "+1 555 010 9999",
            "email": "zq@example.org", "allergies": ["penicillin"],
            "address": {"line1": "1 Main St", "city": "Springfield"},
        }))
        .unwrap()
    }

    #[test]
    fn every_invalid_field_is_named() {
        let mut bad = valid();
        bad.mrn = "no spaces allowed".into();
        bad.date_of_birth = "2999-01-01".into();
        bad.ssn = Some("12345".into());
        bad.email = Some("nope".into());
        bad.allergies = vec![String::new()];
        let ApiError::Validation(errors) = bad.validate().unwrap_err() else {
            panic!("expected validation errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["mrn", "date_of_birth", "ssn", "email", "allergies[0]"]
        );
    }
}
