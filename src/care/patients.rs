//! The patient record (seed 002): demographics sealed under the facility's
//! data key, the MRN found by a blind index, unique within the facility.

use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{BlindIndex, CryptoError, DataKey, RowSealer, Sealed};
use crate::time::Timestamp;
use crate::transition::string_enum;

string_enum! {
    /// How the patient wants to be reached (reminders): by email or by
    /// text message to their phone.
    ContactPreference {
        Email => "email",
        Sms => "sms",
    }
}

pub const TABLE: &str = "patients";

/// The fields that identify a patient; the audit log never records their values.
pub const PHI_FIELDS: &[&str] = &[
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "ssn",
    "phone",
    "email",
    "address",
    "emergency_contact",
    "insurance",
    "allergies",
];

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub mrn_index: BlindIndex,
    pub mrn: Sealed,
    pub first_name: Sealed,
    pub last_name: Sealed,
    pub date_of_birth: Sealed,
    pub ssn: Option<Sealed>,
    pub phone: Option<Sealed>,
    pub email: Option<Sealed>,
    /// Blind indexes, so a patient can be found by exact email or phone.
    pub email_index: Option<BlindIndex>,
    pub phone_index: Option<BlindIndex>,
    pub address: Option<Sealed>,
    pub emergency_contact: Option<Sealed>,
    pub insurance: Option<Sealed>,
    /// A sealed JSON array of strings.
    pub allergies: Sealed,
    pub gender: Option<String>,
    pub is_active: bool,
    pub portal_account_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// `email` or `sms`; none when the patient has not said.
    pub preferred_contact: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A postal address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// Whom to call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyContact {
    pub name: String,
    pub phone: Option<String>,
    pub relationship: Option<String>,
}

/// Who pays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Insurance {
    pub provider: String,
    pub member_id: Option<String>,
    pub group_number: Option<String>,
    pub plan: Option<String>,
}

