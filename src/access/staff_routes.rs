//! `/facilities/{facility_id}/staff`: the facility's staff directory
//! (`staff:read`), a member's profile as an administrator keeps it
//! (`membership:manage`), and its verification (`profile:verify`, an
//! administrator's act: no one verifies themselves). Changes are audited
//! naming the fields, never their values.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::memberships;
use super::staff::{self, Reader, StaffFilter, StaffMember};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::identity::profiles::{self, StaffProfile, StaffProfileChanges};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_staff))
        .routes(routes!(get_staff_member))
        .routes(routes!(change_staff_profile))
        .routes(routes!(verify_staff_profile))
}

fn reader(actor: &Actor, facility_id: Uuid) -> Reader {
    Reader {
        account_id: actor.account_id(),
        administers: actor
            .facility(facility_id, Permission::MEMBERSHIP_MANAGE)
            .is_ok(),
    }
}

/// Lists the facility's staff, by role, name and standing.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/staff",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility"), StaffFilter),
    responses((status = 200, description = "A page of staff", body = Page<StaffMember>), Problems),
    security(("bearer" = []))
)]
async fn list_staff(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<StaffFilter>,
) -> Result<ApiJson<Page<StaffMember>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::STAFF_READ)?;
    filter.validate()?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let key = state.keyring.installation().await?;
    let reader = reader(&actor, facility_id);
    let page = staff::page(state.db.conn(), &key, &scope, &filter, reader, limit).await?;
    Ok(ApiJson(page))
}

/// One member of the facility's staff (their primary role there).
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/staff/{account_id}",
    tag = "facilities",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("account_id" = Uuid, Path, description = "The member's account"),
    ),
    responses((status = 200, description = "The member", body = StaffMember), Problems),
    security(("bearer" = []))
)]
async fn get_staff_member(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, account_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<StaffMember>, ApiError> {
    let scope = actor.facility(facility_id, Permission::STAFF_READ)?;
    let key = state.keyring.installation().await?;
    let reader = reader(&actor, facility_id);
    staff::member(state.db.conn(), &key, &scope, account_id, reader)
        .await?
        .map(ApiJson)
        .ok_or(ApiError::NotFound)
}

/// The member's account, if they are staff of the scope's facility.
async fn staff_account(
    db: &impl sea_orm::ConnectionTrait,
    scope: &FacilityScope,
    account_id: Uuid,
) -> Result<(), ApiError> {
    if memberships::staff_of_account(db, scope, account_id)
        .await?
        .is_empty()
    {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// Changes a member's profile, as the member does with `PATCH /me/profile`:
/// `verified` is not set here, and a new licence number or NPI withdraws it.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/staff/{account_id}/profile",
    tag = "facilities",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("account_id" = Uuid, Path, description = "The member's account"),
    ),
    request_body = StaffProfileChanges,
    responses((status = 200, description = "The changed profile", body = StaffProfile), Problems),
    security(("bearer" = []))
)]
async fn change_staff_profile(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, account_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<StaffProfileChanges>,
) -> Result<ApiJson<StaffProfile>, ApiError> {
    let scope = actor.facility(facility_id, Permission::MEMBERSHIP_MANAGE)?;
    changes.validate()?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    staff_account(&*txn, &scope, account_id).await?;
    let now = Timestamp::now();
    let (row, withdrawn) = profiles::change(&*txn, &key, account_id, &changes, now).await?;
    let shown = StaffProfile::open(&key, &row)?;
    let event = actor
        .event(AuditAction::Update, "profile")
        .resource(account_id)
        .facility(facility_id)
        .changes(redact(
            json!({ "fields": changes.touched(), "verification_withdrawn": withdrawn }),
            &[],
        ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// An administrator's verdict on a member's credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// `true` verifies the licence number and NPI as they stand; `false`
    /// withdraws a verification.
    pub verified: bool,
}

/// Verifies (or withdraws the verification of) a member's licence number
/// and NPI. No one verifies their own; there must be one to verify.
#[utoipa::path(
    put,
    path = "/facilities/{facility_id}/staff/{account_id}/verification",
    tag = "facilities",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("account_id" = Uuid, Path, description = "The member's account"),
    ),
    request_body = Verification,
    responses((status = 200, description = "The profile", body = StaffProfile), Problems),
    security(("bearer" = []))
)]
async fn verify_staff_profile(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, account_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(verdict): ApiJson<Verification>,
) -> Result<ApiJson<StaffProfile>, ApiError> {
    let scope = actor.facility(facility_id, Permission::PROFILE_VERIFY)?;
    if account_id == actor.account_id() {
        return Err(ApiError::Forbidden(
            "no one verifies their own credentials: ask another administrator".to_owned(),
        ));
    }
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    staff_account(&*txn, &scope, account_id).await?;
    let row = profiles::find(&*txn, account_id).await?;
    let before = row
        .as_ref()
        .map(|r| StaffProfile::open(&key, r))
        .transpose()?
        .unwrap_or_default();
    let Some(row) = row.filter(|_| before.licence_number.is_some() || before.npi.is_some()) else {
        return Err(ApiError::Conflict(
            "the profile has no licence number or NPI to verify".to_owned(),
        ));
    };
    let by = verdict.verified.then(|| actor.account_id());
    let row = profiles::set_verified(&*txn, row, by, Timestamp::now()).await?;
    let shown = StaffProfile::open(&key, &row)?;
    let event = actor
        .event(AuditAction::Update, "profile")
        .resource(account_id)
        .facility(facility_id)
        .changes(redact(
            json!({ "verified": { "from": before.verified, "to": verdict.verified } }),
            &[],
        ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}
