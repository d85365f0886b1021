//! `/facilities/{facility_id}/waitlist`: patients and leads waiting for a
//! slot (seed 000). Joining, cancelling and accepting an offer need
//! `appointment:book`; reading needs `appointment:read` and shows entries
//! of the patients the actor may see. Entries are PHI: reads are audited.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::appointment_routes::{appointment_event, check_references};
use super::appointments::{Appointment, AppointmentStatus, Booking};
use super::booking::{self, SlotRequest};
use super::schedules::DEFAULT_DURATION;
use super::settings;
use super::store;
use super::waitlist::{self, NewWaitlistEntry, PHI_FIELDS, WaitlistEntry, WaitlistStatus};
use super::waitlist_store::{self, WaitlistFilter};
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

const RESOURCE: &str = "waitlist_entry";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join_waitlist, list_waitlist))
        .routes(routes!(get_waitlist_entry))
        .routes(routes!(cancel_waitlist_entry))
        .routes(routes!(accept_waitlist_offer))
}

fn entry_event(actor: &Actor, action: AuditAction, row: &waitlist::Model) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(row.id)
        .facility(row.facility_id)
        .flag(ComplianceFlag::Phi)
        .concerning(row.patient_id, row.lead_id)
}

async fn open_entries(
    db: &impl ConnectionTrait,
    key: &DataKey,
    rows: &[waitlist::Model],
) -> Result<Vec<WaitlistEntry>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let providers = waitlist::providers_of(db, &ids).await?;
    rows.iter()
        .map(|row| {
            let wanted = providers
                .iter()
                .filter(|p| p.waitlist_id == row.id)
                .map(|p| p.provider_id)
                .collect();
            WaitlistEntry::open(key, row, wanted)
        })
        .collect()
}

/// Puts a patient or lead on the waitlist for a type, some providers (or
/// any) and a window of time.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/waitlist",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewWaitlistEntry,
    responses((status = 201, description = "On the waitlist", body = WaitlistEntry), Problems),
    security(("bearer" = []))
)]
async fn join_waitlist(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewWaitlistEntry>,
) -> Result<(StatusCode, ApiJson<WaitlistEntry>), ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    let now = Timestamp::now();
    new.validate(now)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    check_references(&*txn, &actor, &scope, new.patient_id, new.lead_id).await?;
    let duration = match new.type_id {
        Some(type_id) => {
            let found = store::find_type(&*txn, &scope, type_id)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(
                        "type_id",
                        "no appointment type with this id in this facility",
                    )
                })?;
            new.duration_minutes.unwrap_or(found.duration_minutes)
        }
        None => new.duration_minutes.unwrap_or(DEFAULT_DURATION),
    };
    memberships::require_each_member(&*txn, facility_id, "provider_ids", &new.provider_ids).await?;
    let (row, providers) = waitlist_store::insert(&*txn, &scope, &key, &new, duration, now).await?;
    let shown = WaitlistEntry::open(&key, &row, providers)?;
    let event = entry_event(&actor, AuditAction::Create, &row).changes(redact(
        json!({ "after": serde_json::to_value(&shown).unwrap_or_default() }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// Lists waitlist entries in the order they joined (ids are time-ordered).
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/waitlist",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), WaitlistFilter),
    responses((status = 200, description = "A page of entries", body = Page<WaitlistEntry>), Problems),
    security(("bearer" = []))
)]
async fn list_waitlist(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<WaitlistFilter>,
) -> Result<ApiJson<Page<WaitlistEntry>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let db = state.db.conn();
    let rows = waitlist_store::page(db, &scope, &filter, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = open_entries(db, &key, &rows).await?;
    state
        .audit
        .record(
            rows.iter()
                .map(|row| entry_event(&actor, AuditAction::Read, row))
                .collect(),
        )
        .await?;
    Ok(ApiJson(Page::new(items, limit, |e| e.id)))
}

/// Reads one waitlist entry, as the list shows it; the read is audited.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/waitlist/{entry_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("entry_id" = Uuid, Path, description = "The waitlist entry"),
    ),
    responses((status = 200, description = "The entry", body = WaitlistEntry), Problems),
    security(("bearer" = []))
)]
async fn get_waitlist_entry(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, entry_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<WaitlistEntry>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_READ)?;
    let db = state.db.conn();
    let row = waitlist_store::find(db, &scope, entry_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let shown = open_entries(db, &key, std::slice::from_ref(&row))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    state
        .audit
        .record(vec![entry_event(&actor, AuditAction::Read, &row)])
        .await?;
    Ok(ApiJson(shown))
}

