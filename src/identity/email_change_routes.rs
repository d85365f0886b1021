//! Changing the sign-in email, the one change that hands over the account
//! (recovery codes go to that address). So it needs recent authentication
//! (the current password, or a second-factor code where one is enabled),
//! not just a token that may have been stolen; the new address confirms
//! with a code; and the old address is told, with a code that undoes the
//! change, ends every session and voids every code sent meanwhile.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::{self, AccountChanges, AccountView};
use super::auth_routes::own_event;
use super::mail::{self, Mail};
use super::me_routes::{change_own_account, redeem_change};
use super::routes::{Accepted, TokenRedemption, parse_email, person};
use super::tokens::{self, Purpose};
use super::{password, sessions, totp};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::{ApiError, OnConstraint};
use crate::http::ApiJson;
use crate::http::api_docs::Problems;
use crate::policy::{Actor, RequestInfo};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_email_change))
        .routes(routes!(confirm_email_change))
        .routes(routes!(undo_email_change))
}

/// A new email address for the account, and proof that its owner is at
/// the keyboard.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub new_email: String,
    /// The account's current password.
    pub current_password: Option<String>,
    /// Instead of the password, where a second factor is enabled: a code
    /// from the authenticator.
    pub totp_code: Option<String>,
}

/// Checks that the owner is at the keyboard: the current password, or a
/// second-factor code where one is enabled. Returns the accepted code's
/// time step, which must not be used again.
async fn recently_authenticated(
    key: &crate::crypto::DataKey,
    account: &accounts::Model,
    request: &EmailChange,
) -> Result<Option<i64>, ApiError> {
    if let (Some(code), true) = (&request.totp_code, account.mfa_enabled()) {
        let secret = accounts::open_totp_secret(key, account).unwrap_or_default();
        return match totp::accept(&secret, code, account.totp_last_step) {
            Some(step) => Ok(Some(step)),
            None => Err(ApiError::invalid("totp_code", "is not a current code")),
        };
    }
    let Some(current) = &request.current_password else {
        return Err(ApiError::invalid(
            "current_password",
            "is required to change the sign-in email (or `totp_code`, where a second factor is enabled)",
        ));
    };
    let Some(hash) = account.password_hash.clone() else {
        return Err(ApiError::invalid(
            "current_password",
            "this account has no password yet: set one first",
        ));
    };
    if !password::verify(current.clone(), Some(hash)).await? {
        return Err(ApiError::invalid(
            "current_password",
            "is not the current password",
        ));
    }
    Ok(None)
}

/// Sends a code to a new address; the change takes effect when confirmed.
#[utoipa::path(
    post,
    path = "/me/email",
    tag = "me",
    request_body = EmailChange,
    responses((status = 202, description = "A code was sent to the new address", body = Accepted), Problems),
    security(("bearer" = []))
)]
async fn request_email_change(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<EmailChange>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let (account_id, _) = person(&actor)?;
    let email = parse_email("new_email", &request.new_email)?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let account = super::routes::own_account(&txn, account_id).await?;
    let step = recently_authenticated(&key, &account, &request).await?;
    if step.is_some() {
        let changes = AccountChanges {
            totp_last_step: step,
            ..Default::default()
        };
        accounts::update(&txn, account, changes).await?;
    }
    if accounts::find_by_email(&txn, &key, &email).await?.is_some() {
        return Err(ApiError::Conflict(
            "another account uses this `new_email`".to_owned(),
        ));
    }
    let token = tokens::issue(
        &txn,
        &key,
        account_id,
        Purpose::EmailChange,
        Some(email.as_str()),
    )
    .await?;
    mail::send(
        &state,
        &txn,
        Mail::EmailChange,
        email.as_str(),
        Some(&token),
    )
    .await?;
    txn.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted {
            status: "confirmation_sent",
        }),
    ))
}

/// Confirms a new email address with the code sent to it; the old address
/// is told, with a code that undoes the change.
#[utoipa::path(
    post,
    path = "/me/email/confirm",
    tag = "me",
    request_body = TokenRedemption,
    responses((status = 200, description = "The changed account", body = AccountView), Problems),
    security(("bearer" = []))
)]
async fn confirm_email_change(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<TokenRedemption>,
) -> Result<ApiJson<AccountView>, ApiError> {
    let (account_id, _) = person(&actor)?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let value = redeem_change(&txn, &key, &request.token, Purpose::EmailChange, account_id).await?;
    let new_email = parse_email("token", &value)?;
    let before = super::routes::own_account(&txn, account_id).await?;
    let old_email = AccountView::open(&key, &before)?.email;
    let undo = tokens::issue(
        &txn,
        &key,
        account_id,
        Purpose::EmailChangeUndo,
        Some(&old_email),
    )
    .await?;
    mail::send(&state, &txn, Mail::EmailChanged, &old_email, Some(&undo)).await?;
    let (index, sealed) = accounts::seal_email(&key, account_id, &new_email);
    let changes = AccountChanges {
        email: Some((index, sealed)),
        email_confirmed_at: Some(Timestamp::now()),
        ..Default::default()
    };
    let account = change_own_account(txn, &actor, account_id, "email", changes).await?;
    Ok(ApiJson(AccountView::open(&key, &account)?))
}

/// Undoes an email change with the code sent to the old address: the old
/// address signs in again, every session ends, and every code sent
/// meanwhile (to the new address) stops working. Then reset the password.
#[utoipa::path(
    post,
    path = "/auth/undo-email-change",
    tag = "auth",
    request_body = TokenRedemption,
    responses((status = 200, description = "The old address is back", body = Accepted), Problems)
)]
async fn undo_email_change(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<TokenRedemption>,
) -> Result<ApiJson<Accepted>, ApiError> {
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let redeemed = tokens::redeem(&txn, &key, &request.token, Purpose::EmailChangeUndo)
        .await?
        .map_err(|_| super::routes::invalid_token())?;
    let old_email = parse_email("token", redeemed.new_value.as_deref().unwrap_or_default())?;
    let account = super::routes::own_account(&txn, redeemed.account_id).await?;
    let account_id = account.id;
    let (index, sealed) = accounts::seal_email(&key, account_id, &old_email);
    let changes = AccountChanges {
        email: Some((index, sealed)),
        email_confirmed_at: Some(Timestamp::now()),
        ..Default::default()
    };
    accounts::update(&txn, account, changes)
        .await
        .on_constraint("accounts_email_index_key", || {
            ApiError::Conflict("another account now uses the old address".to_owned())
        })?;
    tokens::void_all(&txn, account_id).await?;
    sessions::revoke_all(&txn, account_id, "email change undone").await?;
    audit::commit(
        txn,
        vec![
            own_event(account_id, None, &info, AuditAction::Update)
                .changes(redact(json!({ "email": "restored" }), &["email"])),
        ],
    )
    .await?;
    Ok(ApiJson(Accepted {
        status: "email_restored",
    }))
}
