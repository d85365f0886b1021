//! `/facilities/{facility_id}/communications`: seed 000's
//! `log_communication`, with a lead or a patient, and the log it keeps.
//! Logging changes the lead it concerns in the same transaction and appends
//! its audit event there; each read of sealed content is in the audit log
//! before the response leaves.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::activity::{self, LeadActivity};
use super::communications::{
    self, Communication, CommunicationDirection, CommunicationFilter, Counterpart, LoggedBy,
    NewCommunication, Reach,
};
use super::lifecycle::{self, Fact, LeadMoveCause};
use super::store;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::care;
use crate::crypto::DataKey;
use crate::db::{ConstraintViolation, new_id};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, PatientFilter, Permission, Principal};
use crate::time::Timestamp;

/// Seed 000's `communication_audit` view shows the events of this resource.
const COMMUNICATION_RESOURCE: &str = "communication";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(log_communication, list_communications))
}

/// Whether the actor may log a communication with this patient of the
/// facility.
///
/// An actor that reads patients here (`patient:read`) must be able to read
/// this one: its reach among patients applies, as everywhere else. An
/// actor without `patient:read` — typically n8n's key, scoped to
/// `communication:log` only — reads no patient, yet logging what was sent
/// to a patient (a reminder, a portal message) is exactly what that
/// permission is for; for it the patient need only be one of this
/// facility's. That reveals nothing beyond what the caller sent: the answer
/// is its own communication, and a patient of another facility, or none,
/// is not found either way.
async fn may_log_with_patient(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facility_id: Uuid,
    patient_id: Uuid,
) -> Result<bool, ApiError> {
    match actor.facility(facility_id, Permission::PATIENT_READ) {
        Ok(patients) => Ok(care::store::find(db, &patients, patient_id)
            .await?
            .is_some()),
        Err(_) => Ok(care::store::exists(db, facility_id, patient_id).await?),
    }
}

/// The answer to a key already used: the original communication (200) when
/// the request is the same, a conflict when it is not. A caller sees the
/// original only by sending its exact content, so a replay shows nothing
/// new, and writes nothing.
fn replay(
    key: &DataKey,
    new: &NewCommunication,
    existing: &communications::Model,
) -> Result<(StatusCode, ApiJson<Communication>), ApiError> {
    if existing.request_digest != new.digest(key) {
        return Err(ApiError::Conflict(format!(
            "the idempotency key was already used for communication {} with other content",
            existing.id
        )));
    }
    Ok((StatusCode::OK, ApiJson(Communication::open(key, existing)?)))
}

/// Logs a communication with a lead or a patient (seed 000's
/// `log_communication`, for n8n and other integrations). Idempotent by
/// `idempotency_key`: the first request answers 201, a retry with the same
/// content answers 200 with the same record, the same key with other
/// content 409. With a lead, an inbound communication counts as its reply
/// and activity, an outbound one as contact; the lead is rescored, and a
/// `new` lead moves to `contacted` either way (cause
/// `communication_logged`: it is in conversation with the facility; only an
/// outbound one dates its first contact, which speed-to-lead measures). Logging
/// records what happened rather than working the lead, so it is not limited
/// to the leads assigned to the caller.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/communications",
    tag = "communications",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewCommunication,
    responses(
        (status = 201, description = "Logged", body = Communication),
        (status = 200, description = "Logged before under this key", body = Communication),
        Problems
    ),
    security(("bearer" = []))
)]
async fn log_communication(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewCommunication>,
) -> Result<(StatusCode, ApiJson<Communication>), ApiError> {
    let scope = actor.facility(facility_id, Permission::COMMUNICATION_LOG)?;
    let now = Timestamp::now();
    let counterpart = new.validate(now)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let found = match counterpart {
        Counterpart::Lead(lead_id) => store::find(&*txn, &scope, lead_id).await?.is_some(),
        Counterpart::Patient(patient_id) => {
            may_log_with_patient(&*txn, &actor, facility_id, patient_id).await?
        }
    };
    if !found {
        return Err(ApiError::NotFound);
    }
    if let Some(existing) = communications::find_by_key(&*txn, &scope, &new.idempotency_key).await?
    {
        txn.rollback().await?;
        return replay(&key, &new, &existing);
    }
    let id = new_id();
    let inserted =
        communications::insert(&*txn, &scope, &key, id, &new, logged_by(&actor), now).await;
    let row = match inserted {
        Ok(row) => row,
        Err(e)
            if ConstraintViolation::from_db_err(&e)
                .is_some_and(|v| v.is(communications::KEY_CONSTRAINT)) =>
        {
            // A concurrent request with the same key won; answer as its retry.
            txn.rollback().await?;
            let existing =
                communications::find_by_key(state.db.conn(), &scope, &new.idempotency_key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Conflict("the idempotency key is in use; retry".to_owned())
                    })?;
            return replay(&key, &new, &existing);
        }
        Err(e) => return Err(e.into()),
    };
    let mut moved = None;
    if let Counterpart::Lead(lead_id) = counterpart {
        let lead = activity::record(
            &*txn,
            lead_id,
            lead_activity(new.direction, row.occurred_at),
        )
        .await?;
        let fact = Fact::new(LeadMoveCause::CommunicationLogged, row.id);
        moved = lifecycle::follow(&*txn, &scope, &actor, lead, fact)
            .await?
            .1;
    }
    let logged = Communication::open(&key, &row)?;
    let event = communication_event(&actor, AuditAction::Create, &row).changes(redact(
        json!({
            "channel": logged.channel,
            "direction": logged.direction,
            "retention_category": logged.retention_category,
            "contains_phi": logged.contains_phi,
            "idempotency_key": logged.idempotency_key,
        }),
        &["summary"],
    ));
    audit::commit(txn, [event].into_iter().chain(moved).collect()).await?;
    Ok((StatusCode::CREATED, ApiJson(logged)))
}

