//! `/facilities/{facility_id}/appointments`: booking, reading and changing
//! appointments, with the helpers every appointment route shares;
//! `/appointment-reminders` (seed 000's `v_pending_reminders`). Reading
//! needs `appointment:read` and shows only appointments whose patient the
//! actor may see (a role without patient access sees lead appointments; a
//! patient sees their own). Booking and changing need `appointment:book`;
//! providers, coaches and sales change only the appointments they hold or
//! booked, the front desk and administrators any. The status machine and
//! rescheduling are in `appointment_move_routes`.
//!
//! An appointment is PHI (who sees whom, when, why), so every read is in
//! the audit log before the response leaves and every write appends its
//! event in its own transaction.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::appointments::{
    self, Appointment, AppointmentChanges, Booking, NewAppointment, PHI_FIELDS,
};
use super::booking::{self, SlotRequest};
use super::reminders::{self, Reminder, ReminderFilter};
use super::settings;
use super::store::{self, AppointmentFilter};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;
use crate::transition::StateMachine;
use crate::validation::Checks;

pub(super) const RESOURCE: &str = "appointment";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(book_appointment, list_appointments))
        .routes(routes!(get_appointment, update_appointment))
        .routes(routes!(list_reminders))
}

/// An event about an appointment, carrying its patient and lead so their
/// timelines show it.
pub(super) fn appointment_event(
    actor: &Actor,
    action: AuditAction,
    row: &appointments::Model,
) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(row.id)
        .facility(row.facility_id)
        .flag(ComplianceFlag::Phi)
        .concerning(row.patient_id, row.lead_id)
}

/// Opens appointments and returns them only once their reads are in the
/// audit log.
async fn open_recorded(
    state: &AppState,
    actor: &Actor,
    key: &DataKey,
    rows: &[appointments::Model],
) -> Result<Vec<Appointment>, ApiError> {
    let opened = rows
        .iter()
        .map(|row| Appointment::open(key, row))
        .collect::<Result<Vec<_>, _>>()?;
    let events = rows
        .iter()
        .map(|row| appointment_event(actor, AuditAction::Read, row))
        .collect();
    state.audit.record(events).await?;
    Ok(opened)
}

/// Checks what a booking points at, naming every bad reference at once: a
/// patient of the facility the actor can see, a lead of the facility.
pub(super) async fn check_references(
    db: &impl ConnectionTrait,
    actor: &Actor,
    scope: &FacilityScope,
    patient_id: Option<Uuid>,
    lead_id: Option<Uuid>,
) -> Result<(), ApiError> {
    let facility_id = scope.facility_id();
    let mut c = Checks::default();
    if let Some(patient_id) = patient_id
        && !crate::care::store::visible_to(db, actor, facility_id, patient_id).await?
    {
        c.fail("patient_id", crate::care::store::NOT_VISIBLE);
    }
    if let Some(lead_id) = lead_id
        && crate::crm::store::find(db, scope, lead_id).await?.is_none()
    {
        c.fail("lead_id", "no lead with this id in this facility");
    }
    c.done()
}

