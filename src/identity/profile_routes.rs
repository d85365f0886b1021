//! `/me/profile`: the signed-in person's own profile (names; for a
//! provider, licence, NPI, certification, address, country). Its owner
//! edits it but never verifies it; a new licence number or NPI withdraws
//! the verification. Every change is audited, naming the fields only.

use axum::extract::State;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::profiles::{self, StaffProfile, StaffProfileChanges};
use super::routes::person;
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::http::api_docs::Problems;
use crate::policy::Actor;
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(my_profile, change_my_profile))
}

/// The signed-in person's profile (empty until they fill it in).
#[utoipa::path(
    get,
    path = "/me/profile",
    tag = "me",
    responses((status = 200, description = "The profile", body = StaffProfile), Problems),
    security(("bearer" = []))
)]
async fn my_profile(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<ApiJson<StaffProfile>, ApiError> {
    let (account_id, _) = person(&actor)?;
    let key = state.keyring.installation().await?;
    let profile = match profiles::find(state.db.conn(), account_id).await? {
        Some(row) => StaffProfile::open(&key, &row)?,
        None => StaffProfile::default(),
    };
    Ok(ApiJson(profile))
}

/// Changes the signed-in person's profile. `verified` is not theirs to
/// set; changing the licence number or NPI withdraws a verification.
#[utoipa::path(
    patch,
    path = "/me/profile",
    tag = "me",
    request_body = StaffProfileChanges,
    responses((status = 200, description = "The changed profile", body = StaffProfile), Problems),
    security(("bearer" = []))
)]
async fn change_my_profile(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(changes): ApiJson<StaffProfileChanges>,
) -> Result<ApiJson<StaffProfile>, ApiError> {
    let (account_id, _) = person(&actor)?;
    changes.validate()?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let now = Timestamp::now();
    let (row, withdrawn) = profiles::change(&*txn, &key, account_id, &changes, now).await?;
    let shown = StaffProfile::open(&key, &row)?;
    let event = actor
        .event(AuditAction::Update, "profile")
        .resource(account_id)
        .changes(redact(
            json!({ "fields": changes.touched(), "verification_withdrawn": withdrawn }),
            &[],
        ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}
