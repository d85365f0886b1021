//! `/facilities/{facility_id}/journeys`: patients on care pathways (seed
//! 001's contacts and their fifteen stages), listed by stage and by coach,
//! moved from stage to stage, with a health coach assigned. Health coaches
//! change the journeys they coach; facility administrators change any.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::journey::{self, Enrolment, Journey, JourneyFilter, JourneyUpdate, row};
use super::store as patients;
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::{DataKey, RowSealer};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::pipelines::store::{self as pipelines, Pipeline, PipelineKind};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;
use crate::validation::Checks;

const RESOURCE: &str = "care_journey";
const PHI_FIELDS: &[&str] = &["notes"];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enrol_patient))
        .routes(routes!(list_journeys))
        .routes(routes!(get_journey, update_journey))
        .routes(routes!(move_journey_stage))
}

fn journey_event(actor: &Actor, action: AuditAction, row: &row::Model) -> AuditEvent {
    let event = actor
        .event(action, RESOURCE)
        .resource(row.id)
        .facility(row.facility_id)
        .patient(row.patient_id)
        .flag(ComplianceFlag::Phi);
    match row.lead_id {
        Some(lead) => event.lead(lead),
        None => event,
    }
}

/// The care pathway `id`, or the facility's default one.
pub async fn pathway(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Option<Uuid>,
) -> Result<Pipeline, ApiError> {
    match id {
        Some(id) => pipelines::find(db, scope, id)
            .await?
            .filter(|p| p.kind == PipelineKind::Care)
            .ok_or_else(|| ApiError::invalid("pathway_id", "no care pathway with this id")),
        None => pipelines::default_of(db, scope, PipelineKind::Care)
            .await?
            .ok_or_else(|| ApiError::Conflict("this facility has no care pathway".to_owned())),
    }
}

/// Opens journeys with their stage names.
async fn open_all(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    rows: &[row::Model],
) -> Result<Vec<Journey>, ApiError> {
    let pathways = pipelines::list(db, scope, Some(PipelineKind::Care)).await?;
    let stage_name = |id: Uuid| {
        pathways
            .iter()
            .find_map(|p| p.stage(id))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    rows.iter()
        .map(|r| Ok(Journey::open(key, r, stage_name(r.stage_id))?))
        .collect()
}

/// Enrols a patient in a care pathway, or says which journey it is on.
pub struct NewJourneyPlace<'a> {
    pub pathway_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub health_coach_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub notes: Option<&'a str>,
}

/// Puts a patient on a pathway (the default care journey unless given), at
/// its first stage unless given, with a coach who must belong to the
/// facility. Shared by enrolment and lead conversion; in the caller's
/// transaction.
pub async fn enrol_in(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    actor: &Actor,
    patient_id: Uuid,
    place: NewJourneyPlace<'_>,
) -> Result<row::Model, ApiError> {
    let pathway = pathway(txn, scope, place.pathway_id).await?;
    let stage = match place.stage_id {
        Some(id) => pathway
            .stage(id)
            .ok_or_else(|| ApiError::invalid("stage_id", "not a stage of the pathway"))?,
        None => pathway
            .first_stage()
            .ok_or_else(|| ApiError::Conflict("the pathway has no stages".to_owned()))?,
    };
    memberships::require_members(
        txn,
        scope.facility_id(),
        &[("health_coach_id", place.health_coach_id)],
    )
    .await?;
    if journey::enrolled(txn, scope, patient_id, pathway.id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(
            "the patient is already on this pathway".to_owned(),
        ));
    }
    Ok(journey::enrol(
        txn,
        scope,
        key,
        Enrolment {
            patient_id,
            pathway_id: pathway.id,
            stage_id: stage.id,
            health_coach_id: place.health_coach_id,
            lead_id: place.lead_id,
            notes: place.notes,
            actor_id: actor.account_id(),
        },
    )
    .await?)
}

