//! `/facilities/{facility_id}/schedules`, `/availability-blocks`,
//! `/appointment-types`, `/open-slots` and `/slot-check`: when providers
//! work and what can be booked. Reading needs `schedule:read`; changing
//! needs `schedule:manage`, which reaches only the actor's own schedule and
//! blocks unless the role administers the facility (facility-wide blocks
//! and appointment types are the administrator's). None of it is PHI; every
//! change is audited.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ActiveValue, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::booking::{self, SlotRequest};
use super::schedules::{
    self, AppointmentKind, AppointmentType, AppointmentTypeInput, AvailabilityBlock,
    DEFAULT_DURATION, NewBlock, Schedule, ScheduleInput, appointment_type, block, schedule,
    type_provider, working_hours,
};
use super::slots::{Span, Unavailable};
use super::store;
use crate::access::{Actor, FacilityScope, Permission, memberships};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::db::new_id;
use crate::error::{ApiError, OnConstraint};
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::time::Timestamp;
use crate::validation::Checks;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(get_schedule, put_schedule))
        .routes(routes!(create_block, list_blocks))
        .routes(routes!(delete_block))
        .routes(routes!(create_type, list_types))
        .routes(routes!(update_type))
        .routes(routes!(open_slots))
        .routes(routes!(check_slot))
}

/// A schedule's slot grid and minimum notice when none is given.
pub const DEFAULT_GRID: i32 = 15;
pub const DEFAULT_NOTICE: i32 = 60;

/// The longest period one open-slot search covers.
pub const MAX_SEARCH_DAYS: i64 = 62;
/// The most providers one search covers.
pub const MAX_SEARCH_PROVIDERS: usize = 50;
/// The most slots one search returns.
pub const MAX_SLOTS: usize = 2_000;

