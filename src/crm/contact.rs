//! What other contexts may learn of a lead when no actor is acting (a
//! reminder or waitlist offer job): how to write or text them. Nothing else of
//! the lead leaves the CRM this way.

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, QuerySelect};

use super::leads;
use crate::crypto::{CryptoError, DataKey, RowSealer, Sealed};

/// The lead's email address, opened with the facility's `key`: `None` when
/// there is no such lead or it has no email; an error when it cannot be
/// opened.
pub async fn email_of_lead(
    db: &impl ConnectionTrait,
    key: &DataKey,
    lead_id: Uuid,
) -> Result<Result<Option<String>, CryptoError>, DbErr> {
    let sealed: Option<Option<Sealed>> = leads::Entity::find_by_id(lead_id)
        .select_only()
        .column(leads::Column::Email)
        .into_tuple()
        .one(db)
        .await?;
    let Some(sealed) = sealed else {
        return Ok(Ok(None));
    };
    let seal = RowSealer::new(key, leads::TABLE, lead_id);
    Ok(seal.open_optional_text("email", &sealed))
}

/// How to reach a lead: its email address and phone number.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LeadContact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The lead's email and phone, opened with the facility's `key`: empty when
/// there is no such lead; an error when either cannot be opened.
pub async fn contact_of_lead(
    db: &impl ConnectionTrait,
    key: &DataKey,
    lead_id: Uuid,
) -> Result<Result<LeadContact, CryptoError>, DbErr> {
    let sealed: Option<(Option<Sealed>, Option<Sealed>)> = leads::Entity::find_by_id(lead_id)
        .select_only()
        .column(leads::Column::Email)
        .column(leads::Column::Phone)
        .into_tuple()
        .one(db)
        .await?;
    let Some((email, phone)) = sealed else {
        return Ok(Ok(LeadContact::default()));
    };
    let seal = RowSealer::new(key, leads::TABLE, lead_id);
    let opened = seal
        .open_optional_text("email", &email)
        .and_then(|email| Ok((email, seal.open_optional_text("phone", &phone)?)));
    Ok(opened.map(|(email, phone)| LeadContact { email, phone }))
}
