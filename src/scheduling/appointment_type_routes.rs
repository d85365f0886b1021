//! `/facilities/{facility_id}/appointment-types`: what can be booked — each
//! type's kind, duration, buffers and the providers who offer it. Reading
//! needs `schedule:read`; changing needs `schedule:manage` in a role that
//! administers the facility. None of it is PHI; every change is audited.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ActiveValue, QueryOrder, QuerySelect};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schedules::{
    AppointmentKind, AppointmentType, AppointmentTypeInput, DEFAULT_DURATION, appointment_type,
    type_provider,
};
use super::store;
use crate::access::{Actor, FacilityScope, Permission, memberships};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::db::new_id;
use crate::error::{ApiError, OnConstraint};
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_type, list_types))
        .routes(routes!(update_type))
}

fn require_facility_reach(scope: &FacilityScope, what: &str) -> Result<(), ApiError> {
    match scope.assigned_to() {
        None => Ok(()),
        Some(_) => Err(ApiError::Forbidden(format!(
            "{what} are for the facility's administrators"
        ))),
    }
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
        .collect::<Result<_, _>>()?)
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
    let facility_id = actor
        .facility(facility_id, Permission::SCHEDULE_READ)?
        .facility_id();
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
