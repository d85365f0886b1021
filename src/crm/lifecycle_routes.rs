//! `/facilities/{facility_id}/leads/{lead_id}/status`, `/stage`, `/calls`,
//! `/review` and `/history`: a lead's moves through its lifecycle and its
//! pipeline, the calls made to it, its clinical review, and the history the
//! moves leave. Every write appends its event in its transaction.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::history::{LeadMove, Move};
use super::leads::{Lead, LeadStatus, PHI_FIELDS, ReviewStatus};
use super::lifecycle::{self, Fact, LeadMoveCause};
use super::routes::{lead_event, open_one, writable_lead};
use super::store::{self, ReviewChange};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::pipelines::store as pipelines;
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;
use crate::transition::StateMachine;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(move_lead_status))
        .routes(routes!(move_lead_stage))
        .routes(routes!(log_call))
        .routes(routes!(review_lead))
        .routes(routes!(lead_history))
}

/// Seed 001's `lead_outcome`, as recorded with a move or a call: a short
/// label, like the lead's own `outcome` field.
fn check_outcome(outcome: Option<&str>) -> Result<(), ApiError> {
    let mut c = crate::validation::Checks::default();
    c.optional_text("outcome", outcome, 100);
    c.done()
}

/// A move through the lifecycle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusMove {
    pub status: LeadStatus,
    /// Seed 001's `lead_outcome`, recorded with the move.
    pub outcome: Option<String>,
}

/// Moves a lead through its lifecycle: new → contacted → qualified →
/// booked → completed, booked → no_show, any open status → archived or
/// disqualified. Any other move is refused with the allowed ones. Entering
/// `qualified` puts the lead up for clinical review; a lead whose review is
/// pending or declined, or that is disqualified, is not moved to `booked`
/// (409 `clinical-review-required`) unless the facility switched that gate
/// off (`crm.booking_requires_clinical_review`). Calls, communications,
/// appointments and conversion move a lead by themselves (`cause` in its
/// history).
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/{lead_id}/status",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    request_body = StatusMove,
    responses((status = 200, description = "The moved lead", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn move_lead_status(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<StatusMove>,
) -> Result<ApiJson<Lead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    check_outcome(body.outcome.as_deref())?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_lead(&txn, &scope, lead_id).await?;
    if body.status == LeadStatus::Booked {
        lifecycle::require_bookable(&*txn, &row).await?;
    }
    let from = row.lead_status()?;
    let to = from.transition(body.status)?;
    let now = Timestamp::now();
    let row = store::set_status(&*txn, &key, &scope, row, to, body.outcome.as_deref(), now).await?;
    store::record_move(
        &*txn,
        lead_id,
        Move::status(Some(from), to),
        Some(actor.account_id()),
        now,
    )
    .await?;
    let lead = open_one(&*txn, &key, &row).await?;
    let event = lifecycle::status_event(&actor, &row, from, to, None);
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(lead))
}

/// A move to another stage of the lead's pipeline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    /// A stage of the lead's pipeline (any, forward or back).
    pub stage_id: Uuid,
}

