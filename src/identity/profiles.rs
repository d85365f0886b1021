//! Profiles: the person behind an account as colleagues know them. Seed
//! 001's first and last name, and for a provider seed 002's licence number
//! and NPI and seed 004's certification, address, country and verified
//! flag. Names, licence, NPI, certification and address are sealed under
//! the installation key (an account is not one facility's), bound to their
//! row; the country (an ISO code) and the verification stay in clear.
//!
//! Verification is an administrator's act, never the owner's: the owner
//! edits the profile, and a change to the licence number or NPI withdraws
//! a verification given for the old one.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{CryptoError, DataKey, RowSealer, Sealed};
use crate::time::Timestamp;
use crate::validation::Checks;

pub const TABLE: &str = "profiles";

/// The fields that identify the person; the audit log names them only.
pub const PII_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "licence_number",
    "npi",
    "certification",
    "address",
];

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profiles")]
pub struct Model {
    /// The account's id: one profile per account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub first_name: Option<Sealed>,
    pub last_name: Option<Sealed>,
    pub licence_number: Option<Sealed>,
    pub npi: Option<Sealed>,
    pub certification: Option<Sealed>,
    pub address: Option<Sealed>,
    pub country: Option<String>,
    pub verified_at: Option<Timestamp>,
    pub verified_by: Option<Uuid>,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A profile, opened.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StaffProfile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The professional licence number (seed 002).
    pub licence_number: Option<String>,
    /// The National Provider Identifier: ten digits (seed 002).
    pub npi: Option<String>,
    pub certification: Option<String>,
    /// Shown to its owner and the facility's administrators only.
    pub address: Option<String>,
    /// ISO 3166-1 alpha-2, upper case (`US`).
    pub country: Option<String>,
    /// Whether an administrator checked the licence and NPI as they stand.
    pub verified: bool,
    pub verified_at: Option<Timestamp>,
    pub verified_by: Option<Uuid>,
}

/// Changes to a profile: an absent field stays, `null` clears it. There is
/// no `verified` here: an administrator verifies, through its own route.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffProfileChanges {
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub licence_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub npi: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub certification: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Option<String>>,
}

impl StaffProfileChanges {
    /// Every invalid field, named.
    pub fn validate(&self) -> Result<(), crate::error::ApiError> {
        let mut c = Checks::default();
        let text = |c: &mut Checks, field, value: &Option<Option<String>>, max| {
            c.optional_text(field, value.as_ref().and_then(|v| v.as_deref()), max);
        };
        text(&mut c, "first_name", &self.first_name, 100);
        text(&mut c, "last_name", &self.last_name, 100);
        text(&mut c, "licence_number", &self.licence_number, 50);
        text(&mut c, "certification", &self.certification, 200);
        text(&mut c, "address", &self.address, 500);
        if let Some(Some(npi)) = &self.npi
            && !is_npi(npi)
        {
            c.fail("npi", "must be 10 digits with a valid check digit");
        }
        if let Some(Some(country)) = &self.country
            && !(country.len() == 2 && country.chars().all(|ch| ch.is_ascii_alphabetic()))
        {
            c.fail(
                "country",
                "must be a two-letter ISO 3166-1 code, such as US",
            );
        }
        c.done()
    }

