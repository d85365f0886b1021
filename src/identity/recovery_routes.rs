//! Password recovery: a code sent to the account's address, then a new
//! password set with it. Registered with the other `/auth` routes in
//! [`super::auth_routes::routes`].

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::accounts::{self, AccountChanges, Standing};
use super::auth_routes::own_event;
use super::mail::{self, Mail};
use super::password;
use super::routes::{Accepted, account_of_code, parse_email};
use super::tokens::{self, Purpose};
use super::{sessions, throttle};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::http::api_docs::Problems;
use crate::policy::RequestInfo;
use crate::time::Timestamp;
use crate::types::Email;

/// An email to send a recovery code to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRequest {
    pub email: String,
}

/// Sends a password reset code, if the address has an account. The answer
/// is the same either way.
#[utoipa::path(
    post,
    path = "/auth/recover",
    tag = "auth",
    request_body = RecoveryRequest,
    responses((status = 202, description = "A code was sent if the account exists", body = Accepted), Problems)
)]
pub(super) async fn recover(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<RecoveryRequest>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let email = parse_email("email", &request.email)?;
    let key = state.keyring.installation().await?;
    throttle::limit_mail(state.db.conn(), &key, email.as_str(), info.client_addr).await?;
    // Off the request path: a registered address and an unknown one take
    // the same time and get the same answer.
    let work = state.clone();
    throttle::off_the_request_path(
        "recovery",
        async move { send_recovery(&work, &email).await },
    );
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted {
            status: "sent_if_registered",
        }),
    ))
}

/// Sends a recovery code to `email`, if it has an account.
async fn send_recovery(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    if let Some(account) = accounts::find_by_email(&txn, &key, email).await?
        && account.standing(Timestamp::now()) != Standing::Deleted
    {
        let token = tokens::issue(&txn, &key, account.id, Purpose::Recovery, None).await?;
        mail::send(state, &txn, Mail::Recovery, email.as_str(), Some(&token)).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A recovery code and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub token: String,
    pub new_password: String,
}

/// Sets a new password with a recovery code; every session of the account ends.
#[utoipa::path(
    post,
    path = "/auth/reset-password",
    tag = "auth",
    request_body = PasswordReset,
    responses((status = 200, description = "The password was changed", body = Accepted), Problems)
)]
pub(super) async fn reset_password(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<PasswordReset>,
) -> Result<ApiJson<Accepted>, ApiError> {
    password::check_policy("new_password", &request.new_password)?;
    let hash = password::hash(request.new_password).await?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let account = account_of_code(&txn, &key, &request.token, Purpose::Recovery).await?;
    let account_id = account.id;
    // Receiving the code proves the address.
    let email_confirmed_at = account.email_confirmed_at.or(Some(Timestamp::now()));
    let changes = AccountChanges {
        password_hash: Some(hash),
        email_confirmed_at,
        ..Default::default()
    };
    accounts::update(&txn, account, changes).await?;
    sessions::revoke_all(&txn, account_id, "password reset").await?;
    audit::commit(
        txn,
        vec![
            own_event(account_id, None, &info, AuditAction::Update)
                .changes(redact(json!({ "password": "changed" }), &["password"])),
        ],
    )
    .await?;
    Ok(ApiJson(Accepted {
        status: "password_changed",
    }))
}
