//! Inviting people into a facility with a role: identity finds or invites
//! the account, access grants the membership.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::membership_routes::check_facility_role;
use super::memberships::{self, NewMembership};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::identity::routes::{find_or_invite, parse_email};
use crate::policy::MembershipView;
use crate::policy::{Actor, Permission, Role};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(invite))
}

/// Someone to invite into the facility with a role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub email: String,
    pub role: Role,
    pub department: Option<String>,
    pub full_name: Option<String>,
}

/// The outcome of an invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invited {
    pub account_id: Uuid,
    pub membership: MembershipView,
    /// Whether a new account was made (and an invitation code sent).
    pub new_account: bool,
}

/// Invites a person into the facility with a role. A new address gets an
/// account and an invitation code by email; an existing account gets the role.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/invitations",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = Invitation,
    responses((status = 201, description = "Invited", body = Invited), Problems),
    security(("bearer" = []))
)]
async fn invite(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<Invitation>,
) -> Result<(StatusCode, ApiJson<Invited>), ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::MEMBERSHIP_MANAGE)?
        .facility_id();
    let email = parse_email("email", &request.email)?;
    check_facility_role(request.role, request.department.as_deref())?;
    let txn = state.db.begin().await?;
    let (account, new_account) = find_or_invite(
        &state,
        &txn,
        &email,
        request.full_name,
        actor.account_id(),
        facility_id,
    )
    .await?;
    let membership = memberships::grant(
        &txn,
        NewMembership {
            account_id: account.id,
            facility_id: Some(facility_id),
            role: request.role,
            department: request.department,
            is_primary: new_account,
            assigned_by: Some(actor.account_id()),
        },
    )
    .await?;
    audit::commit(
        txn,
        vec![actor
            .event(AuditAction::Create, "membership")
            .resource(membership.id)
            .facility(facility_id)
            .changes(redact(
                json!({ "account_id": account.id, "role": request.role, "invited": new_account }),
                &[],
            ))],
    )
    .await?;
    let membership = membership.view().ok_or(ApiError::NotFound)?;
    Ok((
        StatusCode::CREATED,
        ApiJson(Invited {
            account_id: account.id,
            membership,
            new_account,
        }),
    ))
}