/// A patient as the API shows it, opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Patient {
    pub id: Uuid,
    pub facility_id: Uuid,
    /// Medical record number, unique within the facility.
    pub mrn: String,
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub gender: Option<String>,
    pub ssn: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<Address>,
    pub emergency_contact: Option<EmergencyContact>,
    pub insurance: Option<Insurance>,
    pub allergies: Vec<String>,
    pub is_active: bool,
    /// The account the patient signs in to the portal with.
    pub portal_account_id: Option<Uuid>,
    /// How the patient wants reminders: by `email` or `sms` (to `phone`).
    pub preferred_contact: Option<ContactPreference>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new patient.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    pub mrn: String,
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`, not in the future.
    pub date_of_birth: String,
    pub gender: Option<String>,
    pub ssn: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<Address>,
    pub emergency_contact: Option<EmergencyContact>,
    pub insurance: Option<Insurance>,
    #[serde(default)]
    pub allergies: Vec<String>,
}

/// Changes to a patient: an absent field stays, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientChanges {
    pub mrn: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub ssn: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<EmergencyContact>)]
    pub emergency_contact: Option<Option<EmergencyContact>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Insurance>)]
    pub insurance: Option<Option<Insurance>>,
    pub allergies: Option<Vec<String>>,
    /// Only `null`: unlinks the portal account. A portal account is linked
    /// by invitation (`POST …/patients/{patient_id}/portal-invitations`),
    /// once its owner accepts.
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub portal_account_id: Option<Option<Uuid>>,
    /// How the patient wants reminders (`email` or `sms`); `null` forgets it.
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<ContactPreference>)]
    pub preferred_contact: Option<Option<ContactPreference>>,
}

impl PatientChanges {
    /// The names of the fields this change touches, for the audit log.
    pub fn touched(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut mark = |present: bool, name| {
            if present {
                fields.push(name);
            }
        };
        mark(self.mrn.is_some(), "mrn");
        mark(self.first_name.is_some(), "first_name");
        mark(self.last_name.is_some(), "last_name");
        mark(self.date_of_birth.is_some(), "date_of_birth");
        mark(self.gender.is_some(), "gender");
        mark(self.ssn.is_some(), "ssn");
        mark(self.phone.is_some(), "phone");
        mark(self.email.is_some(), "email");
        mark(self.address.is_some(), "address");
        mark(self.emergency_contact.is_some(), "emergency_contact");
        mark(self.insurance.is_some(), "insurance");
        mark(self.allergies.is_some(), "allergies");
        mark(self.portal_account_id.is_some(), "portal_account_id");
        mark(self.preferred_contact.is_some(), "preferred_contact");
        fields
    }
}

/// The MRN as compared: trimmed and upper-case, so `a-1` finds `A-1`.
pub fn normalize_mrn(mrn: &str) -> String {
    mrn.trim().to_ascii_uppercase()
}

pub fn mrn_index(key: &DataKey, mrn: &str) -> BlindIndex {
    key.blind_index("patient-mrn", &normalize_mrn(mrn))
}

/// The email as compared: trimmed and lower-case.
pub fn email_index(key: &DataKey, email: &str) -> BlindIndex {
    key.blind_index("patient-email", &email.trim().to_lowercase())
}

/// The phone as compared: its digits, with a leading `+` kept, so
/// `+1 (555) 010-4242` finds `+15550104242`.
pub fn phone_index(key: &DataKey, phone: &str) -> BlindIndex {
    key.blind_index("patient-phone", &crate::types::normalize_phone(phone))
}

/// The sealed row for a new patient.
pub fn seal_new(
    key: &DataKey,
    id: Uuid,
    facility_id: Uuid,
    new: &NewPatient,
    created_by: Uuid,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, id);
    let now = Timestamp::now();
    let mrn = normalize_mrn(&new.mrn);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(facility_id),
        mrn_index: ActiveValue::Set(mrn_index(key, &mrn)),
        mrn: ActiveValue::Set(seal.text("mrn", &mrn)),
        first_name: ActiveValue::Set(seal.text("first_name", new.first_name.trim())),
        last_name: ActiveValue::Set(seal.text("last_name", new.last_name.trim())),
        date_of_birth: ActiveValue::Set(seal.text("date_of_birth", &new.date_of_birth)),
        ssn: ActiveValue::Set(new.ssn.as_deref().map(|v| seal.text("ssn", v))),
        phone: ActiveValue::Set(new.phone.as_deref().map(|v| seal.text("phone", v))),
        email: ActiveValue::Set(new.email.as_deref().map(|v| seal.text("email", v.trim()))),
        email_index: ActiveValue::Set(new.email.as_deref().map(|v| email_index(key, v))),
        phone_index: ActiveValue::Set(new.phone.as_deref().map(|v| phone_index(key, v))),
        address: ActiveValue::Set(new.address.as_ref().map(|v| seal.json("address", v))),
        emergency_contact: ActiveValue::Set(
            new.emergency_contact
                .as_ref()
                .map(|v| seal.json("emergency_contact", v)),
        ),
        insurance: ActiveValue::Set(new.insurance.as_ref().map(|v| seal.json("insurance", v))),
        allergies: ActiveValue::Set(seal.json("allergies", &new.allergies)),
        gender: ActiveValue::Set(new.gender.clone()),
        is_active: ActiveValue::Set(true),
        portal_account_id: ActiveValue::Set(None),
        preferred_contact: ActiveValue::Set(None),
        created_by: ActiveValue::Set(Some(created_by)),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
}

/// Applies sealed changes to a row.
pub fn seal_changes(key: &DataKey, row: Model, changes: &PatientChanges) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, row.id);
    let mut active: ActiveModel = row.into();
    if let Some(mrn) = &changes.mrn {
        let mrn = normalize_mrn(mrn);
        active.mrn_index = ActiveValue::Set(mrn_index(key, &mrn));
        active.mrn = ActiveValue::Set(seal.text("mrn", &mrn));
    }
    if let Some(v) = &changes.first_name {
        active.first_name = ActiveValue::Set(seal.text("first_name", v.trim()));
    }
    if let Some(v) = &changes.last_name {
        active.last_name = ActiveValue::Set(seal.text("last_name", v.trim()));
    }
    if let Some(v) = &changes.date_of_birth {
        active.date_of_birth = ActiveValue::Set(seal.text("date_of_birth", v));
    }
    if let Some(v) = &changes.gender {
        active.gender = ActiveValue::Set(v.clone());
    }
    if let Some(v) = &changes.ssn {
        active.ssn = ActiveValue::Set(v.as_deref().map(|v| seal.text("ssn", v)));
    }
    if let Some(v) = &changes.phone {
        active.phone = ActiveValue::Set(v.as_deref().map(|v| seal.text("phone", v)));
        active.phone_index = ActiveValue::Set(v.as_deref().map(|v| phone_index(key, v)));
    }
    if let Some(v) = &changes.email {
        active.email = ActiveValue::Set(v.as_deref().map(|v| seal.text("email", v.trim())));
        active.email_index = ActiveValue::Set(v.as_deref().map(|v| email_index(key, v)));
    }
    if let Some(v) = &changes.address {
        active.address = ActiveValue::Set(v.as_ref().map(|v| seal.json("address", v)));
    }
    if let Some(v) = &changes.emergency_contact {
        active.emergency_contact =
            ActiveValue::Set(v.as_ref().map(|v| seal.json("emergency_contact", v)));
    }
    if let Some(v) = &changes.insurance {
        active.insurance = ActiveValue::Set(v.as_ref().map(|v| seal.json("insurance", v)));
    }
    if let Some(v) = &changes.allergies {
        active.allergies = ActiveValue::Set(seal.json("allergies", v));
    }
    if let Some(v) = changes.portal_account_id {
        active.portal_account_id = ActiveValue::Set(v);
    }
    if let Some(v) = changes.preferred_contact {
        active.preferred_contact = ActiveValue::Set(v.map(|v| v.as_str().to_owned()));
    }
    active.updated_at = ActiveValue::Set(Timestamp::now());
    active
}

impl Patient {
    /// Opens a row. A field that does not open (altered, or moved from
    /// another row) fails the whole record: a patient is never shown with
    /// another's data.
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, CryptoError> {
        // A value the check constraint would refuse: the preference is
        // unknown, which only falls back to email.
        let preferred_contact = row
            .preferred_contact
            .as_deref()
            .and_then(ContactPreference::parse);
        let seal = RowSealer::new(key, TABLE, row.id);
        let text = |column, sealed: &Option<Sealed>| seal.open_optional_text(column, sealed);
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            mrn: seal.open_text("mrn", &row.mrn)?,
            first_name: seal.open_text("first_name", &row.first_name)?,
            last_name: seal.open_text("last_name", &row.last_name)?,
            date_of_birth: seal.open_text("date_of_birth", &row.date_of_birth)?,
            gender: row.gender.clone(),
            ssn: text("ssn", &row.ssn)?,
            phone: text("phone", &row.phone)?,
            email: text("email", &row.email)?,
            address: row
                .address
                .as_ref()
                .map(|s| seal.open_json("address", s))
                .transpose()?,
            emergency_contact: row
                .emergency_contact
                .as_ref()
                .map(|s| seal.open_json("emergency_contact", s))
                .transpose()?,
            insurance: row
                .insurance
                .as_ref()
                .map(|s| seal.open_json("insurance", s))
                .transpose()?,
            allergies: seal.open_json("allergies", &row.allergies)?,
            is_active: row.is_active,
            portal_account_id: row.portal_account_id,
            preferred_contact,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::care::patient_checks::tests::valid;

    #[test]
    fn a_sealed_patient_opens_to_what_was_written() {
        let key = DataKey::new(Uuid::now_v7(), &[3u8; 32]);
        let id = Uuid::now_v7();
        let new = valid();
        new.validate().unwrap();
        let active = seal_new(&key, id, Uuid::now_v7(), &new, Uuid::now_v7());
        let row = Model {
            id,
            facility_id: active.facility_id.clone().unwrap(),
            mrn_index: active.mrn_index.clone().unwrap(),
            mrn: active.mrn.clone().unwrap(),
            first_name: active.first_name.clone().unwrap(),
            last_name: active.last_name.clone().unwrap(),
            date_of_birth: active.date_of_birth.clone().unwrap(),
            ssn: active.ssn.clone().unwrap(),
            phone: active.phone.clone().unwrap(),
            email: active.email.clone().unwrap(),
            email_index: active.email_index.clone().unwrap(),
            phone_index: active.phone_index.clone().unwrap(),
            address: active.address.clone().unwrap(),
            emergency_contact: None,
            insurance: None,
            allergies: active.allergies.clone().unwrap(),
            gender: None,
            is_active: true,
            portal_account_id: None,
            created_by: None,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            preferred_contact: Some("sms".to_owned()),
        };
        let patient = Patient::open(&key, &row).unwrap();
        assert_eq!(patient.mrn, "A-100");
        assert_eq!(patient.last_name, "Quuxworth");
        assert_eq!(patient.allergies, vec!["penicillin"]);
        assert_eq!(patient.preferred_contact, Some(ContactPreference::Sms));
        assert_eq!(row.mrn_index, mrn_index(&key, "a-100 "));

        // A field moved from another row does not open.
        let other = RowSealer::new(&key, TABLE, Uuid::now_v7()).text("last_name", "Someone");
        let swapped = Model {
            last_name: other,
            ..row
        };
        assert_eq!(
            Patient::open(&key, &swapped).unwrap_err(),
            CryptoError::Forged
        );
    }

    #[test]
    fn null_clears_and_absence_keeps() {
        let changes: PatientChanges =
            serde_json::from_str(r#"{"phone": null, "first_name": "Zeb"}"#).unwrap();
        assert_eq!(changes.phone, Some(None));
        assert_eq!(changes.email, None);
        assert_eq!(changes.touched(), vec!["first_name", "phone"]);
    }
}
