//! Inviting people into a facility with a role, and the invited person's
//! side: their pending invitations, and accepting one while signed in.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::invitations::{self, InvitationView, Offer, PortalAccepted};
use super::membership_routes::check_facility_role;
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::context;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::identity::routes::{parse_email, person};
use crate::policy::{Actor, Permission, Role};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite))
        .routes(routes!(my_invitations))
        .routes(routes!(accept))
}

/// Someone to invite into the facility with a role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub email: String,
    pub role: Role,
    pub department: Option<String>,
    /// The name of a person new to carebase; an existing account keeps its own.
    pub full_name: Option<String>,
}

/// Invites a person into the facility with a role. The address gets a code
/// by email; the role is held once its owner accepts (a new account
/// choosing its password, an existing one giving its password or accepting
/// while signed in). The answer is the same whether the address had an
/// account or not.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/invitations",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = Invitation,
    responses((status = 201, description = "Invited; pending until accepted", body = InvitationView), Problems),
    security(("bearer" = []))
)]
async fn invite(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<Invitation>,
) -> Result<(StatusCode, ApiJson<InvitationView>), ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::MEMBERSHIP_MANAGE)?
        .facility_id();
    let email = parse_email("email", &request.email)?;
    check_facility_role(request.role, request.department.as_deref())?;
    let txn = state.db.begin().await?;
    let offer = Offer {
        email,
        full_name: request.full_name,
        facility_id,
        role: request.role,
        department: request.department,
        patient_id: None,
        invited_by: actor.account_id(),
    };
    let invitation = invitations::offer(&state, &txn, offer).await?;
    let view = invitation.view()?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Create, "invitation")
                .resource(invitation.id)
                .facility(facility_id)
                .changes(redact(json!({ "role": request.role }), &[])),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// The invitations waiting for the signed-in person.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingInvitations {
    pub items: Vec<InvitationView>,
}

/// Lists the signed-in person's pending invitations (at most 100, newest
/// first).
#[utoipa::path(
    get,
    path = "/me/invitations",
    tag = "facilities",
    responses((status = 200, description = "Pending invitations", body = PendingInvitations), Problems),
    security(("bearer" = []))
)]
async fn my_invitations(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<ApiJson<PendingInvitations>, ApiError> {
    let (account_id, _) = person(&actor)?;
    let items = invitations::pending_of(state.db.conn(), account_id)
        .await?
        .iter()
        .map(invitations::Model::view)
        .collect::<Result<_, _>>()?;
    Ok(ApiJson(PendingInvitations { items }))
}

/// Accepts one of the signed-in person's pending invitations: its role is
/// held from now on (and a portal invitation opens the patient's record).
#[utoipa::path(
    post,
    path = "/me/invitations/{invitation_id}/accept",
    tag = "facilities",
    params(("invitation_id" = Uuid, Path, description = "The invitation")),
    responses((status = 200, description = "Accepted", body = InvitationView), Problems),
    security(("bearer" = []))
)]
async fn accept(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(invitation_id): ApiPath<Uuid>,
) -> Result<ApiJson<InvitationView>, ApiError> {
    let (account_id, _) = person(&actor)?;
    let txn = state.db.begin().await?;
    let (accepted, events) =
        invitations::accept(&*txn, account_id, invitation_id, actor.audit_actor())
            .await?
            .ok_or(ApiError::NotFound)?;
    let request = actor.request.audit_context();
    let events = events
        .into_iter()
        .map(|event| event.context(request.clone()))
        .collect();
    let after_commit = match accepted.patient_id {
        Some(patient_id) => {
            let portal = PortalAccepted {
                facility_id: accepted.facility_id,
                patient_id,
                account_id,
            };
            context::publish(&state, &txn, Timestamp::now(), &portal).await?
        }
        None => Default::default(),
    };
    let view = accepted.view()?;
    audit::commit(txn, events).await?;
    after_commit.run().await;
    Ok(ApiJson(view))
}
