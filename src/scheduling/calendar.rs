//! Calendar feeds: a private iCalendar (RFC 5545) URL per provider, or per
//! patient for their own appointments, that calendar apps subscribe to.
//! The URL's token is the only credential (calendar apps cannot send a
//! bearer token), so it is 256 random bits, stored as a hash, shown once,
//! and revocable. A feed stops working when its owner loses access: the
//! provider their role in the facility, the patient their portal link.
//!
//! Subscribed calendars live on other companies' servers, so an event
//! carries only what the owner may see and needs to turn up: when, where
//! (the facility and the meeting link), the kind of visit and its status.
//! Never a title, notes, or the other party's name.

use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::appointments::{self, AppointmentStatus};
use crate::crypto::{DataKey, RowSealer};
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::transition::UnknownStoredValue;

/// How far back and ahead a feed reaches, in days.
pub const PAST_DAYS: i64 = 30;
pub const AHEAD_DAYS: i64 = 366;
/// The most events one feed carries.
pub const MAX_EVENTS: u64 = 2_000;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_feeds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub provider_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub token_hash: Vec<u8>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A feed as the API shows it; the URL only when it is made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CalendarFeed {
    pub id: Uuid,
    pub facility_id: Uuid,
    /// The provider whose appointments it shows.
    pub provider_id: Option<Uuid>,
    /// The patient whose appointments it shows.
    pub patient_id: Option<Uuid>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// The subscription path, with its secret token: shown once, when made.
    /// Prefix it with the server's public address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl CalendarFeed {
    pub fn from_row(row: &Model, token: Option<&str>) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            provider_id: row.provider_id,
            patient_id: row.patient_id,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            path: token.map(|t| format!("/calendar/{t}.ics")),
        }
    }
}

/// Whose appointments a new feed shows: the caller's own as a provider,
/// or (for a patient) their own record's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendarFeed {
    /// Your own account, as a provider with a schedule in the facility.
    pub provider_id: Option<Uuid>,
    /// The patient record linked to your portal account.
    pub patient_id: Option<Uuid>,
}

/// Makes a feed in the scope's facility for the scope's account; returns
/// it with its token (which is not stored).
pub async fn insert_feed(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    new: &NewCalendarFeed,
    now: Timestamp,
) -> Result<(Model, String), DbErr> {
    let (token, hash) = crate::identity::secrets::new_secret();
    let row = ActiveModel {
        id: ActiveValue::Set(crate::db::new_id()),
        facility_id: ActiveValue::Set(scope.facility_id()),
        provider_id: ActiveValue::Set(new.provider_id),
        patient_id: ActiveValue::Set(new.patient_id),
        token_hash: ActiveValue::Set(hash),
        created_by: ActiveValue::Set(scope.account_id()),
        created_at: ActiveValue::Set(now),
        revoked_at: ActiveValue::Set(None),
    }
    .insert(txn)
    .await?;
    Ok((row, token))
}

/// A page of the scope's account's own feeds in its facility, in id order.
pub async fn own_feeds(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::CreatedBy.eq(scope.account_id()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// A feed of the facility, whoever made it. Unscoped: which permission a
/// revocation needs depends on whose feed it is.
pub async fn find_feed(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    feed_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(feed_id)
        .filter(Column::FacilityId.eq(facility_id))
        .one(db)
        .await
}

/// Revokes a feed of the scope's facility (once: a revoked feed keeps its time).
pub async fn revoke(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    feed: Model,
    now: Timestamp,
) -> Result<(), DbErr> {
    if feed.revoked_at.is_some() || feed.facility_id != scope.facility_id() {
        return Ok(());
    }
    let mut active: ActiveModel = feed.into();
    active.revoked_at = ActiveValue::Set(Some(now));
    active.update(txn).await?;
    Ok(())
}

/// The live feed a token opens, if any.
pub async fn by_token(db: &impl ConnectionTrait, token: &str) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::TokenHash.eq(crate::identity::secrets::hash(token)))
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await
}

/// The appointments a feed shows, by start, from a month back to a year ahead.
pub async fn appointments_of(
    db: &impl ConnectionTrait,
    feed: &Model,
    now: Timestamp,
) -> Result<Vec<appointments::Model>, DbErr> {
    use appointments::Column as A;
    let mut query = appointments::Entity::find()
        .filter(A::FacilityId.eq(feed.facility_id))
        .filter(A::StartsAt.gte(now.plus_secs(-PAST_DAYS * 86_400)))
        .filter(A::StartsAt.lt(now.plus_secs(AHEAD_DAYS * 86_400)))
        .filter(A::Status.ne(AppointmentStatus::Rescheduled.as_str()))
        .order_by_asc(A::StartsAt)
        .limit(MAX_EVENTS);
    query = match (feed.provider_id, feed.patient_id) {
        (Some(provider), _) => query.filter(A::ProviderId.eq(provider)),
        (None, Some(patient)) => query.filter(A::PatientId.eq(patient)),
        (None, None) => return Ok(Vec::new()),
    };
    query.all(db).await
}

fn utc(t: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(t.as_micros()).unwrap_or_default()
}

/// The feed as an iCalendar document.
pub fn render(
    key: &DataKey,
    facility_name: &str,
    rows: &[appointments::Model],
    now: Timestamp,
) -> Result<String, UnknownStoredValue> {
    let mut calendar = Calendar::new();
    calendar.name(&format!("{facility_name} appointments"));
    for row in rows {
        let status = row.appointment_status()?;
        let kind = super::schedules::AppointmentKind::from_stored(
            &row.kind,
            appointments::TABLE,
            "kind",
            row.id,
        )?
        .as_str()
        .replace('_', "-");
        let mut event = Event::new();
        event
            .uid(&format!("{}@carebase", row.id))
            .timestamp(utc(now))
            .starts(utc(row.starts_at))
            .ends(utc(row.ends_at))
            .summary(&format!("{} at {facility_name}", capitalized(&kind)))
            .location(facility_name)
            .status(match status {
                AppointmentStatus::Pending => EventStatus::Tentative,
                AppointmentStatus::Cancelled | AppointmentStatus::NoShow => EventStatus::Cancelled,
                _ => EventStatus::Confirmed,
            });
        let seal = RowSealer::new(key, appointments::TABLE, row.id);
        if let Ok(Some(link)) = seal.open_optional_text("meeting_link", &row.meeting_link) {
            event.url(&link);
        }
        calendar.push(event.done());
    }
    Ok(calendar.done().to_string())
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
