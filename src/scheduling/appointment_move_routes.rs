//! `/facilities/{facility_id}/appointments/{appointment_id}/status` and
//! `/reschedule`: an appointment's moves through its state machine. Both
//! need `appointment:book` and reach the appointments the actor may change
//! (`appointment_routes::writable`); a closed or moved-away slot is offered
//! to the waitlist. Every move appends its event in its own transaction.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use sea_orm::entity::prelude::*;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::appointment_routes::{appointment_event, writable};
use super::appointments::{self, Appointment, AppointmentStatus, Booking, PHI_FIELDS, StatusName};
use super::booking::{self, SlotRequest};
use super::facility_rules::FacilityRules;
use super::settings;
use super::store;
use super::waitlist::{self, FreedSlot};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;
use crate::transition::StateMachine;
use crate::validation::Checks;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(move_appointment_status))
        .routes(routes!(reschedule_appointment))
}

/// A move of an appointment's status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentStatusMove {
    /// Seed 000's name, or seed 001's Scheduled (confirmed), Completed,
    /// Cancelled, No Show.
    pub status: StatusName,
}

/// Offers the time a closed appointment no longer takes to the waitlist.
async fn offer_freed_time(
    state: &AppState,
    txn: &impl ConnectionTrait,
    row: &appointments::Model,
    now: Timestamp,
) -> Result<Option<Uuid>, ApiError> {
    let freed = FreedSlot {
        facility_id: row.facility_id,
        provider_id: row.provider_id,
        type_id: row.type_id,
        slot: super::slots::Span::new(row.starts_at, row.ends_at),
    };
    waitlist::offer(state, txn, freed, now).await
}

/// Moves an appointment by the machine: pending → confirmed → reminded →
/// checked_in → in_progress → completed; confirmed, reminded or checked_in
/// → no_show; any state not yet started → cancelled. A facility on the
/// simple flow (seed 001: `settings.scheduling.status_flow` `simple`) also
/// moves any of those straight to completed or no_show. Any other move is
/// refused with the allowed ones (409 `invalid-transition`); a reschedule
/// is its own request. Check-in (and a completion that skips it) opens
/// `check_in_opens_minutes` before the start (60 unless the facility sets
/// it), a no-show `no_show_after_minutes` after it (0): earlier is a 409
/// `too-early` problem with `reason` `check_in_window` or
/// `no_show_window`. Cancelling or a no-show cancels pending reminders; a
/// cancelled slot is offered to the waitlist.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/appointments/{appointment_id}/status",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("appointment_id" = Uuid, Path, description = "The appointment"),
    ),
    request_body = AppointmentStatusMove,
    responses((status = 200, description = "The moved appointment", body = Appointment), Problems),
    security(("bearer" = []))
)]
async fn move_appointment_status(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, appointment_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<AppointmentStatusMove>,
) -> Result<ApiJson<Appointment>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    if body.status.0 == AppointmentStatus::Rescheduled {
        return Err(ApiError::invalid(
            "status",
            "reschedule with POST …/appointments/{id}/reschedule, which books the new time",
        ));
    }
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable(&*txn, &scope, appointment_id).await?;
    let from = row.appointment_status()?;
    let rules = FacilityRules::of(&*txn, facility_id).await?;
    let to = rules.status_flow.transition(from, body.status.0)?;
    let now = Timestamp::now();
    rules.check_timing(&row, from, to, now)?;
    booking::release(&*txn, &row, to).await?;
    let row = appointments::move_to(&*txn, &row, to, now)
        .await?
        .ok_or_else(appointments::moved_meanwhile)?;
    let offered = if to == AppointmentStatus::Cancelled {
        offer_freed_time(&state, &*txn, &row, now).await?
    } else {
        None
    };
    let shown = Appointment::open(&key, &row)?;
    let event = appointment_event(&actor, AuditAction::Update, &row).changes(redact(
        json!({ "status": { "from": from, "to": to }, "waitlist_offer": offered }),
        PHI_FIELDS,
    ));
    super::lead_lifecycle::moved(&txn, &actor, &scope, &row).await?;
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// A new time (and perhaps provider) for an appointment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    pub starts_at: Timestamp,
    /// Another provider with a schedule; the same one when absent.
    pub provider_id: Option<Uuid>,
    /// 1 to 720; the current length when absent.
    pub duration_minutes: Option<i64>,
}

