//! `/facilities/{facility_id}/appointment-types`: what can be booked — each
//! type's kind, duration, buffers and the providers who offer it. Reading
//! needs `schedule:read`; changing needs `schedule:manage` in a role that
//! administers the facility. None of it is PHI; every change is audited.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::schedule_store;
use super::schedules::{AppointmentType, AppointmentTypeInput, appointment_type};
use super::store;
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::policy::{Actor, FacilityScope, Permission};
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

/// Replaces the providers who offer a type, each a member of the facility.
async fn set_type_providers(
    txn: &impl sea_orm::ConnectionTrait,
    scope: &FacilityScope,
    type_id: Uuid,
    providers: &[Uuid],
) -> Result<(), ApiError> {
    memberships::require_each_member(txn, scope.facility_id(), "provider_ids", providers).await?;
    schedule_store::set_type_providers(txn, type_id, providers).await?;
    Ok(())
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
    let row = schedule_store::insert_type(&*txn, &scope, &input, now).await?;
    set_type_providers(
        &*txn,
        &scope,
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
    let scope = actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let db = state.db.conn();
    let rows = schedule_store::types(db, &scope).await?;
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
    let row = schedule_store::update_type(&*txn, &scope, type_id, &input, Timestamp::now())
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(providers) = &input.provider_ids {
        set_type_providers(&*txn, &scope, type_id, providers).await?;
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