/// Allows changing `provider_id`'s schedule or blocks: the actor's own, or
/// anyone's for a role that reaches the whole facility.
fn require_own_schedule(scope: &FacilityScope, provider_id: Option<Uuid>) -> Result<(), ApiError> {
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

fn require_facility_reach(scope: &FacilityScope, what: &str) -> Result<(), ApiError> {
    match scope.assigned_to() {
        None => Ok(()),
        Some(_) => Err(ApiError::Forbidden(format!(
            "{what} are for the facility's administrators"
        ))),
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
    actor.facility(facility_id, Permission::SCHEDULE_READ)?;
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
    actor.facility(facility_id, Permission::SCHEDULE_READ)?;
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

/// Adds an availability block: closed time (a holiday, surgery) or, with
/// `is_available`, extra open time, for one provider or the whole facility.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/availability-blocks",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewBlock,
    responses((status = 201, description = "Added", body = AvailabilityBlock), Problems),
    security(("bearer" = []))
)]
async fn create_block(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewBlock>,
) -> Result<(StatusCode, ApiJson<AvailabilityBlock>), ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_MANAGE)?;
    require_own_schedule(&scope, new.provider_id)?;
    new.validate()?;
    let txn = state.db.begin().await?;
    memberships::require_members(&*txn, facility_id, &[("provider_id", new.provider_id)]).await?;
    let row = block::ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(facility_id),
        provider_id: ActiveValue::Set(new.provider_id),
        starts_at: ActiveValue::Set(new.starts_at),
        ends_at: ActiveValue::Set(new.ends_at),
        is_available: ActiveValue::Set(new.is_available),
        reason: ActiveValue::Set(new.reason.trim().to_owned()),
        created_by: ActiveValue::Set(Some(actor.account_id())),
        created_at: ActiveValue::Set(Timestamp::now()),
    }
    .insert(&*txn)
    .await?;
    let shown = AvailabilityBlock::from(&row);
    let event = actor
        .event(AuditAction::Create, "availability_block")
        .resource(row.id)
        .facility(facility_id)
        .changes(redact(json!({ "after": &shown }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// Which blocks a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlockFilter {
    /// The provider's blocks and the facility-wide ones.
    pub provider_id: Option<Uuid>,
    /// Only blocks ending after this time.
    pub from: Option<Timestamp>,
    /// Only blocks starting before this time.
    pub to: Option<Timestamp>,
    pub after: Option<Uuid>,
    pub limit: Option<u64>,
}

/// Lists availability blocks, in id order.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/availability-blocks",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), BlockFilter),
    responses((status = 200, description = "A page of blocks", body = Page<AvailabilityBlock>), Problems),
    security(("bearer" = []))
)]
async fn list_blocks(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<BlockFilter>,
) -> Result<ApiJson<Page<AvailabilityBlock>>, ApiError> {
    actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    use block::Column;
    let mut query = block::Entity::find()
        .filter(Column::FacilityId.eq(facility_id))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(provider) = filter.provider_id {
        query = query.filter(
            sea_orm::sea_query::Condition::any()
                .add(Column::ProviderId.eq(provider))
                .add(Column::ProviderId.is_null()),
        );
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::EndsAt.gt(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::StartsAt.lt(to));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    let rows = query.all(state.db.conn()).await?;
    let items = rows.iter().map(AvailabilityBlock::from).collect();
    Ok(ApiJson(Page::new(items, limit, |b: &AvailabilityBlock| {
        b.id
    })))
}

/// Removes an availability block.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/availability-blocks/{block_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("block_id" = Uuid, Path, description = "The block"),
    ),
    responses((status = 204, description = "Removed"), Problems),
    security(("bearer" = []))
)]
async fn delete_block(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, block_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_MANAGE)?;
    let txn = state.db.begin().await?;
    let row = block::Entity::find_by_id(block_id)
        .filter(block::Column::FacilityId.eq(facility_id))
        .one(&*txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    require_own_schedule(&scope, row.provider_id)?;
    let before = AvailabilityBlock::from(&row);
    block::Entity::delete_by_id(block_id).exec(&*txn).await?;
    let event = actor
        .event(AuditAction::Delete, "availability_block")
        .resource(block_id)
        .facility(facility_id)
        .changes(redact(json!({ "before": before }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn open_types(
    db: &impl sea_orm::ConnectionTrait,
    rows: &[appointment_type::Model],
) -> Result<Vec<AppointmentType>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let providers = store::type_providers(db, &ids).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let offered = providers
                .iter()
                .filter(|p| p.type_id == row.id)
                .map(|p| p.provider_id)
                .collect();
            AppointmentType::open(row, offered)
        })
        .collect())
}

async fn set_type_providers(
    txn: &impl sea_orm::ConnectionTrait,
    facility_id: Uuid,
    type_id: Uuid,
    providers: &[Uuid],
) -> Result<(), ApiError> {
    memberships::require_each_member(txn, facility_id, "provider_ids", providers).await?;
    type_provider::Entity::delete_many()
        .filter(type_provider::Column::TypeId.eq(type_id))
        .exec(txn)
        .await?;
    let mut unique = providers.to_vec();
    unique.sort();
    unique.dedup();
    if !unique.is_empty() {
        type_provider::Entity::insert_many(unique.into_iter().map(|provider_id| {
            type_provider::ActiveModel {
                id: ActiveValue::Set(new_id()),
                type_id: ActiveValue::Set(type_id),
                provider_id: ActiveValue::Set(provider_id),
            }
        }))
        .exec(txn)
        .await?;
    }
    Ok(())
}

fn name_taken() -> ApiError {
    ApiError::Conflict("the facility already has an appointment type of this name".to_owned())
}

