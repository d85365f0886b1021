//! `/facilities/{facility_id}/pipelines`: the lead pipelines and care
//! pathways leads and patients move through, with their stages. A pipeline
//! holds no PHI; defining one is audited.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store::{self as pipelines, NewPipeline, Pipeline, PipelineKind};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{Actor, Permission};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_pipelines, create_pipeline))
}

/// Which pipelines to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineQuery {
    /// `lead` or `care`; both when absent.
    pub kind: Option<PipelineKind>,
}

/// The pipelines of all facility's: lead pipelines and care pathways.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pipelines {
    pub items: Vec<Pipeline>,
}

/// Lists the facility's pipelines and care pathways with their stages.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/pipelines",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility"), PipelineQuery),
    responses((status = 200, description = "The pipelines", body = Pipelines), Problems),
    security(("bearer" = []))
)]
async fn list_pipelines(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PipelineQuery>,
) -> Result<ApiJson<Pipelines>, ApiError> {
    let scope = actor.facility(facility_id, Permission::FACILITY_READ)?;
    let items = pipelines::list(state.db.conn(), &scope, query.kind).await?;
    Ok(ApiJson(Pipelines { items }))
}

/// Defines a lead pipeline or a care pathway.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/pipelines",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewPipeline,
    responses((status = 201, description = "Defined", body = Pipeline), Problems),
    security(("bearer" = []))
)]
async fn create_pipeline(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewPipeline>,
) -> Result<(StatusCode, ApiJson<Pipeline>), ApiError> {
    let scope = actor.facility(facility_id, Permission::PIPELINE_MANAGE)?;
    new.validate()?;
    let txn = state.db.begin().await?;
    let pipeline = pipelines::create(&*txn, &scope, &new).await?;
    let event = actor
        .event(AuditAction::Create, "pipeline")
        .resource(pipeline.id)
        .facility(facility_id)
        .changes(redact(
            json!({ "kind": pipeline.kind, "name": pipeline.name, "stages": new.stages }),
            &[],
        ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(pipeline)))
}
