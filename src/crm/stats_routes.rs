//! `/facilities/{facility_id}/leads/stats/…` and
//! `/facilities/{facility_id}/leads/rescore`: the pipeline and
//! speed-to-lead statistics of seed 000, and the facility-wide score
//! refresh. Kept apart from the per-lead routes: these work on the whole
//! facility's leads at once.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::rescore::{self, Rescored};
use super::stats::{
    self, CreatedRange, PipelineStats, PipelineStatsQuery, RangeQuery, SpeedToLead,
};
use crate::app::AppState;
use crate::audit::AuditAction;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::pipelines::store::{self as pipelines, PipelineKind};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pipeline_stats))
        .routes(routes!(speed_to_lead))
        .routes(routes!(rescore_leads))
}

/// Seed 000's `get_lead_pipeline_stats`: the leads created in `[from, to)`
/// by lifecycle status, by stage of one lead pipeline (the default one when
/// `pipeline_id` is absent) and by source. A lead *reached* a stage when its
/// current stage is that one or a later one; a stage's conversion rate is
/// the next stage's `reached` over its own. A source's lead *converted* when
/// it is booked or completed, or became a patient.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads/stats/pipeline",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility"), PipelineStatsQuery),
    responses((status = 200, description = "The statistics", body = PipelineStats), Problems),
    security(("bearer" = []))
)]
async fn pipeline_stats(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PipelineStatsQuery>,
) -> Result<ApiJson<PipelineStats>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let range = CreatedRange::parse(query.from.as_deref(), query.to.as_deref())?;
    let db = state.db.conn();
    let pipeline = match query.pipeline_id {
        Some(id) => pipelines::find(db, &scope, id)
            .await?
            .filter(|p| p.kind == PipelineKind::Lead)
            .ok_or_else(|| {
                ApiError::invalid(
                    "pipeline_id",
                    "no lead pipeline of this facility has this id",
                )
            })?,
        None => pipelines::default_of(db, &scope, PipelineKind::Lead)
            .await?
            .ok_or_else(|| ApiError::Conflict("this facility has no lead pipeline".to_owned()))?,
    };
    let groups = stats::lead_groups(db, &scope, range).await?;
    Ok(ApiJson(PipelineStats::assemble(range, &pipeline, &groups)))
}

/// Seed 000's `get_speed_to_lead_stats`: how long the leads created in
/// `[from, to)` (`to` is now when absent: the seed's takes only a start)
/// waited from creation to their first contact (a call, or the move to
/// `contacted`): contacted and not-yet-contacted counts, median and 90th
/// percentile in seconds, overall, per owner and per source.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads/stats/speed-to-lead",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility"), RangeQuery),
    responses((status = 200, description = "The statistics", body = SpeedToLead), Problems),
    security(("bearer" = []))
)]
async fn speed_to_lead(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<ApiJson<SpeedToLead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let range = CreatedRange::parse_until_now(
        query.from.as_deref(),
        query.to.as_deref(),
        Timestamp::now(),
    )?;
    let delays = stats::lead_delays(state.db.conn(), &scope, range).await?;
    Ok(ApiJson(SpeedToLead::assemble(range, delays)))
}

/// Recomputes the score of every lead of the facility, whose recency factor
/// fades with time, in batches (one audit event per batch that changed a
/// score). It needs `pipeline:manage`, which only the facility's
/// administrators hold: it rewrites every lead, including those assigned
/// to others, which `lead:update` does not reach for anyone else, and it is
/// an operation on how the facility ranks its pipeline, not on one lead.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/rescore",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    responses((status = 200, description = "Every lead rescored", body = Rescored), Problems),
    security(("bearer" = []))
)]
async fn rescore_leads(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
) -> Result<ApiJson<Rescored>, ApiError> {
    let scope = actor.facility(facility_id, Permission::PIPELINE_MANAGE)?;
    let event = actor
        .event(AuditAction::Update, "lead")
        .facility(facility_id);
    // On a task of its own, so that a rescore longer than the request
    // timeout, or whose client went away, still finishes its batches
    // instead of stopping between two of them.
    let db = state.db.clone();
    let run = tokio::spawn(async move {
        rescore::rescore_facility(&db, &scope, &event, Timestamp::now()).await
    });
    let done = run
        .await
        .map_err(|e| anyhow::anyhow!("the rescore task failed: {e}"))??;
    Ok(ApiJson(done))
}