/// Books an appointment. The slot must be open: within the provider's
/// working hours, not blocked, clear of their other appointments (buffers
/// included) and of held waitlist offers, after the minimum notice. With
/// `off_schedule` it is a call or meeting that is no clinic slot: no
/// schedule, hours, blocks or notice apply, and logged as `completed` it
/// may lie in the past. Either way no provider, patient or lead is booked
/// twice: of two overlapping bookings only one succeeds, the other gets a
/// 409 `slot-unavailable` problem with `reason` `taken` (the provider) or
/// `attendee_busy` (the patient or lead). Reminders are scheduled by the
/// configured offsets.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/appointments",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewAppointment,
    responses((status = 201, description = "Booked", body = Appointment), Problems),
    security(("bearer" = []))
)]
async fn book_appointment(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewAppointment>,
) -> Result<(StatusCode, ApiJson<Appointment>), ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    new.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    check_references(&*txn, &actor, &scope, new.patient_id, new.lead_id).await?;
    let request = SlotRequest {
        provider_id: new.provider_id,
        starts_at: new.starts_at,
        type_id: new.type_id,
        duration_minutes: new.duration_minutes,
    };
    let claimed = if new.off_schedule {
        booking::place(&*txn, &scope, &request, new.status(), now).await?
    } else {
        booking::claim(&*txn, &scope, &request, None, None, now).await?
    };
    let kind = claimed.kind(new.kind);
    let booking = Booking {
        id: new_id(),
        facility_id,
        provider_id: new.provider_id,
        type_id: new.type_id,
        kind,
        title: claimed.title(new.title.as_deref(), kind),
        notes: new.notes.clone(),
        meeting_link: new.meeting_link.clone(),
        patient_id: new.patient_id,
        lead_id: new.lead_id,
        slot: claimed.slot,
        busy: claimed.busy,
        status: new.status(),
        rescheduled_from: None,
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
    let shown = Appointment::open(&key, &row)?;
    let after = serde_json::to_value(&shown).unwrap_or_default();
    let event = appointment_event(&actor, AuditAction::Create, &row)
        .changes(redact(json!({ "after": after }), PHI_FIELDS));
    super::lead_lifecycle::booked(&txn, &actor, &scope, &row).await?;
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// Lists appointments in order of their start, filtered, a page at a time.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/appointments",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), AppointmentFilter),
    responses((status = 200, description = "A page of appointments", body = Page<Appointment>), Problems),
    security(("bearer" = []))
)]
async fn list_appointments(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<AppointmentFilter>,
) -> Result<ApiJson<Page<Appointment>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let rows = store::page(state.db.conn(), &scope, &filter, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = open_recorded(&state, &actor, &key, &rows).await?;
    Ok(ApiJson(Page::new(items, limit, |a| a.id)))
}

/// Reads one appointment.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/appointments/{appointment_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("appointment_id" = Uuid, Path, description = "The appointment"),
    ),
    responses((status = 200, description = "The appointment", body = Appointment), Problems),
    security(("bearer" = []))
)]
async fn get_appointment(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, appointment_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Appointment>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_READ)?;
    let row = store::find(state.db.conn(), &scope, appointment_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let mut shown = open_recorded(&state, &actor, &key, &[row]).await?;
    shown.pop().map(ApiJson).ok_or(ApiError::NotFound)
}

/// An appointment the actor may change, read inside `txn`: visible to it,
/// and, unless its role reaches every appointment, held or booked by it
/// (403 otherwise, as the actor can already see it).
pub(super) async fn writable(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    appointment_id: Uuid,
) -> Result<appointments::Model, ApiError> {
    let row = store::find(txn, scope, appointment_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    scope.require_assigned(RESOURCE, &row.assignees())?;
    Ok(row)
}

/// Changes an appointment's title, notes or meeting link. Its time and
/// provider change by rescheduling; a closed appointment is not changed.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/appointments/{appointment_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("appointment_id" = Uuid, Path, description = "The appointment"),
    ),
    request_body = AppointmentChanges,
    responses((status = 200, description = "The changed appointment", body = Appointment), Problems),
    security(("bearer" = []))
)]
async fn update_appointment(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, appointment_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<AppointmentChanges>,
) -> Result<ApiJson<Appointment>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    changes.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable(&*txn, &scope, appointment_id).await?;
    let status = row.appointment_status()?;
    if status.next().is_empty() {
        return Err(ApiError::Conflict(format!(
            "the appointment is `{status}`, which is final; it is no longer changed"
        )));
    }
    let now = Timestamp::now();
    let row = store::update(&*txn, &scope, &key, row, &changes, now).await?;
    let shown = Appointment::open(&key, &row)?;
    let event = appointment_event(&actor, AuditAction::Update, &row)
        .changes(redact(json!({ "fields": changes.touched() }), PHI_FIELDS));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// Lists reminders: by default the pending ones (seed 000's
/// `v_pending_reminders`); `due_before=<now>` gives those due. Only
/// reminders of appointments the actor may see.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/appointment-reminders",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), ReminderFilter),
    responses((status = 200, description = "A page of reminders", body = Page<Reminder>), Problems),
    security(("bearer" = []))
)]
async fn list_reminders(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<ReminderFilter>,
) -> Result<ApiJson<Page<Reminder>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let rows = reminders::page(
        state.db.conn(),
        facility_id,
        store::visible(&scope),
        &filter,
        limit,
    )
    .await?;
    let items = rows
        .iter()
        .map(Reminder::try_from)
        .collect::<Result<_, _>>()?;
    Ok(ApiJson(Page::new(items, limit, |r: &Reminder| r.id)))
}