/// Where to put a patient.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJourney {
    /// A care pathway of the facility; the default one when absent.
    pub pathway_id: Option<Uuid>,
    /// A stage of it; its first stage when absent.
    pub stage_id: Option<Uuid>,
    /// The coach; the enrolling health coach when absent and they may
    /// coach only their own patients.
    pub health_coach_id: Option<Uuid>,
    pub notes: Option<String>,
}

/// Enrols a patient in a care pathway.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/patients/{patient_id}/journeys",
    tag = "care journeys",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
    ),
    request_body = NewJourney,
    responses((status = 201, description = "Enrolled", body = Journey), Problems),
    security(("bearer" = []))
)]
async fn enrol_patient(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(new): ApiJson<NewJourney>,
) -> Result<(StatusCode, ApiJson<Journey>), ApiError> {
    let scope = actor.facility(facility_id, Permission::JOURNEY_MANAGE)?;
    let mut c = Checks::default();
    c.optional_text("notes", new.notes.as_deref(), 10_000);
    c.done()?;
    // A coach who may change only their own journeys enrols as the coach.
    let coach = new.health_coach_id.or(scope.assigned_to());
    scope.require_assigned(RESOURCE, &[coach])?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    if patients::find(&*txn, &scope, patient_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let place = NewJourneyPlace {
        pathway_id: new.pathway_id,
        stage_id: new.stage_id,
        health_coach_id: coach,
        lead_id: None,
        notes: new.notes.as_deref(),
    };
    let created = enrol_in(&*txn, &scope, &key, &actor, patient_id, place).await?;
    let journey = open_all(&*txn, &scope, &key, std::slice::from_ref(&created))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let event = journey_event(&actor, AuditAction::Create, &created).changes(redact(
        json!({ "pathway_id": created.pathway_id, "stage_id": created.stage_id,
                "health_coach_id": created.health_coach_id }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(journey)))
}

/// Lists journeys: by stage (`stage_id`), by coach (`health_coach_id`), by
/// pathway or patient. Each journey shown is recorded as a patient access.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/journeys",
    tag = "care journeys",
    params(("facility_id" = Uuid, Path, description = "The facility"), JourneyFilter),
    responses((status = 200, description = "A page of journeys", body = Page<Journey>), Problems),
    security(("bearer" = []))
)]
async fn list_journeys(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<JourneyFilter>,
) -> Result<ApiJson<Page<Journey>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::JOURNEY_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let db = state.db.conn();
    let rows = journey::page(db, &scope, &filter, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let journeys = open_all(db, &scope, &key, &rows).await?;
    let events = rows
        .iter()
        .map(|r| journey_event(&actor, AuditAction::PatientAccess, r))
        .collect();
    state.audit.record(events).await?;
    Ok(ApiJson(Page::new(journeys, limit, |j| j.id)))
}

/// A journey with its stage moves, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JourneyDetail {
    pub journey: Journey,
    pub moves: Vec<JourneyMove>,
}

/// One stage move.
#[derive(Debug, Serialize, ToSchema)]
pub struct JourneyMove {
    pub from_stage_id: Option<Uuid>,
    pub to_stage_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub occurred_at: Timestamp,
}

/// The most moves a journey shows; a pathway has at most 50 stages, so this
/// covers a few laps of an annual cycle.
const MAX_MOVES: u64 = 200;