/// Who logged a communication: the account, and the API key it used.
fn logged_by(actor: &Actor) -> LoggedBy {
    LoggedBy {
        account_id: actor.account_id(),
        api_key_id: match actor.principal {
            Principal::ApiKey { key_id, .. } => Some(key_id),
            Principal::Account { .. } => None,
        },
    }
}

/// What a communication with a lead counts as: a reply when it came in, a
/// contact when it went out.
fn lead_activity(direction: CommunicationDirection, occurred_at: Timestamp) -> LeadActivity {
    match direction {
        CommunicationDirection::Inbound => LeadActivity {
            replies: 1,
            active_at: Some(occurred_at),
            ..LeadActivity::default()
        },
        CommunicationDirection::Outbound => LeadActivity {
            contacted_at: Some(occurred_at),
            ..LeadActivity::default()
        },
    }
}

/// An event about a communication: with its lead or patient, flagged PHI
/// when the communication carried PHI.
fn communication_event(
    actor: &Actor,
    action: AuditAction,
    row: &communications::Model,
) -> AuditEvent {
    let mut event = actor
        .event(action, COMMUNICATION_RESOURCE)
        .resource(row.id)
        .facility(row.facility_id);
    if let Some(lead_id) = row.lead_id {
        event = event.lead(lead_id);
    }
    if let Some(patient_id) = row.patient_id {
        event = event.patient(patient_id);
    }
    if row.contains_phi {
        event = event.flag(ComplianceFlag::Phi);
    }
    event
}

/// The facility's communications, oldest first: a lead's (`lead_id`), a
/// patient's (`patient_id`, for actors who read that patient), or all that
/// the actor may read — every lead's, and every patient's when it reads
/// every patient of the facility.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/communications",
    tag = "communications",
    params(("facility_id" = Uuid, Path, description = "The facility"), CommunicationFilter),
    responses((status = 200, description = "A page of communications", body = Page<Communication>), Problems),
    security(("bearer" = []))
)]
async fn list_communications(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<CommunicationFilter>,
) -> Result<ApiJson<Page<Communication>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let db = state.db.conn();
    let patients = actor.facility(facility_id, Permission::PATIENT_READ).ok();
    let reach = match (filter.lead_id, filter.patient_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "patient_id",
                "filter by lead_id or by patient_id, not both",
            ));
        }
        (Some(lead_id), None) => {
            store::find(db, &scope, lead_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            Reach::Lead(lead_id)
        }
        (None, Some(patient_id)) => {
            let patients = patients.ok_or_else(|| {
                ApiError::Forbidden(
                    "a patient's communications need the `patient:read` permission".to_owned(),
                )
            })?;
            care::store::find(db, &patients, patient_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            Reach::Patient(patient_id)
        }
        (None, None) => {
            if patients.is_some_and(|p| p.patients() == PatientFilter::All) {
                Reach::All
            } else {
                Reach::LeadsOnly
            }
        }
    };
    let rows = communications::page(db, &scope, reach, filter.after, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = rows
        .iter()
        .map(|row| Communication::open(&key, row))
        .collect::<Result<Vec<_>, _>>()?;
    let events = items
        .iter()
        .zip(&rows)
        .map(|(shown, row)| {
            communication_event(&actor, AuditAction::Read, row).changes(redact(
                json!({
                    "channel": shown.channel,
                    "direction": shown.direction,
                    "retention_category": shown.retention_category,
                }),
                &[],
            ))
        })
        .collect();
    state.audit.record(events).await?;
    Ok(ApiJson(Page::new(items, limit, |c| c.id)))
}
