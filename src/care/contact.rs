//! What other contexts may learn of a patient when no actor is acting (a
//! reminder job, a calendar feed fetched with its token): how to write to
//! them, and whether a portal account still holds their record. Nothing
//! else of the record leaves care this way.

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, QuerySelect};

use super::patients::{self, ContactPreference, Patient};
use crate::crypto::{CryptoError, DataKey};

/// The patient's email address, opened with the facility's `key`: `None`
/// when there is no such patient or the record has no email; an error
/// when the record cannot be opened.
pub async fn email_of_patient(
    db: &impl ConnectionTrait,
    key: &DataKey,
    patient_id: Uuid,
) -> Result<Result<Option<String>, CryptoError>, DbErr> {
    let Some(row) = patients::Entity::find_by_id(patient_id).one(db).await? else {
        return Ok(Ok(None));
    };
    Ok(Patient::open(key, &row).map(|patient| patient.email))
}

/// How to reach a patient: email, phone, and which they prefer.
#[derive(Clone, PartialEq, Eq)]
pub struct PatientContact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preference: Option<ContactPreference>,
}

/// The patient's contact details, opened with the facility's `key`: `None`
/// when there is no such patient; an error when the record cannot be opened.
pub async fn contact_of_patient(
    db: &impl ConnectionTrait,
    key: &DataKey,
    patient_id: Uuid,
) -> Result<Result<Option<PatientContact>, CryptoError>, DbErr> {
    let Some(row) = patients::Entity::find_by_id(patient_id).one(db).await? else {
        return Ok(Ok(None));
    };
    Ok(Patient::open(key, &row).map(|patient| {
        Some(PatientContact {
            email: patient.email,
            phone: patient.phone,
            preference: patient.preferred_contact,
        })
    }))
}

/// Whether `account_id` is the portal account of an active patient record
/// of the facility.
pub async fn is_portal_of(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    patient_id: Uuid,
    account_id: Uuid,
) -> Result<bool, DbErr> {
    let found: Option<(Option<Uuid>, bool)> = patients::Entity::find_by_id(patient_id)
        .filter(patients::Column::FacilityId.eq(facility_id))
        .select_only()
        .column(patients::Column::PortalAccountId)
        .column(patients::Column::IsActive)
        .into_tuple()
        .one(db)
        .await?;
    Ok(found.is_some_and(|(portal, active)| portal == Some(account_id) && active))
}
