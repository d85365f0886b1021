//! `/facilities/{facility_id}/memberships`: who holds which role in a
//! facility. Granting and ending a membership are audited; an ended one
//! stops counting at once.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::memberships::{self, NewMembership};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::identity::accounts;
use crate::policy::MembershipView;
use crate::policy::RoleScope;
use crate::policy::{Actor, Permission, Role};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_memberships, grant_membership))
        .routes(routes!(revoke_membership))
}

/// Lists the facility's memberships.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/memberships",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility"), PageQuery),
    responses((status = 200, description = "A page of memberships", body = Page<MembershipView>), Problems),
    security(("bearer" = []))
)]
async fn list_memberships(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<MembershipView>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::MEMBERSHIP_READ)?;
    let limit = page.limit()?;
    let rows = memberships::of_facility(state.db.conn(), &scope, page.after, limit).await?;
    let items = rows.iter().filter_map(|m| m.view()).collect();
    Ok(ApiJson(Page::new(items, limit, |m: &MembershipView| m.id)))
}

/// A role to grant an existing account in the facility.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipGrant {
    pub account_id: Uuid,
    pub role: Role,
    pub department: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
}

/// Checks a role and department that will be granted in a facility.
pub fn check_facility_role(role: Role, department: Option<&str>) -> Result<(), ApiError> {
    if role.scope() == RoleScope::Installation {
        return Err(ApiError::invalid(
            "role",
            "is an installation role; it cannot be granted in a facility",
        ));
    }
    if role == Role::Patient {
        // The patient role opens a record only with its portal link, which
        // its owner must accept: that is the portal invitation's to give.
        return Err(ApiError::invalid(
            "role",
            "a patient is invited to the portal from their record (POST …/patients/{patient_id}/portal-invitations)",
        ));
    }
    if department.is_some_and(|d| d.trim().is_empty() || d.len() > 100) {
        return Err(ApiError::invalid(
            "department",
            "must be 1 to 100 characters",
        ));
    }
    Ok(())
}

/// Grants a role in the facility to an existing account.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/memberships",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = MembershipGrant,
    responses((status = 201, description = "Granted", body = MembershipView), Problems),
    security(("bearer" = []))
)]
async fn grant_membership(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(grant): ApiJson<MembershipGrant>,
) -> Result<(StatusCode, ApiJson<MembershipView>), ApiError> {
    let scope = actor.facility(facility_id, Permission::MEMBERSHIP_MANAGE)?;
    let facility_id = scope.facility_id();
    // Separation of duties: the system administrator, who holds no patient
    // access by design, must not be able to give itself some.
    if grant.account_id == actor.account_id() {
        return Err(ApiError::Forbidden(
            "no one grants a role to themselves: ask another administrator".to_owned(),
        ));
    }
    check_facility_role(grant.role, grant.department.as_deref())?;
    let txn = state.db.begin().await?;
    if accounts::find(&txn, grant.account_id).await?.is_none() {
        return Err(ApiError::invalid("account_id", "no such account"));
    }
    let membership = memberships::grant(
        &txn,
        NewMembership {
            account_id: grant.account_id,
            facility_id: Some(facility_id),
            role: grant.role,
            department: grant.department,
            is_primary: grant.is_primary,
            assigned_by: Some(actor.account_id()),
        },
    )
    .await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Create, "membership")
                .resource(membership.id)
                .facility(facility_id)
                .changes(redact(
                    json!({ "account_id": membership.account_id, "role": membership.role }),
                    &[],
                )),
        ],
    )
    .await?;
    let view = membership.view().ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Ends a membership; its holder loses the role at once.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/memberships/{membership_id}",
    tag = "facilities",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("membership_id" = Uuid, Path, description = "The membership"),
    ),
    responses((status = 204, description = "Ended"), Problems),
    security(("bearer" = []))
)]
async fn revoke_membership(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, membership_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = actor.facility(facility_id, Permission::MEMBERSHIP_MANAGE)?;
    let facility_id = scope.facility_id();
    let txn = state.db.begin().await?;
    if !memberships::revoke(&txn, &scope, membership_id).await? {
        return Err(ApiError::NotFound);
    }
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Delete, "membership")
                .resource(membership_id)
                .facility(facility_id),
        ],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