/// Adds an appointment type: its kind, default duration (30 minutes unless
/// given), buffers, and the providers who offer it.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/appointment-types",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = AppointmentTypeInput,
    responses((status = 201, description = "Added", body = AppointmentType), Problems),
    security(("bearer" = []))
)]
async fn create_type(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<AppointmentTypeInput>,
) -> Result<(StatusCode, ApiJson<AppointmentType>), ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_MANAGE)?;
    require_facility_reach(&scope, "appointment types")?;
    input.validate(true)?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let row = appointment_type::ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(facility_id),
        name: ActiveValue::Set(input.name.as_deref().unwrap_or_default().trim().to_owned()),
        kind: ActiveValue::Set(
            input
                .kind
                .unwrap_or(AppointmentKind::Consultation)
                .as_str()
                .to_owned(),
        ),
        duration_minutes: ActiveValue::Set(input.duration_minutes.unwrap_or(DEFAULT_DURATION)),
        buffer_before_minutes: ActiveValue::Set(input.buffer_before_minutes.unwrap_or(0)),
        buffer_after_minutes: ActiveValue::Set(input.buffer_after_minutes.unwrap_or(0)),
        active: ActiveValue::Set(input.active.unwrap_or(true)),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(&*txn)
    .await
    .on_constraint("appointment_types_facility_id_name_key", name_taken)?;
    set_type_providers(
        &*txn,
        facility_id,
        row.id,
        input.provider_ids.as_deref().unwrap_or_default(),
    )
    .await?;
    let shown = open_types(&*txn, std::slice::from_ref(&row))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let event = actor
        .event(AuditAction::Create, "appointment_type")
        .resource(row.id)
        .facility(facility_id)
        .changes(redact(json!({ "after": &shown }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// Lists the facility's appointment types by name.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/appointment-types",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    responses((status = 200, description = "The types (at most 500)", body = Vec<AppointmentType>), Problems),
    security(("bearer" = []))
)]
async fn list_types(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
) -> Result<ApiJson<Vec<AppointmentType>>, ApiError> {
    actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let db = state.db.conn();
    let rows = appointment_type::Entity::find()
        .filter(appointment_type::Column::FacilityId.eq(facility_id))
        .order_by_asc(appointment_type::Column::Name)
        .limit(500)
        .all(db)
        .await?;
    Ok(ApiJson(open_types(db, &rows).await?))
}

/// Changes an appointment type; absent fields stay. Booked appointments
/// keep their times.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/appointment-types/{type_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("type_id" = Uuid, Path, description = "The appointment type"),
    ),
    request_body = AppointmentTypeInput,
    responses((status = 200, description = "The type", body = AppointmentType), Problems),
    security(("bearer" = []))
)]
async fn update_type(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, type_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<AppointmentTypeInput>,
) -> Result<ApiJson<AppointmentType>, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_MANAGE)?;
    require_facility_reach(&scope, "appointment types")?;
    input.validate(false)?;
    let txn = state.db.begin().await?;
    let row = store::find_type(&*txn, facility_id, type_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut active: appointment_type::ActiveModel = row.into();
    if let Some(name) = &input.name {
        active.name = ActiveValue::Set(name.trim().to_owned());
    }
    if let Some(kind) = input.kind {
        active.kind = ActiveValue::Set(kind.as_str().to_owned());
    }
    if let Some(v) = input.duration_minutes {
        active.duration_minutes = ActiveValue::Set(v);
    }
    if let Some(v) = input.buffer_before_minutes {
        active.buffer_before_minutes = ActiveValue::Set(v);
    }
    if let Some(v) = input.buffer_after_minutes {
        active.buffer_after_minutes = ActiveValue::Set(v);
    }
    if let Some(v) = input.active {
        active.active = ActiveValue::Set(v);
    }
    active.updated_at = ActiveValue::Set(Timestamp::now());
    let row = active
        .update(&*txn)
        .await
        .on_constraint("appointment_types_facility_id_name_key", name_taken)?;
    if let Some(providers) = &input.provider_ids {
        set_type_providers(&*txn, facility_id, type_id, providers).await?;
    }
    let shown = open_types(&*txn, std::slice::from_ref(&row))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let event = actor
        .event(AuditAction::Update, "appointment_type")
        .resource(type_id)
        .facility(facility_id)
        .changes(redact(json!({ "after": &shown }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// An open-slot search (seed 000's `get_available_slots`).
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlotSearch {
    /// The start of the period searched.
    pub from: Timestamp,
    /// Its end; at most 62 days after `from`.
    pub to: Timestamp,
    /// Providers to search, comma-separated; every provider with a
    /// schedule (who offers the type) when absent. At most 50.
    pub provider_ids: Option<String>,
    /// An appointment type: its duration, buffers and providers apply.
    pub type_id: Option<Uuid>,
    /// The slot length, 1 to 720 minutes; the type's, else 30.
    pub duration_minutes: Option<i64>,
    /// The IANA time zone to show local times in; the facility's when absent.
    pub time_zone: Option<String>,
    /// The most slots to return, 1 to 2000; 500 when absent.
    pub limit: Option<usize>,
}

/// An open slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OpenSlot {
    pub provider_id: Uuid,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The start in the requested time zone, RFC 3339 with its offset.
    pub local_start: String,
    pub local_end: String,
}

/// The open slots found, earliest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OpenSlots {
    pub time_zone: String,
    pub duration_minutes: i64,
    pub slots: Vec<OpenSlot>,
    /// True when `limit` cut the list short; search again from the last start.
    pub truncated: bool,
}

fn parse_providers(text: Option<&str>, c: &mut Checks) -> Vec<Uuid> {
    let Some(text) = text else {
        return Vec::new();
    };
    let ids: Vec<Uuid> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .filter_map(|s| match s.trim().parse() {
            Ok(id) => Some(id),
            Err(_) => {
                c.fail("provider_ids", "must be UUIDs separated by commas");
                None
            }
        })
        .collect();
    if ids.len() > MAX_SEARCH_PROVIDERS {
        c.fail("provider_ids", "at most 50 providers per search");
    }
    ids
}

fn local(zone: &jiff::tz::TimeZone, at: Timestamp) -> String {
    at.to_jiff()
        .to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Finds open slots of one or more providers over a period: within their
/// working hours and opening blocks, outside closing blocks, clear of
/// existing appointments and their buffers (and of slots held for the
/// waitlist), after the minimum notice, on each schedule's slot grid.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/open-slots",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), SlotSearch),
    responses((status = 200, description = "The open slots", body = OpenSlots), Problems),
    security(("bearer" = []))
)]
async fn open_slots(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(search): ApiQuery<SlotSearch>,
) -> Result<ApiJson<OpenSlots>, ApiError> {
    actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let mut c = Checks::default();
    if search.to <= search.from {
        c.fail("to", "must be after from");
    } else if search.to.as_micros() - search.from.as_micros() > MAX_SEARCH_DAYS * 86_400_000_000 {
        c.fail("to", "a search covers at most 62 days");
    }
    schedules::check_duration(&mut c, search.duration_minutes);
    let limit = search.limit.unwrap_or(500);
    c.within("limit", limit as i64, 1..=MAX_SLOTS as i64);
    let zone_name = search.time_zone.clone();
    if let Some(zone) = &zone_name
        && jiff::tz::TimeZone::get(zone).is_err()
    {
        c.fail(
            "time_zone",
            "not a known IANA time zone, such as Europe/Berlin",
        );
    }
    let wanted = parse_providers(search.provider_ids.as_deref(), &mut c);
    c.done()?;
    let db = state.db.conn();
    let zone_name = match zone_name {
        Some(zone) => zone,
        None => store::facility_time_zone(db, facility_id).await?,
    };
    let zone = jiff::tz::TimeZone::get(&zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    let appointment_type = match search.type_id {
        Some(type_id) => Some(
            store::find_type(db, facility_id, type_id)
                .await?
                .filter(|t| t.active)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "type_id",
                        "no active appointment type with this id in this facility",
                    )
                })?,
        ),
        None => None,
    };
    let offered: Vec<Uuid> = match &appointment_type {
        Some(t) => store::type_providers(db, &[t.id])
            .await?
            .into_iter()
            .map(|p| p.provider_id)
            .collect(),
        None => Vec::new(),
    };
    let mut schedules_query = schedule::Entity::find()
        .filter(schedule::Column::FacilityId.eq(facility_id))
        .order_by_asc(schedule::Column::ProviderId)
        .limit(MAX_SEARCH_PROVIDERS as u64);
    if !wanted.is_empty() {
        schedules_query =
            schedules_query.filter(schedule::Column::ProviderId.is_in(wanted.clone()));
    }
    if !offered.is_empty() {
        schedules_query = schedules_query.filter(schedule::Column::ProviderId.is_in(offered));
    }
    let found = schedules_query.all(db).await?;
    if let Some(missing) = wanted
        .iter()
        .find(|p| !found.iter().any(|s| s.provider_id == **p))
    {
        return Err(ApiError::invalid(
            "provider_ids",
            format!(
                "provider {missing} has no schedule in this facility or does not offer the type"
            ),
        ));
    }
    let booking::Shape {
        minutes,
        before,
        after,
    } = booking::Shape::of(search.duration_minutes, appointment_type.as_ref());
    let period = Span::new(search.from, search.to);
    let now = Timestamp::now();
    let calendars =
        store::calendars(db, &found, period.widened(before, after), None, None, now).await?;
    let minutes_i32 = i32::try_from(minutes).unwrap_or(DEFAULT_DURATION);
    let mut slots = Vec::new();
    for (schedule, calendar) in found.iter().zip(&calendars) {
        for slot in calendar.open_slots(period, minutes_i32, before, after, now, limit + 1) {
            slots.push((slot, schedule.provider_id));
        }
    }
    slots.sort();
    let truncated = slots.len() > limit;
    slots.truncate(limit);
    Ok(ApiJson(OpenSlots {
        slots: slots
            .into_iter()
            .map(|(slot, provider_id)| OpenSlot {
                provider_id,
                starts_at: slot.start,
                ends_at: slot.end,
                local_start: local(&zone, slot.start),
                local_end: local(&zone, slot.end),
            })
            .collect(),
        time_zone: zone_name,
        duration_minutes: minutes,
        truncated,
    }))
}