    /// The names of the fields this change touches, for the audit log.
    pub fn touched(&self) -> Vec<&'static str> {
        [
            ("first_name", self.first_name.is_some()),
            ("last_name", self.last_name.is_some()),
            ("licence_number", self.licence_number.is_some()),
            ("npi", self.npi.is_some()),
            ("certification", self.certification.is_some()),
            ("address", self.address.is_some()),
            ("country", self.country.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

/// An NPI: ten digits whose last is the Luhn check digit of the first nine
/// prefixed with 80840 (the NPI standard's rule).
pub fn is_npi(npi: &str) -> bool {
    let digits: Vec<u32> = npi.chars().filter_map(|c| c.to_digit(10)).collect();
    if npi.len() != 10 || digits.len() != 10 {
        return false;
    }
    // The prefix 80840 contributes 24 to the Luhn sum.
    let mut sum = 24;
    for (i, d) in digits[..9].iter().rev().enumerate() {
        let d = if i % 2 == 0 { d * 2 } else { *d };
        sum += if d > 9 { d - 9 } else { d };
    }
    (10 - sum % 10) % 10 == digits[9]
}

impl StaffProfile {
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, CryptoError> {
        let seal = RowSealer::new(key, TABLE, row.account_id);
        let text = |column, sealed: &Option<Sealed>| seal.open_optional_text(column, sealed);
        Ok(Self {
            first_name: text("first_name", &row.first_name)?,
            last_name: text("last_name", &row.last_name)?,
            licence_number: text("licence_number", &row.licence_number)?,
            npi: text("npi", &row.npi)?,
            certification: text("certification", &row.certification)?,
            address: text("address", &row.address)?,
            country: row.country.clone(),
            verified: row.verified_at.is_some(),
            verified_at: row.verified_at,
            verified_by: row.verified_by,
        })
    }

    /// The profile without its address, for colleagues.
    pub fn for_colleagues(self) -> Self {
        Self {
            address: None,
            ..self
        }
    }
}

/// The profiles of `account_ids` that exist, opened.
pub async fn of_accounts(
    db: &impl ConnectionTrait,
    key: &DataKey,
    account_ids: &[Uuid],
) -> anyhow::Result<std::collections::HashMap<Uuid, StaffProfile>> {
    let rows = Entity::find()
        .filter(Column::AccountId.is_in(account_ids.iter().copied()))
        .all(db)
        .await?;
    rows.iter()
        .map(|row| Ok((row.account_id, StaffProfile::open(key, row)?)))
        .collect()
}

pub async fn find(db: &impl ConnectionTrait, account_id: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(account_id).one(db).await
}

/// Applies `changes` to the account's profile (made when it has none).
/// A new licence number or NPI withdraws the verification.
pub async fn change(
    db: &impl ConnectionTrait,
    key: &DataKey,
    account_id: Uuid,
    changes: &StaffProfileChanges,
    now: Timestamp,
) -> Result<(Model, bool), DbErr> {
    let existing = find(db, account_id).await?;
    let before = match &existing {
        Some(row) => StaffProfile::open(key, row).map_err(|e| DbErr::Custom(e.to_string()))?,
        None => StaffProfile::default(),
    };
    let seal = RowSealer::new(key, TABLE, account_id);
    let mut active = match existing.clone() {
        Some(row) => ActiveModel::from(row),
        None => blank(account_id, now),
    };
    let set =
        |column: &str, field: &mut ActiveValue<Option<Sealed>>, value: &Option<Option<String>>| {
            if let Some(value) = value {
                *field = ActiveValue::Set(value.as_deref().map(|v| seal.text(column, v.trim())));
            }
        };
    set("first_name", &mut active.first_name, &changes.first_name);
    set("last_name", &mut active.last_name, &changes.last_name);
    set(
        "licence_number",
        &mut active.licence_number,
        &changes.licence_number,
    );
    set("npi", &mut active.npi, &changes.npi);
    set(
        "certification",
        &mut active.certification,
        &changes.certification,
    );
    set("address", &mut active.address, &changes.address);
    if let Some(country) = &changes.country {
        active.country = ActiveValue::Set(country.as_deref().map(str::to_ascii_uppercase));
    }
    let trimmed = |v: &Option<Option<String>>| {
        v.as_ref()
            .map(|v| v.as_deref().map(str::trim).map(str::to_owned))
    };
    let credentials_changed = trimmed(&changes.licence_number)
        .is_some_and(|new| new != before.licence_number)
        || trimmed(&changes.npi).is_some_and(|new| new != before.npi);
    let withdrawn = credentials_changed && before.verified;
    if withdrawn {
        active.verified_at = ActiveValue::Set(None);
        active.verified_by = ActiveValue::Set(None);
    }
    active.updated_at = ActiveValue::Set(now);
    let row = match existing {
        Some(_) => active.update(db).await?,
        None => active.insert(db).await?,
    };
    Ok((row, withdrawn))
}

fn blank(account_id: Uuid, now: Timestamp) -> ActiveModel {
    ActiveModel {
        account_id: ActiveValue::Set(account_id),
        first_name: ActiveValue::Set(None),
        last_name: ActiveValue::Set(None),
        licence_number: ActiveValue::Set(None),
        npi: ActiveValue::Set(None),
        certification: ActiveValue::Set(None),
        address: ActiveValue::Set(None),
        country: ActiveValue::Set(None),
        verified_at: ActiveValue::Set(None),
        verified_by: ActiveValue::Set(None),
        updated_at: ActiveValue::Set(now),
    }
}

/// Records an administrator's verification (or its withdrawal).
pub async fn set_verified(
    db: &impl ConnectionTrait,
    row: Model,
    by: Option<Uuid>,
    now: Timestamp,
) -> Result<Model, DbErr> {
    let mut active: ActiveModel = row.into();
    active.verified_at = ActiveValue::Set(by.map(|_| now));
    active.verified_by = ActiveValue::Set(by);
    active.updated_at = ActiveValue::Set(now);
    active.update(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_npi_carries_its_check_digit() {
        // CMS's example NPI.
        assert!(is_npi("1234567893"));
        assert!(!is_npi("1234567890"));
        assert!(!is_npi("123456789"));
        assert!(!is_npi("12345678a3"));
    }

    #[test]
    fn a_sealed_profile_opens_to_what_was_written_and_only_in_its_row() {
        let key = DataKey::new(Uuid::now_v7(), &[5u8; 32]);
        let id = Uuid::now_v7();
        let seal = RowSealer::new(&key, TABLE, id);
        let row = Model {
            account_id: id,
            first_name: Some(seal.text("first_name", "Marek")),
            last_name: None,
            licence_number: Some(seal.text("licence_number", "MD-77")),
            npi: None,
            certification: None,
            address: None,
            country: Some("US".to_owned()),
            verified_at: None,
            verified_by: None,
            updated_at: Timestamp::now(),
        };
        let profile = StaffProfile::open(&key, &row).unwrap();
        assert_eq!(profile.first_name.as_deref(), Some("Marek"));
        assert_eq!(profile.licence_number.as_deref(), Some("MD-77"));
        let moved = Model {
            account_id: Uuid::now_v7(),
            ..row
        };
        assert!(StaffProfile::open(&key, &moved).is_err());
    }
}
