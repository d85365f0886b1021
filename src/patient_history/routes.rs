//! `/facilities/{facility_id}/patients/{patient_id}/history`: a patient's
//! visits. Reading needs `history:read` and a patient the caller sees (an
//! emergency-access grant counts); each visit read is a `patient_access`
//! event, recorded before the answer leaves. Writing needs
//! `history:write`; each write is audited with its changed fields, never
//! their values.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store;
use super::visits::{Model, NewVisit, PHI_FIELDS, Record, Visit, VisitChanges};
use crate::access::{emergency, memberships};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, redact};
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

const RESOURCE: &str = "patient_history";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_visit, list_visits))
        .routes(routes!(get_visit, update_visit))
}

/// The scope to read `patient_id`'s history in: the caller's role in the
/// facility, or a live emergency-access grant to that patient.
async fn reading_scope(
    state: &AppState,
    actor: &Actor,
    facility_id: Uuid,
    patient_id: Uuid,
) -> Result<FacilityScope, ApiError> {
    let scope = emergency::patient_scope(
        state.db.conn(),
        actor,
        facility_id,
        patient_id,
        Permission::HISTORY_READ,
    )
    .await?;
    store::patient_in_reach(state.db.conn(), &scope, patient_id).await?;
    Ok(scope)
}

fn visit_event(
    actor: &Actor,
    scope: &FacilityScope,
    action: AuditAction,
    row: &Model,
) -> AuditEvent {
    scope.patient_event(actor, action, RESOURCE, row.id, row.patient_id)
}

/// Opens `rows` for the reader once their reads are in the audit log.
async fn open_recorded(
    state: &AppState,
    actor: &Actor,
    scope: &FacilityScope,
    key: &DataKey,
    rows: &[Model],
) -> Result<Vec<Visit>, ApiError> {
    let visits = rows
        .iter()
        .map(|row| row.open(key))
        .collect::<Result<Vec<_>, _>>()?;
    let events = rows
        .iter()
        .map(|row| visit_event(actor, scope, AuditAction::PatientAccess, row))
        .collect();
    state.audit.record(events).await?;
    Ok(visits)
}

/// Records a visit in the patient's history.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/patients/{patient_id}/history",
    tag = "patient history",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
    ),
    request_body = NewVisit,
    responses((status = 201, description = "Recorded", body = Visit), Problems),
    security(("bearer" = []))
)]
async fn record_visit(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(new): ApiJson<NewVisit>,
) -> Result<(StatusCode, ApiJson<Visit>), ApiError> {
    let scope = actor.facility(facility_id, Permission::HISTORY_WRITE)?;
    let now = Timestamp::now();
    new.validate(now)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    store::patient_in_reach(&*txn, &scope, patient_id).await?;
    memberships::require_members(
        &*txn,
        facility_id,
        &[("attending_physician_id", new.attending_physician_id)],
    )
    .await?;
    let record = Record {
        id: new_id(),
        facility_id,
        patient_id,
        recorded_by: scope.account_id(),
        created_at: now,
        updated_at: now,
    };
    let row = store::insert(&*txn, &scope, new.seal(&key, record)).await?;
    let visit = row.open(&key)?;
    let after = serde_json::to_value(&visit).unwrap_or_default();
    let event = visit_event(&actor, &scope, AuditAction::Create, &row)
        .changes(redact(json!({ "after": after }), PHI_FIELDS));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(visit)))
}

/// The patient's visits, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/patients/{patient_id}/history",
    tag = "patient history",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of visits", body = Page<Visit>), Problems),
    security(("bearer" = []))
)]
async fn list_visits(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<Visit>>, ApiError> {
    let limit = page.limit()?;
    let scope = reading_scope(&state, &actor, facility_id, patient_id).await?;
    let rows = store::page(state.db.conn(), &scope, patient_id, page.after, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let visits = open_recorded(&state, &actor, &scope, &key, &rows).await?;
    Ok(ApiJson(Page::new(visits, limit, |v| v.id)))
}

/// One visit.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/patients/{patient_id}/history/{visit_id}",
    tag = "patient history",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
        ("visit_id" = Uuid, Path, description = "The visit"),
    ),
    responses((status = 200, description = "The visit", body = Visit), Problems),
    security(("bearer" = []))
)]
async fn get_visit(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id, visit_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<ApiJson<Visit>, ApiError> {
    let scope = reading_scope(&state, &actor, facility_id, patient_id).await?;
    let row = store::find(state.db.conn(), &scope, patient_id, visit_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let mut visits = open_recorded(&state, &actor, &scope, &key, &[row]).await?;
    visits.pop().map(ApiJson).ok_or(ApiError::NotFound)
}

/// Corrects a visit: absent fields stay, `null` clears an optional one.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/patients/{patient_id}/history/{visit_id}",
    tag = "patient history",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
        ("visit_id" = Uuid, Path, description = "The visit"),
    ),
    request_body = VisitChanges,
    responses((status = 200, description = "Corrected", body = Visit), Problems),
    security(("bearer" = []))
)]
async fn update_visit(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id, visit_id)): ApiPath<(Uuid, Uuid, Uuid)>,
    ApiJson(changes): ApiJson<VisitChanges>,
) -> Result<ApiJson<Visit>, ApiError> {
    let scope = actor.facility(facility_id, Permission::HISTORY_WRITE)?;
    let touched = changes.touched();
    let now = Timestamp::now();
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    store::patient_in_reach(&*txn, &scope, patient_id).await?;
    let current = store::find(&*txn, &scope, patient_id, visit_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let visit = changes.apply(current.open_fields(&key)?, now)?;
    memberships::require_members(
        &*txn,
        facility_id,
        &[("attending_physician_id", visit.attending_physician_id)],
    )
    .await?;
    let record = Record {
        updated_at: now,
        ..current.record()
    };
    let before = current.open(&key)?;
    let row = store::replace(&*txn, &scope, visit.seal(&key, record)).await?;
    let after = row.open(&key)?;
    let recorded = audit::changes::changed(
        &key,
        &touched,
        &serde_json::to_value(&before).unwrap_or_default(),
        &serde_json::to_value(&after).unwrap_or_default(),
        PHI_FIELDS,
    );
    let event = visit_event(&actor, &scope, AuditAction::Update, &row).changes(recorded);
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(after))
}