/// Moves a lead to a stage of its pipeline.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/{lead_id}/stage",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    request_body = StageMove,
    responses((status = 200, description = "The moved lead", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn move_lead_stage(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<StageMove>,
) -> Result<ApiJson<Lead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_lead(&txn, &scope, lead_id).await?;
    let pipeline = pipelines::find(&*txn, &scope, row.pipeline_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let stage = pipeline
        .stage(body.stage_id)
        .ok_or_else(|| ApiError::invalid("stage_id", "not a stage of the lead's pipeline"))?;
    if stage.id == row.stage_id {
        return Err(ApiError::Conflict(format!(
            "the lead is already at stage `{}`",
            stage.name
        )));
    }
    let from = row.stage_id;
    let now = Timestamp::now();
    let row = store::set_stage(&*txn, &scope, row, stage.id, now).await?;
    store::record_move(
        &*txn,
        lead_id,
        Move::stage(Some(from), stage.id),
        Some(actor.account_id()),
        now,
    )
    .await?;
    let lead = open_one(&*txn, &key, &row).await?;
    let event = lead_event(&actor, AuditAction::Update, facility_id, lead_id).changes(redact(
        json!({ "stage": { "from": from, "to": stage.id, "name": stage.name } }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(lead))
}

/// A call made to a lead.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallLog {
    /// Seed 001's `lead_outcome` after the call.
    pub outcome: Option<String>,
}

/// Logs a call to a lead: counts it, marks the lead contacted (the first
/// contact is what speed-to-lead measures) and rescores it. A `new` lead
/// moves to `contacted` (cause `call_logged`).
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/{lead_id}/calls",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    request_body = CallLog,
    responses((status = 200, description = "The lead, with the call counted", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn log_call(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(call): ApiJson<CallLog>,
) -> Result<ApiJson<Lead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    check_outcome(call.outcome.as_deref())?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_lead(&txn, &scope, lead_id).await?;
    let now = Timestamp::now();
    let row = store::record_call(&*txn, &key, &scope, row, call.outcome.as_deref(), now).await?;
    let event = lead_event(&actor, AuditAction::Update, facility_id, lead_id).changes(redact(
        json!({ "number_of_calls": row.number_of_calls }),
        PHI_FIELDS,
    ));
    let fact = Fact::new(LeadMoveCause::CallLogged, None);
    let (row, moved) = lifecycle::follow(&*txn, &scope, &actor, row, fact).await?;
    let lead = open_one(&*txn, &key, &row).await?;
    audit::commit(txn, [event].into_iter().chain(moved).collect()).await?;
    Ok(ApiJson(lead))
}

/// A clinical reviewer's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approve,
    Decline,
}

/// The decision on a lead pending clinical review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub decision: ReviewDecision,
    /// Why: required to decline.
    pub reason: Option<String>,
}

/// Approves or declines a lead pending clinical review (seed 000's
/// clinical_reviewer action). Only roles with `lead:review` may.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/{lead_id}/review",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    request_body = ReviewBody,
    responses((status = 200, description = "The reviewed lead", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn review_lead(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<ApiJson<Lead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_REVIEW)?;
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let mut c = crate::validation::Checks::default();
    match (body.decision, reason) {
        (ReviewDecision::Decline, None) => c.fail("reason", "give a reason to decline"),
        (_, Some(reason)) => c.text("reason", reason, 2000),
        _ => {}
    }
    c.done()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = store::find(&*txn, &scope, lead_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if row.review_status != ReviewStatus::Pending.as_str() {
        return Err(ApiError::Conflict(format!(
            "the lead is not pending review (its review is `{}`)",
            row.review_status
        )));
    }
    let status = match body.decision {
        ReviewDecision::Approve => ReviewStatus::Approved,
        ReviewDecision::Decline => ReviewStatus::Declined,
    };
    let decided = ReviewChange::Decided { status, reason };
    let row = store::set_review(&*txn, &scope, &key, row, decided, Timestamp::now()).await?;
    let lead = open_one(&*txn, &key, &row).await?;
    let event = lead_event(&actor, AuditAction::Update, facility_id, lead_id).changes(redact(
        json!({ "review": { "status": status, "reason_given": reason.is_some() } }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(lead))
}

/// A page of moves, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadMoves {
    pub items: Vec<LeadMove>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<Uuid>,
}

/// Which moves to return.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MovesQuery {
    /// The `next_before` of the previous page.
    pub before: Option<Uuid>,
    /// Moves per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// A lead's status and stage history: who moved it, when, from where to where.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads/{lead_id}/history",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
        MovesQuery,
    ),
    responses((status = 200, description = "The lead's moves", body = LeadMoves), Problems),
    security(("bearer" = []))
)]
async fn lead_history(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(query): ApiQuery<MovesQuery>,
) -> Result<ApiJson<LeadMoves>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let limit = crate::http::extract::page_limit(query.limit)?;
    let moves = store::history(state.db.conn(), &scope, lead_id, query.before, limit)
        .await?
        .ok_or(ApiError::NotFound)?;
    let next_before = (moves.len() as u64 == limit)
        .then(|| moves.last().map(|m| m.id))
        .flatten();
    Ok(ApiJson(LeadMoves {
        items: moves.into_iter().map(LeadMove::from).collect(),
        next_before,
    }))
}
