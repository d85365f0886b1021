//! Claiming a slot: the one path by which an appointment gets its time,
//! whether booked, rescheduled or accepted from the waitlist. Within the
//! caller's transaction it takes the provider's booking lock, resolves the
//! appointment type, and checks the slot against the provider's calendar
//! as it stands under that lock, so two requests for overlapping time can
//! never both pass. A call off the schedule is placed instead ([`place`]):
//! no schedule, no lock of one. Either way the row is written only once
//! none of its people is booked then (`people`, under their own locks).

use sea_orm::{ActiveValue, ConnectionTrait};
use uuid::Uuid;

use super::appointments::{self, AppointmentStatus, Booking};
use super::people;
use super::reminders;
use super::schedules::{AppointmentKind, DEFAULT_DURATION, appointment_type, schedule};
use super::slots::{Span, Unavailable};
use super::store;
use crate::crypto::DataKey;
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// The slot a request asks for.
#[derive(Clone, Copy, Debug)]
pub struct SlotRequest {
    pub provider_id: Uuid,
    pub starts_at: Timestamp,
    pub type_id: Option<Uuid>,
    pub duration_minutes: Option<i64>,
}

/// A slot claimed under the provider's lock, or time placed off the
/// schedule (`off_schedule`).
#[derive(Debug)]
pub struct Claimed {
    pub appointment_type: Option<appointment_type::Model>,
    pub slot: Span,
    /// The slot with the type's buffers: what the appointment takes.
    pub busy: Span,
    /// A call or meeting that is no slot of a schedule (see [`place`]).
    pub off_schedule: bool,
}

impl Claimed {
    /// The kind to record: the one asked for, else the type's.
    pub fn kind(&self, asked: Option<AppointmentKind>) -> AppointmentKind {
        asked
            .or_else(|| {
                self.appointment_type
                    .as_ref()
                    .and_then(|t| AppointmentKind::parse(&t.kind))
            })
            .unwrap_or(AppointmentKind::Consultation)
    }

    /// The title to record: the one given, else the type's name, else the kind.
    pub fn title(&self, given: Option<&str>, kind: AppointmentKind) -> String {
        given
            .map(str::to_owned)
            .or_else(|| self.appointment_type.as_ref().map(|t| t.name.clone()))
            .unwrap_or_else(|| kind.as_str().replace('_', "-"))
    }
}

/// How long a slot is and the buffers around it, in minutes: the length
/// asked for, else the type's, else seed 001's 30; the type's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub minutes: i64,
    pub before: i32,
    pub after: i32,
}

impl Shape {
    pub fn of(asked: Option<i64>, appointment_type: Option<&appointment_type::Model>) -> Self {
        Self {
            minutes: asked
                .or(appointment_type.map(|t| i64::from(t.duration_minutes)))
                .unwrap_or(i64::from(DEFAULT_DURATION)),
            before: appointment_type.map_or(0, |t| t.buffer_before_minutes),
            after: appointment_type.map_or(0, |t| t.buffer_after_minutes),
        }
    }
}

/// The type a request names, checked: of the facility, active, offered by
/// the provider.
pub async fn resolve_type(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    request: &SlotRequest,
) -> Result<Option<appointment_type::Model>, ApiError> {
    let Some(type_id) = request.type_id else {
        return Ok(None);
    };
    let found = store::find_type(db, scope, type_id)
        .await?
        .filter(|t| t.active)
        .ok_or_else(|| {
            ApiError::invalid(
                "type_id",
                "no active appointment type with this id in this facility",
            )
        })?;
    if !store::offers(db, type_id, request.provider_id).await? {
        return Err(ApiError::invalid(
            "type_id",
            "the provider does not offer this appointment type",
        ));
    }
    Ok(Some(found))
}

/// Locks the provider's bookings for the rest of `txn` and checks the
/// slot, leaving out `excluding` (the appointment being rescheduled) and
/// the waitlist hold `holder` (the offer being accepted).
pub async fn claim(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    request: &SlotRequest,
    excluding: Option<Uuid>,
    holder: Option<Uuid>,
    now: Timestamp,
) -> Result<Claimed, ApiError> {
    let schedule = store::lock_schedule(txn, scope.facility_id(), request.provider_id)
        .await?
        .ok_or_else(no_schedule)?;
    assess(txn, scope, schedule, request, excluding, holder, now).await
}

/// Checks the slot without taking the lock: what a booking would say now.
pub async fn peek(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    request: &SlotRequest,
    now: Timestamp,
) -> Result<Claimed, ApiError> {
    let schedule = store::provider_schedule(db, scope, request.provider_id)
        .await?
        .ok_or_else(no_schedule)?;
    assess(db, scope, schedule, request, None, None, now).await
}

fn no_schedule() -> ApiError {
    ApiError::invalid(
        "provider_id",
        "this provider has no schedule in this facility; set their working hours first",
    )
}

