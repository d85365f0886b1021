//! Opening a patient's portal: the patient (or whoever signs in for them)
//! is invited by email and the record is linked to their account only once
//! they accept, so staff cannot hand a record to an account that never
//! asked for it, and the answer never says whether the address had one.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::patients::Patient;
use super::store;
use crate::access::invitations::{self, InvitationView, Offer};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::identity::routes::{parse_email, person};
use crate::policy::{Actor, Permission, Role};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(invite_patient_to_portal))
}

/// Where to send a portal invitation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalInvitation {
    /// The address to invite; the patient's own email when absent.
    pub email: Option<String>,
}

/// Invites a patient to the portal. The address gets a code by email; the
/// record is linked to its account (and the account holds the `patient`
/// role) once its owner accepts. A later accepted invitation replaces the
/// linked account.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/patients/{patient_id}/portal-invitations",
    tag = "patients",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
    ),
    request_body = PortalInvitation,
    responses((status = 201, description = "Invited; pending until accepted", body = InvitationView), Problems),
    security(("bearer" = []))
)]
async fn invite_patient_to_portal(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<PortalInvitation>,
) -> Result<(StatusCode, ApiJson<InvitationView>), ApiError> {
    let scope = actor.facility(facility_id, Permission::PATIENT_UPDATE)?;
    person(&actor)?;
    let txn = state.db.begin().await?;
    let row = store::find(&*txn, &scope, patient_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let email = match request.email {
        Some(email) => email,
        None => {
            let key = state.keyring.facility(facility_id).await?;
            Patient::open(&key, &row)?.email.ok_or_else(|| {
                ApiError::invalid("email", "the patient has no email on record: give one")
            })?
        }
    };
    let email = parse_email("email", &email)?;
    let offer = Offer {
        email,
        full_name: None,
        facility_id,
        role: Role::Patient,
        department: None,
        patient_id: Some(patient_id),
        invited_by: actor.account_id(),
    };
    let invitation = invitations::offer(&state, &txn, offer).await?;
    let view = invitation.view()?;
    let event = scope
        .patient_event(
            &actor,
            AuditAction::Create,
            "invitation",
            invitation.id,
            patient_id,
        )
        .changes(redact(json!({ "role": Role::Patient }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}