/// A slot to check (seed 000's `is_slot_available(time, duration)`).
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlotQuestion {
    pub provider_id: Uuid,
    pub starts_at: Timestamp,
    pub type_id: Option<Uuid>,
    /// 1 to 720 minutes; the type's, else 30.
    pub duration_minutes: Option<i64>,
}

/// Whether a slot can be booked, and why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlotAnswer {
    pub available: bool,
    /// When not: `in_the_past`, `too_soon`, `blocked`,
    /// `outside_working_hours` or `taken`.
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// Says whether a provider can be booked at a time for a duration, and
/// when not, why. Booking checks the same rules under the provider's lock.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/slot-check",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), SlotQuestion),
    responses((status = 200, description = "The answer", body = SlotAnswer), Problems),
    security(("bearer" = []))
)]
async fn check_slot(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(question): ApiQuery<SlotQuestion>,
) -> Result<ApiJson<SlotAnswer>, ApiError> {
    actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let mut c = Checks::default();
    schedules::check_duration(&mut c, question.duration_minutes);
    c.done()?;
    let request = SlotRequest {
        provider_id: question.provider_id,
        starts_at: question.starts_at,
        type_id: question.type_id,
        duration_minutes: question.duration_minutes,
    };
    let checked = booking::peek(state.db.conn(), facility_id, &request, Timestamp::now()).await;
    let answer = match checked {
        Ok(_) => SlotAnswer {
            available: true,
            reason: None,
            detail: None,
        },
        Err(ApiError::SlotUnavailable(why)) => answer_for(&why),
        Err(other) => return Err(other),
    };
    Ok(ApiJson(answer))
}

fn answer_for(why: &Unavailable) -> SlotAnswer {
    SlotAnswer {
        available: false,
        reason: Some(why.code().to_owned()),
        detail: Some(why.detail()),
    }
}
