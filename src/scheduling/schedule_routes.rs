//! `/facilities/{facility_id}/schedules`: when providers work — weekly
//! hours in a time zone, the slot grid and the minimum notice. Reading
//! needs `schedule:read`; changing needs `schedule:manage`, which reaches
//! only the actor's own schedule unless the role administers the facility.
//! None of it is PHI; every change is audited. Blocks are in
//! `block_routes`, appointment types in `appointment_type_routes`, the
//! open-slot search and the slot check in `slot_routes`.

use axum::extract::State;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ActiveValue, QueryOrder, QuerySelect};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schedules::{self, Schedule, ScheduleInput, schedule, working_hours};
use super::store;
use crate::access::{Actor, FacilityScope, Permission, memberships};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(get_schedule, put_schedule))
}

/// A schedule's slot grid and minimum notice when none is given.
pub const DEFAULT_GRID: i32 = 15;
pub const DEFAULT_NOTICE: i32 = 60;

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
    let facility_id = actor
        .facility(facility_id, Permission::SCHEDULE_READ)?
        .facility_id();
    let limit = page.limit()?;
    let db = state.db.conn();
    let mut query = schedule::Entity::find()
        .filter(schedule::Column::FacilityId.eq(facility_id))
        .order_by_asc(schedule::Column::Id)
        .limit(limit);
    if let Some(after) = page.after {
        query = query.filter(schedule::Column::Id.gt(after));
    }
    let rows = query.all(db).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let hours = working_hours::Entity::find()
        .filter(working_hours::Column::ScheduleId.is_in(ids))
        .all(db)
        .await?;
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
    let facility_id = actor
        .facility(facility_id, Permission::SCHEDULE_READ)?
        .facility_id();
    let db = state.db.conn();
    let row = store::find_schedule(db, facility_id, provider_id)
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
    let now = Timestamp::now();
    let row = match store::find_schedule(&*txn, facility_id, provider_id).await? {
        Some(row) => {
            let mut active: schedule::ActiveModel = row.into();
            active.time_zone = ActiveValue::Set(input.time_zone.clone());
            active.slot_minutes = ActiveValue::Set(input.slot_minutes.unwrap_or(DEFAULT_GRID));
            active.min_notice_minutes =
                ActiveValue::Set(input.min_notice_minutes.unwrap_or(DEFAULT_NOTICE));
            active.updated_at = ActiveValue::Set(now);
            active.update(&*txn).await?
        }
        None => {
            schedule::ActiveModel {
                id: ActiveValue::Set(new_id()),
                facility_id: ActiveValue::Set(facility_id),
                provider_id: ActiveValue::Set(provider_id),
                time_zone: ActiveValue::Set(input.time_zone.clone()),
                slot_minutes: ActiveValue::Set(input.slot_minutes.unwrap_or(DEFAULT_GRID)),
                min_notice_minutes: ActiveValue::Set(
                    input.min_notice_minutes.unwrap_or(DEFAULT_NOTICE),
                ),
                bookings: ActiveValue::Set(0),
                created_at: ActiveValue::Set(now),
                updated_at: ActiveValue::Set(now),
            }
            .insert(&*txn)
            .await?
        }
    };
    working_hours::Entity::delete_many()
        .filter(working_hours::Column::ScheduleId.eq(row.id))
        .exec(&*txn)
        .await?;
    if !hours.is_empty() {
        working_hours::Entity::insert_many(hours.iter().map(|h| schedules::hours_row(row.id, h)))
            .exec(&*txn)
            .await?;
    }
    let shown = open_schedule(&*txn, &row).await?;
    let event = actor
        .event(AuditAction::Update, "schedule")
        .resource(row.id)
        .facility(facility_id)
        .changes(redact(json!({ "after": &shown }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}
