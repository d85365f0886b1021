//! `/emergency-access` and `/facilities/{facility_id}/emergency-access`:
//! break-the-glass access to a patient outside the caller's facilities, and
//! the facility's review of the grants. A grant is flagged in the audit log
//! as emergency access and PHI. The grants themselves are the access
//! context's (`access::emergency`); these routes are care's because a grant
//! opens one of care's patients.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store as patients;
use crate::access::emergency::{self, EmergencyRequest, Grant};
use crate::app::AppState;
use crate::audit::{self, AuditAction, ComplianceFlag, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, Permission};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_emergency_access))
        .routes(routes!(list_emergency_access))
        .routes(routes!(review_emergency_access))
}

/// Opens a patient outside the caller's facilities, stating why. The grant
/// covers reading that one patient for 60 minutes; it is flagged in the
/// audit log and listed for review by the facility's administrators.
#[utoipa::path(
    post,
    path = "/emergency-access",
    tag = "emergency access",
    request_body = EmergencyRequest,
    responses((status = 201, description = "Granted", body = Grant), Problems),
    security(("bearer" = []))
)]
async fn request_emergency_access(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<EmergencyRequest>,
) -> Result<(StatusCode, ApiJson<Grant>), ApiError> {
    emergency::may_request(&actor)?;
    emergency::outside_own_facilities(&actor, request.facility_id)?;
    if request.reason.trim().chars().count() < 10 {
        return Err(ApiError::invalid(
            "reason",
            "must say why, in at least 10 characters",
        ));
    }
    if request.reason.len() > 2000 {
        return Err(ApiError::invalid(
            "reason",
            "must be at most 2000 characters",
        ));
    }
    let key = state.keyring.facility(request.facility_id).await?;
    let txn = state.db.begin().await?;
    if !patients::exists(&txn, request.facility_id, request.patient_id).await? {
        return Err(ApiError::NotFound);
    }
    let grant = emergency::grant(&txn, &key, &actor, &request).await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::EmergencyAccess, "emergency_access")
                .resource(grant.id)
                .facility(request.facility_id)
                .patient(request.patient_id)
                .changes(redact(json!({ "reason": request.reason }), &["reason"]))
                .flag(ComplianceFlag::EmergencyAccess)
                .flag(ComplianceFlag::Phi),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(Grant::open(&key, &grant)?)))
}

/// Which grants to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Only grants nobody has reviewed yet.
    #[serde(default)]
    pub unreviewed: bool,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// Lists the facility's emergency access grants, newest first, for review.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/emergency-access",
    tag = "emergency access",
    params(("facility_id" = Uuid, Path, description = "The facility"), GrantQuery),
    responses((status = 200, description = "A page of grants", body = Page<Grant>), Problems),
    security(("bearer" = []))
)]
async fn list_emergency_access(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<GrantQuery>,
) -> Result<ApiJson<Page<Grant>>, ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::EMERGENCY_ACCESS_REVIEW)?
        .facility_id();
    let limit = crate::http::extract::page_limit(query.limit)?;
    let rows = emergency::page(
        state.db.conn(),
        facility_id,
        query.unreviewed,
        query.after,
        limit,
    )
    .await?;
    let key = state.keyring.facility(facility_id).await?;
    let grants = rows
        .iter()
        .map(|row| Grant::open(&key, row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiJson(Page::new(grants, limit, |g: &Grant| g.id)))
}

/// Marks a grant reviewed.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/emergency-access/{grant_id}/review",
    tag = "emergency access",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("grant_id" = Uuid, Path, description = "The grant"),
    ),
    responses((status = 200, description = "Reviewed", body = Grant), Problems),
    security(("bearer" = []))
)]
async fn review_emergency_access(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, grant_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Grant>, ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::EMERGENCY_ACCESS_REVIEW)?
        .facility_id();
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = emergency::review(&txn, facility_id, grant_id, actor.account_id())
        .await?
        .ok_or(ApiError::NotFound)?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "emergency_access")
                .resource(grant_id)
                .facility(facility_id)
                .patient(row.patient_id)
                .changes(redact(json!({ "reviewed": true }), &[])),
        ],
    )
    .await?;
    Ok(ApiJson(Grant::open(&key, &row)?))
}