/// The slot a reschedule asks for: the new start, with the same provider,
/// type and length unless it names others.
fn new_slot(body: &Reschedule, old: &appointments::Model) -> SlotRequest {
    SlotRequest {
        provider_id: body.provider_id.unwrap_or(old.provider_id),
        starts_at: body.starts_at,
        type_id: old.type_id,
        duration_minutes: Some(
            body.duration_minutes
                .unwrap_or((old.ends_at.as_micros() - old.starts_at.as_micros()) / 60_000_000),
        ),
    }
}

/// A rescheduled appointment keeps waiting for confirmation if it was;
/// otherwise the new time is confirmed.
fn status_of_new_time(from: AppointmentStatus) -> AppointmentStatus {
    if from == AppointmentStatus::Pending {
        AppointmentStatus::Pending
    } else {
        AppointmentStatus::Confirmed
    }
}

/// Reschedules: books the new time as a new appointment that points back
/// at this one (`rescheduled_from`), and moves this one to `rescheduled`,
/// together. The old time is offered to the waitlist; the old reminders
/// are cancelled and new ones scheduled.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/appointments/{appointment_id}/reschedule",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("appointment_id" = Uuid, Path, description = "The appointment"),
    ),
    request_body = Reschedule,
    responses((status = 201, description = "The new appointment", body = Appointment), Problems),
    security(("bearer" = []))
)]
async fn reschedule_appointment(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, appointment_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<Reschedule>,
) -> Result<(StatusCode, ApiJson<Appointment>), ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    let mut c = Checks::default();
    appointments::check_slot(&mut c, body.starts_at, body.duration_minutes);
    c.done()?;
    let key = state.keyring.facility(facility_id).await?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let old = writable(&*txn, &scope, appointment_id).await?;
    let from = old.appointment_status()?;
    let to = from.transition(AppointmentStatus::Rescheduled)?;
    let request = new_slot(&body, &old);
    let provider_id = request.provider_id;
    // Both providers' schedules are locked first, in id order, so two
    // reschedules that swap providers cannot wait on each other, and no
    // schedule lock is taken after the people's (see `people`).
    if provider_id != old.provider_id {
        let mut providers = [old.provider_id, provider_id];
        providers.sort();
        for provider in providers {
            store::lock_schedule(&*txn, facility_id, provider).await?;
        }
    }
    let claimed = if old.off_schedule {
        booking::place(&*txn, &scope, &request, status_of_new_time(from), now).await?
    } else {
        booking::claim(&*txn, &scope, &request, Some(old.id), None, now).await?
    };
    let opened = Appointment::open(&key, &old)?;
    booking::release(&*txn, &old, to).await?;
    let old = appointments::move_to(&*txn, &old, to, now)
        .await?
        .ok_or_else(appointments::moved_meanwhile)?;
    let booking = Booking {
        id: new_id(),
        facility_id,
        provider_id,
        type_id: old.type_id,
        kind: opened.kind,
        title: opened.title,
        notes: opened.notes,
        meeting_link: opened.meeting_link,
        patient_id: old.patient_id,
        lead_id: old.lead_id,
        slot: claimed.slot,
        busy: claimed.busy,
        status: status_of_new_time(from),
        rescheduled_from: Some(old.id),
        created_by: actor.account_id(),
    };
    let row = booking::insert_claimed(
        &*txn,
        &key,
        &booking,
        &claimed,
        &settings::of(&state).reminder_offsets_minutes,
        now,
    )
    .await?;
    let offered = offer_freed_time(&state, &*txn, &old, now).await?;
    let shown = Appointment::open(&key, &row)?;
    let events = vec![
        appointment_event(&actor, AuditAction::Update, &old).changes(redact(
            json!({ "status": { "from": from, "to": to }, "rescheduled_to": row.id, "waitlist_offer": offered }),
            PHI_FIELDS,
        )),
        appointment_event(&actor, AuditAction::Create, &row).changes(redact(
            json!({ "after": serde_json::to_value(&shown).unwrap_or_default() }),
            PHI_FIELDS,
        )),
    ];
    audit::commit(txn, events).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}
