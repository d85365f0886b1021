//! The queries behind the facility's bookable time as its administrators
//! and providers change it: schedules with their weekly hours,
//! availability blocks and appointment types. None of it is PHI except a
//! block's free-text reason, which is sealed; each query stays inside the
//! scope's facility. (The calendar the slot search
//! reads, and the lookups booking shares, are in `store`.)

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;

use super::schedules::{
    self, AppointmentKind, AppointmentTypeInput, DEFAULT_DURATION, NewBlock, ScheduleInput,
    appointment_type, block, schedule, type_provider, working_hours,
};
use super::slots::Hours;
use super::store;
use crate::crypto::{DataKey, RowSealer};
use crate::db::new_id;
use crate::error::{ApiError, OnConstraint};
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// A schedule's slot grid and minimum notice when none is given.
pub const DEFAULT_GRID: i32 = 15;
pub const DEFAULT_NOTICE: i32 = 60;

/// A page of the facility's schedules in id order, with their hours.
pub async fn schedules_page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    after: Option<Uuid>,
    limit: u64,
) -> Result<(Vec<schedule::Model>, Vec<working_hours::Model>), DbErr> {
    let mut query = schedule::Entity::find()
        .filter(schedule::Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(schedule::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(schedule::Column::Id.gt(after));
    }
    let rows = query.all(db).await?;
    let hours = working_hours::Entity::find()
        .filter(working_hours::Column::ScheduleId.is_in(rows.iter().map(|r| r.id)))
        .all(db)
        .await?;
    Ok((rows, hours))
}

/// Sets the provider's schedule in the scope's facility (making it when it
/// has none) and replaces its weekly hours.
pub async fn put_schedule(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    provider_id: Uuid,
    input: &ScheduleInput,
    hours: &[Hours],
    now: Timestamp,
) -> Result<schedule::Model, DbErr> {
    let slot_minutes = input.slot_minutes.unwrap_or(DEFAULT_GRID);
    let min_notice_minutes = input.min_notice_minutes.unwrap_or(DEFAULT_NOTICE);
    let row = match store::provider_schedule(txn, scope, provider_id).await? {
        Some(row) => {
            let mut active: schedule::ActiveModel = row.into();
            active.time_zone = ActiveValue::Set(input.time_zone.clone());
            active.slot_minutes = ActiveValue::Set(slot_minutes);
            active.min_notice_minutes = ActiveValue::Set(min_notice_minutes);
            active.updated_at = ActiveValue::Set(now);
            active.update(txn).await?
        }
        None => {
            schedule::ActiveModel {
                id: ActiveValue::Set(new_id()),
                facility_id: ActiveValue::Set(scope.facility_id()),
                provider_id: ActiveValue::Set(provider_id),
                time_zone: ActiveValue::Set(input.time_zone.clone()),
                slot_minutes: ActiveValue::Set(slot_minutes),
                min_notice_minutes: ActiveValue::Set(min_notice_minutes),
                bookings: ActiveValue::Set(0),
                created_at: ActiveValue::Set(now),
                updated_at: ActiveValue::Set(now),
            }
            .insert(txn)
            .await?
        }
    };
    working_hours::Entity::delete_many()
        .filter(working_hours::Column::ScheduleId.eq(row.id))
        .exec(txn)
        .await?;
    if !hours.is_empty() {
        working_hours::Entity::insert_many(hours.iter().map(|h| schedules::hours_row(row.id, h)))
            .exec(txn)
            .await?;
    }
    Ok(row)
}

/// Adds a block in the scope's facility, made by the scope's account.
pub async fn insert_block(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    new: &NewBlock,
    now: Timestamp,
) -> Result<block::Model, DbErr> {
    let id = new_id();
    let (reason, sealed_reason) = RowSealer::new(key, schedules::BLOCK_TABLE, id).label(
        "reason",
        new.reason.trim(),
        schedules::BLOCK_REASONS,
    );
    block::ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(scope.facility_id()),
        provider_id: ActiveValue::Set(new.provider_id),
        starts_at: ActiveValue::Set(new.starts_at),
        ends_at: ActiveValue::Set(new.ends_at),
        is_available: ActiveValue::Set(new.is_available),
        reason: ActiveValue::Set(reason),
        sealed_reason: ActiveValue::Set(sealed_reason),
        created_by: ActiveValue::Set(Some(scope.account_id())),
        created_at: ActiveValue::Set(now),
    }
    .insert(txn)
    .await
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
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The facility's blocks matching `filter`, in id order.
pub async fn blocks_page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &BlockFilter,
    limit: u64,
) -> Result<Vec<block::Model>, DbErr> {
    use block::Column;
    let mut query = block::Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(provider) = filter.provider_id {
        query = query.filter(
            Condition::any()
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
    query.all(db).await
}

pub async fn find_block(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    block_id: Uuid,
) -> Result<Option<block::Model>, DbErr> {
    block::Entity::find_by_id(block_id)
        .filter(block::Column::FacilityId.eq(scope.facility_id()))
        .one(db)
        .await
}

pub async fn delete_block(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    block_id: Uuid,
) -> Result<(), DbErr> {
    block::Entity::delete_many()
        .filter(block::Column::Id.eq(block_id))
        .filter(block::Column::FacilityId.eq(scope.facility_id()))
        .exec(txn)
        .await?;
    Ok(())
}

fn name_taken() -> ApiError {
    ApiError::Conflict("the facility already has an appointment type of this name".to_owned())
}

/// Adds an appointment type to the scope's facility (without its providers).
pub async fn insert_type(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    input: &AppointmentTypeInput,
    now: Timestamp,
) -> Result<appointment_type::Model, ApiError> {
    appointment_type::ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(scope.facility_id()),
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
    .insert(txn)
    .await
    .on_constraint("appointment_types_facility_id_name_key", name_taken)
}

/// Changes the fields `input` gives of a type of the scope's facility;
/// `None` when the facility has no such type.
pub async fn update_type(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    type_id: Uuid,
    input: &AppointmentTypeInput,
    now: Timestamp,
) -> Result<Option<appointment_type::Model>, ApiError> {
    let Some(row) = store::find_type(txn, scope, type_id).await? else {
        return Ok(None);
    };
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
    active.updated_at = ActiveValue::Set(now);
    let row = active
        .update(txn)
        .await
        .on_constraint("appointment_types_facility_id_name_key", name_taken)?;
    Ok(Some(row))
}

/// The facility's appointment types by name (at most 500).
pub async fn types(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
) -> Result<Vec<appointment_type::Model>, DbErr> {
    appointment_type::Entity::find()
        .filter(appointment_type::Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(appointment_type::Column::Name)
        .limit(500)
        .all(db)
        .await
}

/// Replaces the providers who offer a type (the caller checked that they
/// are members of the facility and that the type is the facility's).
pub async fn set_type_providers(
    txn: &impl ConnectionTrait,
    type_id: Uuid,
    providers: &[Uuid],
) -> Result<(), DbErr> {
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
