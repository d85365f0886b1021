//! `/facilities`: creating, listing, reading and changing facilities (the
//! tenants). Memberships are in `membership_routes`, API keys in
//! `api_key_routes`, emergency access in `emergency_routes`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::facilities::{self, Facility, FacilityCreated, FacilityFields, FacilitySettingsWritten};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::context;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

// Identity checks the role an invitation grants by this path.
pub use super::membership_routes::check_facility_role;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_facility, list_facilities))
        .routes(routes!(get_facility, update_facility))
}

/// Creates a facility (installation administrators).
#[utoipa::path(
    post,
    path = "/facilities",
    tag = "facilities",
    request_body = FacilityFields,
    responses((status = 201, description = "Created", body = Facility), Problems),
    security(("bearer" = []))
)]
async fn create_facility(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(fields): ApiJson<FacilityFields>,
) -> Result<(StatusCode, ApiJson<Facility>), ApiError> {
    actor.require_installation(Permission::FACILITY_CREATE)?;
    fields.validate(true)?;
    let settings = fields.settings.clone();
    let txn = state.db.begin().await?;
    let facility = facilities::create(&txn, fields).await?;
    let settings_checked = settings_written(&state, &txn, facility.id, settings).await?;
    let after_commit = context::publish(
        &state,
        &txn,
        Timestamp::now(),
        &FacilityCreated {
            facility_id: facility.id,
        },
    )
    .await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Create, "facility")
                .resource(facility.id)
                .facility(facility.id)
                .changes(redact(json!({ "name": facility.name }), &[])),
        ],
    )
    .await?;
    settings_checked.run().await;
    after_commit.run().await;
    Ok((StatusCode::CREATED, ApiJson(facility.into())))
}

/// Tells the contexts of the settings object a change writes, so each
/// checks the part it reads; nothing when the change writes none.
async fn settings_written(
    state: &AppState,
    txn: &crate::db::Transaction,
    facility_id: Uuid,
    settings: Option<serde_json::Value>,
) -> Result<context::AfterCommit, ApiError> {
    let Some(settings) = settings else {
        return Ok(context::AfterCommit::default());
    };
    let event = FacilitySettingsWritten {
        facility_id,
        settings,
    };
    context::publish(state, txn, Timestamp::now(), &event).await
}

/// Lists the facilities the caller can see.
#[utoipa::path(
    get,
    path = "/facilities",
    tag = "facilities",
    params(PageQuery),
    responses((status = 200, description = "A page of facilities", body = Page<Facility>), Problems),
    security(("bearer" = []))
)]
async fn list_facilities(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<Facility>>, ApiError> {
    let limit = page.limit()?;
    let only = actor.facilities_with(Permission::FACILITY_READ);
    let rows = facilities::page(state.db.conn(), only, page.after, limit).await?;
    let items = rows.into_iter().map(Facility::from).collect();
    Ok(ApiJson(Page::new(items, limit, |f: &Facility| f.id)))
}

/// Reads a facility.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    responses((status = 200, description = "The facility", body = Facility), Problems),
    security(("bearer" = []))
)]
async fn get_facility(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
) -> Result<ApiJson<Facility>, ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::FACILITY_READ)?
        .facility_id();
    let facility = facilities::find(state.db.conn(), facility_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiJson(facility.into()))
}

/// Changes a facility.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = FacilityFields,
    responses((status = 200, description = "The changed facility", body = Facility), Problems),
    security(("bearer" = []))
)]
async fn update_facility(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(fields): ApiJson<FacilityFields>,
) -> Result<ApiJson<Facility>, ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::FACILITY_MANAGE)?
        .facility_id();
    fields.validate(false)?;
    let txn = state.db.begin().await?;
    let facility = facilities::find(&txn, facility_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let changed = serde_json::to_value(FieldNames::of(&fields)).unwrap_or_default();
    let settings = fields.settings.clone();
    let facility = facilities::update(&txn, facility, fields).await?;
    let settings_checked = settings_written(&state, &txn, facility_id, settings).await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "facility")
                .resource(facility_id)
                .facility(facility_id)
                .changes(redact(changed, &[])),
        ],
    )
    .await?;
    settings_checked.run().await;
    Ok(ApiJson(facility.into()))
}

/// The names of the fields a change sets, for the audit log.
#[derive(Serialize)]
struct FieldNames {
    fields: Vec<&'static str>,
}

impl FieldNames {
    fn of(f: &FacilityFields) -> Self {
        let all = [
            ("name", f.name.is_some()),
            ("npi", f.npi.is_some()),
            ("address_line1", f.address_line1.is_some()),
            ("city", f.city.is_some()),
            ("state", f.state.is_some()),
            ("zip_code", f.zip_code.is_some()),
            ("facility_type", f.facility_type.is_some()),
            ("time_zone", f.time_zone.is_some()),
            ("settings", f.settings.is_some()),
            ("is_active", f.is_active.is_some()),
        ];
        Self {
            fields: all
                .into_iter()
                .filter(|(_, set)| *set)
                .map(|(n, _)| n)
                .collect(),
        }
    }
}
