//! `/facilities/{facility_id}/schedules`: when providers work — weekly
//! hours in a time zone, the slot grid and the minimum notice. Reading
//! needs `schedule:read`; changing needs `schedule:manage`, which reaches
//! only the actor's own schedule unless the role administers the facility.
//! None of it is PHI; every change is audited. Blocks are in
//! `block_routes`, appointment types in `appointment_type_routes`, the
//! open-slot search and the slot check in `slot_routes`.

use axum::extract::State;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::schedule_store;
use super::schedules::{Schedule, ScheduleInput, schedule, working_hours};
use super::store;
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(get_schedule, put_schedule))
}

/// Allows changing `provider_id`'s schedule or blocks: the actor's own, or
/// anyone's for a role that reaches the whole facility.
pub(super) fn require_own_schedule(
    scope: &FacilityScope,
    provider_id: Option<Uuid>,
) -> Result<(), ApiError> {
    match (scope.assigned_to(), provider_id) {
        (None, _) => Ok(()),
        (Some(me), Some(p)) if me == p => Ok(()),
        (Some(_), Some(_)) => Err(ApiError::Forbidden(
            "you change only your own schedule".to_owned(),
        )),
        (Some(_), None) => Err(ApiError::Forbidden(
            "blocks for the whole facility are for its administrators".to_owned(),
        )),
    }
}

async fn open_schedule(
    db: &impl sea_orm::ConnectionTrait,
    row: &schedule::Model,
) -> Result<Schedule, ApiError> {
    let hours = store::hours_of(db, row.id).await?;
    let (zone, _) = store::time_zone_of(db, row).await?;
    Ok(Schedule::open(row, &hours, zone))
}

/// Lists the facility's provider schedules.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/schedules",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), PageQuery),
    responses((status = 200, description = "A page of schedules", body = Page<Schedule>), Problems),
    security(("bearer" = []))
)]
async fn list_schedules(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<Schedule>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let limit = page.limit()?;
    let db = state.db.conn();
    let (rows, hours) = schedule_store::schedules_page(db, &scope, page.after, limit).await?;
    let facility_zone = store::facility_time_zone(db, facility_id).await?;
    let items: Vec<(Uuid, Schedule)> = rows
        .iter()
        .map(|row| {
            let own: Vec<working_hours::Model> = hours
                .iter()
                .filter(|h| h.schedule_id == row.id)
                .cloned()
                .collect();
            let zone = row
                .time_zone
                .clone()
                .unwrap_or_else(|| facility_zone.clone());
            (row.id, Schedule::open(row, &own, zone))
        })
        .collect();
    let next = (items.len() as u64 == limit)
        .then(|| items.last().map(|(id, _)| *id))
        .flatten();
    Ok(ApiJson(Page {
        items: items.into_iter().map(|(_, s)| s).collect(),
        next_cursor: next,
    }))
}

/// Reads a provider's schedule.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/schedules/{provider_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("provider_id" = Uuid, Path, description = "The provider's account"),
    ),
    responses((status = 200, description = "The schedule", body = Schedule), Problems),
    security(("bearer" = []))
)]
async fn get_schedule(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, provider_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Schedule>, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let db = state.db.conn();
    let row = store::provider_schedule(db, &scope, provider_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiJson(open_schedule(db, &row).await?))
}

/// Sets a provider's schedule: weekly working hours in a time zone, the
/// slot grid and the minimum notice, replacing what was there. Existing
/// appointments stay as booked.
#[utoipa::path(
    put,
    path = "/facilities/{facility_id}/schedules/{provider_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("provider_id" = Uuid, Path, description = "The provider's account, with a role in the facility"),
    ),
    request_body = ScheduleInput,
    responses((status = 200, description = "The schedule", body = Schedule), Problems),
    security(("bearer" = []))
)]
async fn put_schedule(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, provider_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> Result<ApiJson<Schedule>, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_MANAGE)?;
    require_own_schedule(&scope, Some(provider_id))?;
    let hours = input.validate()?;
    let txn = state.db.begin().await?;
    memberships::require_members(&*txn, facility_id, &[("provider_id", Some(provider_id))]).await?;
    let row =
        schedule_store::put_schedule(&*txn, &scope, provider_id, &input, &hours, Timestamp::now())
            .await?;
    let shown = open_schedule(&*txn, &row).await?;
    let event = actor
        .event(AuditAction::Update, "schedule")
        .resource(row.id)
        .facility(facility_id)
        .changes(redact(json!({ "after": &shown }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}