/// Reads one journey and its moves.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/journeys/{journey_id}",
    tag = "care journeys",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("journey_id" = Uuid, Path, description = "The journey"),
    ),
    responses((status = 200, description = "The journey", body = JourneyDetail), Problems),
    security(("bearer" = []))
)]
async fn get_journey(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, journey_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<JourneyDetail>, ApiError> {
    let scope = actor.facility(facility_id, Permission::JOURNEY_READ)?;
    let db = state.db.conn();
    let found = journey::find(db, &scope, journey_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let opened = open_all(db, &scope, &key, std::slice::from_ref(&found))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let moves = journey::moves_of(db, journey_id, MAX_MOVES)
        .await?
        .into_iter()
        .map(|m| JourneyMove {
            from_stage_id: m.from_stage_id,
            to_stage_id: m.to_stage_id,
            actor_id: m.actor_id,
            occurred_at: m.occurred_at,
        })
        .collect();
    state
        .audit
        .record(vec![journey_event(
            &actor,
            AuditAction::PatientAccess,
            &found,
        )])
        .await?;
    Ok(ApiJson(JourneyDetail {
        journey: opened,
        moves,
    }))
}

/// A journey the actor may change, read inside `txn`.
async fn writable(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<row::Model, ApiError> {
    let found = journey::find(txn, scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    scope.require_assigned(RESOURCE, &[found.health_coach_id])?;
    Ok(found)
}

/// A move to another stage of the journey's pathway.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyStageMove {
    pub stage_id: Uuid,
}

/// Moves a patient to a stage of their pathway (forward, or back when a
/// step is repeated).
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/journeys/{journey_id}/stage",
    tag = "care journeys",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("journey_id" = Uuid, Path, description = "The journey"),
    ),
    request_body = JourneyStageMove,
    responses((status = 200, description = "The moved journey", body = Journey), Problems),
    security(("bearer" = []))
)]
async fn move_journey_stage(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, journey_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<JourneyStageMove>,
) -> Result<ApiJson<Journey>, ApiError> {
    let scope = actor.facility(facility_id, Permission::JOURNEY_MANAGE)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let found = writable(&*txn, &scope, journey_id).await?;
    let pathway = pathway(&*txn, &scope, Some(found.pathway_id)).await?;
    let stage = pathway
        .stage(body.stage_id)
        .ok_or_else(|| ApiError::invalid("stage_id", "not a stage of the journey's pathway"))?;
    if stage.id == found.stage_id {
        return Err(ApiError::Conflict(format!(
            "the patient is already at stage `{}`",
            stage.name
        )));
    }
    let from = found.stage_id;
    let now = Timestamp::now();
    let changes = JourneyUpdate {
        stage_id: Some(stage.id),
        ..Default::default()
    };
    let moved = journey::change(&*txn, &scope, found, changes, now).await?;
    journey::record_move(
        &*txn,
        journey_id,
        Some(from),
        stage.id,
        Some(actor.account_id()),
        now,
    )
    .await?;
    let opened = Journey::open(&key, &moved, stage.name.clone())?;
    let event = journey_event(&actor, AuditAction::Update, &moved).changes(redact(
        json!({ "stage": { "from": from, "to": stage.id, "name": stage.name } }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(opened))
}

/// Changes to a journey: an absent field stays, `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyChanges {
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub health_coach_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// Assigns a health coach or changes the notes.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/journeys/{journey_id}",
    tag = "care journeys",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("journey_id" = Uuid, Path, description = "The journey"),
    ),
    request_body = JourneyChanges,
    responses((status = 200, description = "The changed journey", body = Journey), Problems),
    security(("bearer" = []))
)]
async fn update_journey(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, journey_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<JourneyChanges>,
) -> Result<ApiJson<Journey>, ApiError> {
    let scope = actor.facility(facility_id, Permission::JOURNEY_MANAGE)?;
    let mut c = Checks::default();
    if let Some(Some(notes)) = &changes.notes {
        c.text("notes", notes, 10_000);
    }
    c.done()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let found = writable(&*txn, &scope, journey_id).await?;
    memberships::require_members(
        &*txn,
        facility_id,
        &[("health_coach_id", changes.health_coach_id.flatten())],
    )
    .await?;
    let seal = RowSealer::new(&key, journey::TABLE, journey_id);
    let sealed = JourneyUpdate {
        stage_id: None,
        health_coach_id: changes.health_coach_id,
        notes: changes
            .notes
            .as_ref()
            .map(|notes| seal.optional_text("notes", notes.as_deref())),
    };
    let changed = journey::change(&*txn, &scope, found, sealed, Timestamp::now()).await?;
    let opened = open_all(&*txn, &scope, &key, std::slice::from_ref(&changed))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let event = journey_event(&actor, AuditAction::Update, &changed).changes(redact(
        json!({ "health_coach_id": changes.health_coach_id, "notes_changed": changes.notes.is_some() }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(opened))
}
