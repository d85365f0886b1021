//! `GET /facilities/{facility_id}/retention`: what the retention purge
//! would remove now in the facility, per category (a dry run; counts
//! only), for its administrators (`facility:manage`).

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::retention::{self, RetentionReport, RetentionSettings};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(retention_report))
}

/// Counts, per retention category, the facility's communications whose
/// content is past its period and not yet purged.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/retention",
    tag = "communications",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    responses((status = 200, description = "What a purge would remove", body = RetentionReport), Problems),
    security(("bearer" = []))
)]
async fn retention_report(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
) -> Result<ApiJson<RetentionReport>, ApiError> {
    let scope = actor.facility(facility_id, Permission::FACILITY_MANAGE)?;
    let settings = state.config.section::<RetentionSettings>();
    let report = retention::report(
        state.db.conn(),
        &settings,
        Some(scope.facility_id()),
        Timestamp::now(),
    )
    .await?;
    Ok(ApiJson(report))
}
