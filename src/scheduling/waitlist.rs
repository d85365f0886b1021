//! The waitlist (seed 000): a patient or lead waiting for an appointment of
//! a type, with some providers (or any), within a window of time. When a
//! matching slot frees up (a cancellation, a reschedule, an offer that ran
//! out), the first eligible entry in the order they joined is offered it:
//! the slot is held for `waitlist_hold_minutes` (bookings see the hold as
//! busy time), the patient or lead is notified, and the offer can be
//! accepted into a booking until it expires.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::schedules::MAX_DURATION;
use super::settings;
use super::slots::Span;
use super::store;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::crypto::{DataKey, RowSealer, Sealed};
use crate::db::new_id;
use crate::error::ApiError;
use crate::notify::OutgoingMessage;
use crate::time::Timestamp;
use crate::transition::{UnknownStoredValue, string_enum};
use crate::validation::Checks;

pub const TABLE: &str = "waitlist";
pub const PHI_FIELDS: &[&str] = &["notes"];
/// The name the offer sweeper signs its audit events with.
pub const JOB: &str = "waitlist-offers";

string_enum! {
    /// Where a waitlist entry stands.
    WaitlistStatus {
        Waiting => "waiting",
        Offered => "offered",
        Booked => "booked",
        Cancelled => "cancelled",
        Expired => "expired",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub type_id: Option<Uuid>,
    pub duration_minutes: i32,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub notes: Option<Sealed>,
    pub status: String,
    pub offer_provider_id: Option<Uuid>,
    pub offer_starts_at: Option<Timestamp>,
    pub offer_expires_at: Option<Timestamp>,
    pub appointment_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn waitlist_status(&self) -> Result<WaitlistStatus, UnknownStoredValue> {
        WaitlistStatus::from_stored(&self.status, TABLE, "status", self.id)
    }

    /// The held slot, while the offer stands at `now`.
    pub fn held(&self, now: Timestamp) -> Result<Option<Span>, UnknownStoredValue> {
        let offered = self.waitlist_status()? == WaitlistStatus::Offered;
        Ok(match (self.offer_starts_at, self.offer_expires_at) {
            (Some(start), Some(expires)) if offered && expires > now => Some(Span::new(
                start,
                start.plus_secs(i64::from(self.duration_minutes) * 60),
            )),
            _ => None,
        })
    }
}

pub mod provider {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "waitlist_providers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub waitlist_id: Uuid,
        pub provider_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A waitlist entry as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WaitlistEntry {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub type_id: Option<Uuid>,
    pub duration_minutes: i32,
    /// Any of these providers; any provider when empty.
    pub provider_ids: Vec<Uuid>,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub notes: Option<String>,
    pub status: WaitlistStatus,
    /// The slot offered, while `offered`.
    pub offer_provider_id: Option<Uuid>,
    pub offer_starts_at: Option<Timestamp>,
    pub offer_expires_at: Option<Timestamp>,
    /// The appointment it was booked into.
    pub appointment_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WaitlistEntry {
    pub fn open(key: &DataKey, row: &Model, provider_ids: Vec<Uuid>) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            patient_id: row.patient_id,
            lead_id: row.lead_id,
            type_id: row.type_id,
            duration_minutes: row.duration_minutes,
            provider_ids,
            window_start: row.window_start,
            window_end: row.window_end,
            notes: seal.open_optional_text("notes", &row.notes)?,
            status: row.waitlist_status()?,
            offer_provider_id: row.offer_provider_id,
            offer_starts_at: row.offer_starts_at,
            offer_expires_at: row.offer_expires_at,
            appointment_id: row.appointment_id,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A patient or lead joining the waitlist.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWaitlistEntry {
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// An appointment type of the facility; any slot of the duration when absent.
    pub type_id: Option<Uuid>,
    /// 1 to 720; the type's duration when absent, else 30.
    pub duration_minutes: Option<i32>,
    /// Providers with a role in the facility; any provider when absent or empty.
    #[serde(default)]
    pub provider_ids: Vec<Uuid>,
    /// The earliest start wanted.
    pub window_start: Timestamp,
    /// The latest end wanted.
    pub window_end: Timestamp,
    pub notes: Option<String>,
}

impl NewWaitlistEntry {
    pub fn validate(&self, now: Timestamp) -> Result<(), ApiError> {
        let mut c = Checks::default();
        if self.patient_id.is_none() && self.lead_id.is_none() {
            c.fail(
                "patient_id",
                "a waitlist entry is for a patient or a lead; give one",
            );
        }
        super::schedules::check_duration(&mut c, self.duration_minutes.map(i64::from));
        if self.window_end <= self.window_start {
            c.fail("window_end", "must be after window_start");
        } else if self.window_end <= now {
            c.fail("window_end", "is in the past");
        }
        if self.provider_ids.len() > 50 {
            c.fail("provider_ids", "at most 50 providers");
        }
        c.optional_text("notes", self.notes.as_deref(), 2_000);
        c.done()
    }
}

pub async fn providers_of(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<provider::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    provider::Entity::find()
        .filter(provider::Column::WaitlistId.is_in(ids.iter().copied()))
        .order_by_asc(provider::Column::ProviderId)
        .all(db)
        .await
}

/// The slots held for offers to the providers overlapping `period` at
/// `now`, by provider, except the offer `holder`.
pub async fn holds_over(
    db: &impl ConnectionTrait,
    providers: &[Uuid],
    period: Span,
    holder: Option<Uuid>,
    now: Timestamp,
) -> Result<Vec<(Uuid, Span)>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::OfferProviderId.is_in(providers.iter().copied()))
        .filter(Column::Status.eq(WaitlistStatus::Offered.as_str()))
        .filter(Column::OfferExpiresAt.gt(now))
        .filter(Column::OfferStartsAt.lt(period.end))
        .filter(Column::OfferStartsAt.gt(period.start.plus_secs(-MAX_DURATION * 60)));
    if let Some(holder) = holder {
        query = query.filter(Column::Id.ne(holder));
    }
    let mut holds = Vec::new();
    for entry in query.all(db).await? {
        if let (Some(provider_id), Some(held)) = (entry.offer_provider_id, entry.held(now)?)
            && held.overlaps(&period)
        {
            holds.push((provider_id, held));
        }
    }
    Ok(holds)
}

/// A slot that has come free, to offer to the waitlist.
#[derive(Clone, Copy, Debug)]
pub struct FreedSlot {
    pub facility_id: Uuid,
    pub provider_id: Uuid,
    pub type_id: Option<Uuid>,
    pub slot: Span,
}

/// Offers a freed slot to the first eligible waiting entry, in the
/// caller's transaction; returns the entry offered it, if any. An entry is
/// eligible when its window holds its duration from the slot's start, the
/// duration fits in the slot, the type (when it names one) is the slot's
/// and the provider (when it names any) is among its providers. The
/// provider's booking lock is taken and the time checked free first.
pub async fn offer(
    state: &AppState,
    txn: &impl ConnectionTrait,
    freed: FreedSlot,
    now: Timestamp,
) -> Result<Option<Uuid>, ApiError> {
    if freed.slot.start <= now {
        return Ok(None);
    }
    let Some(schedule) = store::lock_schedule(txn, freed.facility_id, freed.provider_id).await?
    else {
        return Ok(None);
    };
    let candidates = Entity::find()
        .filter(Column::FacilityId.eq(freed.facility_id))
        .filter(Column::Status.eq(WaitlistStatus::Waiting.as_str()))
        .filter(Column::WindowStart.lte(freed.slot.start))
        .filter(Column::WindowEnd.gt(freed.slot.start))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(100)
        .all(txn)
        .await?;
    let ids: Vec<Uuid> = candidates.iter().map(|c| c.id).collect();
    let providers = providers_of(txn, &ids).await?;
    let slot_minutes = (freed.slot.end.as_micros() - freed.slot.start.as_micros()) / 60_000_000;
    let eligible = candidates.into_iter().find(|entry| {
        let wanted: Vec<Uuid> = providers
            .iter()
            .filter(|p| p.waitlist_id == entry.id)
            .map(|p| p.provider_id)
            .collect();
        let end = freed
            .slot
            .start
            .plus_secs(i64::from(entry.duration_minutes) * 60);
        i64::from(entry.duration_minutes) <= slot_minutes
            && end <= entry.window_end
            && entry.type_id.is_none_or(|t| Some(t) == freed.type_id)
            && (wanted.is_empty() || wanted.contains(&freed.provider_id))
    });
    let Some(entry) = eligible else {
        return Ok(None);
    };
    let held = Span::new(
        freed.slot.start,
        freed
            .slot
            .start
            .plus_secs(i64::from(entry.duration_minutes) * 60),
    );
    let calendar = store::calendar(txn, &schedule, held, None, None, now).await?;
    if calendar.check(held, 0, 0, now).is_err() {
        return Ok(None);
    }
    let expires = now.plus_secs(i64::from(settings::of(state).waitlist_hold_minutes) * 60);
    let id = entry.id;
    let recipient = (entry.patient_id, entry.lead_id);
    let mut active: ActiveModel = entry.into();
    active.status = ActiveValue::Set(WaitlistStatus::Offered.as_str().to_owned());
    active.offer_provider_id = ActiveValue::Set(Some(freed.provider_id));
    active.offer_starts_at = ActiveValue::Set(Some(held.start));
    active.offer_expires_at = ActiveValue::Set(Some(expires));
    active.updated_at = ActiveValue::Set(now);
    active.update(txn).await?;
    notify_offer(
        state,
        txn,
        freed.facility_id,
        recipient,
        held.start,
        expires,
    )
    .await?;
    Ok(Some(id))
}

/// Tells the patient or lead about the offer, when they have an address.
async fn notify_offer(
    state: &AppState,
    txn: &impl ConnectionTrait,
    facility_id: Uuid,
    (patient_id, lead_id): (Option<Uuid>, Option<Uuid>),
    starts_at: Timestamp,
    expires: Timestamp,
) -> Result<(), ApiError> {
    let key = state.keyring.facility(facility_id).await?;
    let Ok(to) = super::reminders::email_of(txn, &key, patient_id, lead_id).await? else {
        return Ok(());
    };
    let facility = crate::access::facilities::find(txn, facility_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let local = |t: Timestamp| super::reminders::spoken_time(&facility.time_zone, t);
    let body = format!(
        "An appointment slot has opened at {} on {}. It is held for you until {}; \
         reply or call us to take it.\n",
        facility.name,
        local(starts_at),
        local(expires)
    );
    state
        .ext::<crate::notify::Notifier>()
        .send(
            txn,
            OutgoingMessage::email(
                to,
                "An appointment slot has opened for you",
                body,
                "waitlist_offer",
            ),
        )
        .await?;
    Ok(())
}

/// Expires the offers that ran out by `now` and offers each slot to the
/// next eligible entry. Returns how many offers expired.
pub async fn expire_offers(state: &AppState, now: Timestamp) -> Result<usize, ApiError> {
    let txn = state.db.begin().await?;
    let mut expired = Entity::find()
        .filter(Column::Status.eq(WaitlistStatus::Offered.as_str()))
        .filter(Column::OfferExpiresAt.lte(now))
        .order_by_asc(Column::OfferExpiresAt)
        .limit(50)
        .all(&*txn)
        .await?;
    // Re-offering takes each provider's booking lock: in id order, as a
    // reschedule across two providers does, so the two never wait on
    // each other.
    expired.sort_by_key(|entry| entry.offer_provider_id);
    let mut events = Vec::with_capacity(expired.len());
    for entry in &expired {
        let mut active: ActiveModel = entry.clone().into();
        active.status = ActiveValue::Set(WaitlistStatus::Expired.as_str().to_owned());
        active.updated_at = ActiveValue::Set(now);
        active.update(&*txn).await?;
        let (Some(provider_id), Some(start)) = (entry.offer_provider_id, entry.offer_starts_at)
        else {
            continue;
        };
        let freed = FreedSlot {
            facility_id: entry.facility_id,
            provider_id,
            type_id: entry.type_id,
            slot: Span::new(
                start,
                start.plus_secs(i64::from(entry.duration_minutes) * 60),
            ),
        };
        let next = offer(state, &*txn, freed, now).await?;
        events.push(
            AuditEvent::new(
                AuditActor::System {
                    job: JOB.to_owned(),
                },
                AuditAction::Update,
                "waitlist_entry",
            )
            .resource(entry.id)
            .facility(entry.facility_id)
            .flag(ComplianceFlag::Phi)
            .changes(redact(
                json!({ "status": { "from": "offered", "to": "expired" }, "offered_next": next }),
                &[],
            )),
        );
    }
    let count = expired.len();
    audit::commit(txn, events).await?;
    Ok(count)
}

/// Seals a new entry's row.
pub fn seal_new(
    key: &DataKey,
    facility_id: Uuid,
    new: &NewWaitlistEntry,
    duration_minutes: i32,
    created_by: Uuid,
    now: Timestamp,
) -> ActiveModel {
    let id = new_id();
    let seal = RowSealer::new(key, TABLE, id);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(facility_id),
        patient_id: ActiveValue::Set(new.patient_id),
        lead_id: ActiveValue::Set(new.lead_id),
        type_id: ActiveValue::Set(new.type_id),
        duration_minutes: ActiveValue::Set(duration_minutes),
        window_start: ActiveValue::Set(new.window_start),
        window_end: ActiveValue::Set(new.window_end),
        notes: ActiveValue::Set(seal.optional_text("notes", new.notes.as_deref())),
        status: ActiveValue::Set(WaitlistStatus::Waiting.as_str().to_owned()),
        offer_provider_id: ActiveValue::Set(None),
        offer_starts_at: ActiveValue::Set(None),
        offer_expires_at: ActiveValue::Set(None),
        appointment_id: ActiveValue::Set(None),
        created_by: ActiveValue::Set(created_by),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
}

pub fn provider_row(waitlist_id: Uuid, provider_id: Uuid) -> provider::ActiveModel {
    provider::ActiveModel {
        id: ActiveValue::Set(new_id()),
        waitlist_id: ActiveValue::Set(waitlist_id),
        provider_id: ActiveValue::Set(provider_id),
    }
}