async fn assess(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    schedule: schedule::Model,
    request: &SlotRequest,
    excluding: Option<Uuid>,
    holder: Option<Uuid>,
    now: Timestamp,
) -> Result<Claimed, ApiError> {
    let (claimed, before, after) = shaped(db, scope, request, false).await?;
    let calendar = store::calendar(db, &schedule, claimed.busy, excluding, holder, now).await?;
    calendar
        .check(claimed.slot, before, after, now)
        .map_err(ApiError::from)?;
    Ok(claimed)
}

/// What `request` would take: its type, its slot, and the slot widened by
/// the type's buffers (with those buffers, which the calendar check needs).
async fn shaped(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    request: &SlotRequest,
    off_schedule: bool,
) -> Result<(Claimed, i32, i32), ApiError> {
    let appointment_type = resolve_type(db, scope, request).await?;
    let Shape {
        minutes,
        before,
        after,
    } = Shape::of(request.duration_minutes, appointment_type.as_ref());
    let slot = Span::new(request.starts_at, request.starts_at.plus_secs(minutes * 60));
    let claimed = Claimed {
        appointment_type,
        slot,
        busy: slot.widened(before, after),
        off_schedule,
    };
    Ok((claimed, before, after))
}

/// Inserts a booked appointment and schedules its reminders.
pub async fn insert(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    booking: &Booking,
    reminder_offsets: &[u32],
    now: Timestamp,
) -> Result<appointments::Model, ApiError> {
    insert_sealed(txn, booking, booking.seal(key, now), reminder_offsets, now).await
}

/// Inserts a booking sealed as `row`, once none of its people is booked
/// then (see `people`), and schedules its reminders.
async fn insert_sealed(
    txn: &impl ConnectionTrait,
    booking: &Booking,
    row: appointments::ActiveModel,
    reminder_offsets: &[u32],
    now: Timestamp,
) -> Result<appointments::Model, ApiError> {
    use sea_orm::ActiveModelTrait;
    people::keep_free(txn, booking, booking.rescheduled_from).await?;
    let row = row.insert(txn).await?;
    if row.appointment_status()?.is_live() {
        reminders::schedule(txn, &row, reminder_offsets, now).await?;
    }
    Ok(row)
}

/// Inserts a booking the way its time was taken: a slot of the schedule
/// as [`insert`] does, or off the schedule, where an entry logged as
/// completed is stamped started at its start and completed at its end.
pub async fn insert_claimed(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    booking: &Booking,
    claimed: &Claimed,
    reminder_offsets: &[u32],
    now: Timestamp,
) -> Result<appointments::Model, ApiError> {
    if !claimed.off_schedule {
        return insert(txn, key, booking, reminder_offsets, now).await;
    }
    let mut row = booking.seal(key, now);
    row.off_schedule = ActiveValue::Set(true);
    if booking.status == AppointmentStatus::Completed {
        row.started_at = ActiveValue::Set(Some(booking.slot.start));
        row.completed_at = ActiveValue::Set(Some(booking.slot.end.min(now)));
    }
    insert_sealed(txn, booking, row, reminder_offsets, now).await
}

/// Places a call or meeting that is no clinic slot (an SDR's discovery
/// call, a coach's video session, an entry logged after the fact): its
/// provider needs only a role in the facility, no schedule; working hours,
/// blocks and notice do not apply (a type, when named, must still be
/// active and offered by the provider). It starts in the future
/// unless it is logged as completed, and keeps clear of slots held for
/// waitlist offers; [`insert_claimed`] keeps its people from being booked
/// twice.
pub async fn place(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    request: &SlotRequest,
    status: AppointmentStatus,
    now: Timestamp,
) -> Result<Claimed, ApiError> {
    crate::access::memberships::require_members(
        txn,
        scope.facility_id(),
        &[("provider_id", Some(request.provider_id))],
    )
    .await?;
    let (claimed, _, _) = shaped(txn, scope, request, true).await?;
    if status != AppointmentStatus::Completed && claimed.slot.start < now {
        return Err(Unavailable::InThePast.into());
    }
    let busy = claimed.busy;
    let held = super::waitlist::holds_over(txn, &[request.provider_id], busy, None, now).await?;
    if held.iter().any(|(_, span)| span.overlaps(&busy)) {
        return Err(Unavailable::Taken.into());
    }
    Ok(claimed)
}

/// What happens when an appointment stops taking its time (cancelled,
/// rescheduled, no-show): its pending reminders are cancelled.
pub async fn release(
    txn: &impl ConnectionTrait,
    row: &appointments::Model,
    to: AppointmentStatus,
) -> Result<(), ApiError> {
    if !to.is_live() {
        reminders::cancel_pending(txn, row.id).await?;
    }
    Ok(())
}