async fn writable_entry(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    entry_id: Uuid,
) -> Result<waitlist::Model, ApiError> {
    let row = waitlist_store::find(txn, scope, entry_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    scope.require_assigned(RESOURCE, &[Some(row.created_by)])?;
    Ok(row)
}

/// Takes an entry off the waitlist (an offer it holds is released).
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/waitlist/{entry_id}/cancel",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("entry_id" = Uuid, Path, description = "The waitlist entry"),
    ),
    responses((status = 200, description = "Cancelled", body = WaitlistEntry), Problems),
    security(("bearer" = []))
)]
async fn cancel_waitlist_entry(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, entry_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<WaitlistEntry>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_entry(&*txn, &scope, entry_id).await?;
    let from = row.waitlist_status()?;
    if !matches!(from, WaitlistStatus::Waiting | WaitlistStatus::Offered) {
        return Err(ApiError::Conflict(format!(
            "the entry is `{from}`; only a waiting or offered entry is cancelled"
        )));
    }
    let row = waitlist_store::set_status(
        &*txn,
        row,
        WaitlistStatus::Cancelled,
        None,
        Timestamp::now(),
    )
    .await?;
    let shown = open_entries(&*txn, &key, std::slice::from_ref(&row))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let event = entry_event(&actor, AuditAction::Update, &row).changes(redact(
        json!({ "status": { "from": from, "to": WaitlistStatus::Cancelled } }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// Accepts the slot offered to an entry before the offer expires: books it
/// (confirmed) for the entry's patient or lead, and marks the entry booked.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/waitlist/{entry_id}/accept",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("entry_id" = Uuid, Path, description = "The waitlist entry"),
    ),
    responses((status = 201, description = "The booked appointment", body = Appointment), Problems),
    security(("bearer" = []))
)]
async fn accept_waitlist_offer(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, entry_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, ApiJson<Appointment>), ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    let key = state.keyring.facility(facility_id).await?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let entry = writable_entry(&*txn, &scope, entry_id).await?;
    let (Some(provider_id), Some(starts_at), true) = (
        entry.offer_provider_id,
        entry.offer_starts_at,
        entry.held(now)?.is_some(),
    ) else {
        return Err(ApiError::Conflict(format!(
            "the entry is `{}` and holds no offer that is still open",
            entry.waitlist_status()?
        )));
    };
    let request = SlotRequest {
        provider_id,
        starts_at,
        type_id: entry.type_id,
        duration_minutes: Some(i64::from(entry.duration_minutes)),
    };
    let claimed = booking::claim(&*txn, &scope, &request, None, Some(entry.id), now).await?;
    let kind = claimed.kind(None);
    let booking = Booking {
        id: new_id(),
        facility_id,
        provider_id,
        type_id: entry.type_id,
        kind,
        title: claimed.title(None, kind),
        notes: None,
        meeting_link: None,
        patient_id: entry.patient_id,
        lead_id: entry.lead_id,
        slot: claimed.slot,
        busy: claimed.busy,
        status: AppointmentStatus::Confirmed,
        rescheduled_from: None,
        created_by: actor.account_id(),
    };
    let row = booking::insert(
        &*txn,
        &key,
        &booking,
        &settings::of(&state).reminder_offsets_minutes,
        now,
    )
    .await?;
    waitlist_store::set_status(
        &*txn,
        entry.clone(),
        WaitlistStatus::Booked,
        Some(row.id),
        now,
    )
    .await?;
    let shown = Appointment::open(&key, &row)?;
    let events = vec![
        entry_event(&actor, AuditAction::Update, &entry).changes(redact(
            json!({ "status": { "from": "offered", "to": "booked" }, "appointment_id": row.id }),
            PHI_FIELDS,
        )),
        appointment_event(&actor, AuditAction::Create, &row).changes(redact(
            json!({ "after": serde_json::to_value(&shown).unwrap_or_default(), "waitlist_entry": entry.id }),
            super::appointments::PHI_FIELDS,
        )),
    ];
    super::lead_lifecycle::booked(&txn, &actor, &scope, &row).await?;
    audit::commit(txn, events).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}
