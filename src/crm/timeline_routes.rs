//! `…/leads/{lead_id}/timeline` and `…/patients/{patient_id}/timeline`:
//! what happened to a lead or a patient, from the audit log. The patient's
//! is the CRM's route, not care's, because it joins in the history of the
//! leads the patient was converted from, which only the CRM knows; care
//! knows nothing of leads.

use axum::extract::State;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::routes::lead_event;
use super::store;
use crate::app::AppState;
use crate::audit::timeline::{self, Subject, Timeline, TimelineQuery};
use crate::audit::{AuditAction, redact};
use crate::care::store as patients;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{Actor, Permission};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lead_timeline))
        .routes(routes!(patient_timeline))
}

/// What happened to a patient, newest first, from the audit log: changes,
/// care journey moves, tasks and communications, and the history of the
/// leads it was converted from; with `include_reads=true` also every access.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/patients/{patient_id}/timeline",
    tag = "patients",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
        TimelineQuery,
    ),
    responses((status = 200, description = "The patient's timeline", body = Timeline), Problems),
    security(("bearer" = []))
)]
async fn patient_timeline(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<ApiJson<Timeline>, ApiError> {
    let scope = actor.facility(facility_id, Permission::PATIENT_READ)?;
    let db = state.db.conn();
    if patients::find(db, &scope, patient_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let leads = store::leads_converted_to(db, &scope, patient_id).await?;
    let subject = Subject::Patient {
        id: patient_id,
        leads,
    };
    let timeline = timeline::timeline(db, &scope, &subject, &query).await?;
    state
        .audit
        .record(vec![
            scope
                .patient_event(
                    &actor,
                    AuditAction::PatientAccess,
                    "patient",
                    patient_id,
                    patient_id,
                )
                .changes(redact(json!({ "view": "timeline" }), &[])),
        ])
        .await?;
    Ok(ApiJson(timeline))
}

/// What happened to a lead, newest first, from the audit log (seed 001's
/// `activity_logs`): its changes, moves, calls, tasks and communications;
/// with `include_reads=true` also every time it was viewed.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads/{lead_id}/timeline",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
        TimelineQuery,
    ),
    responses((status = 200, description = "The lead's timeline", body = Timeline), Problems),
    security(("bearer" = []))
)]
async fn lead_timeline(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<ApiJson<Timeline>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let db = state.db.conn();
    if store::find(db, &scope, lead_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let timeline = timeline::timeline(db, &scope, &Subject::Lead(lead_id), &query).await?;
    state
        .audit
        .record(vec![
            lead_event(&actor, AuditAction::Read, facility_id, lead_id)
                .changes(redact(json!({ "view": "timeline" }), &[])),
        ])
        .await?;
    Ok(ApiJson(timeline))
}
