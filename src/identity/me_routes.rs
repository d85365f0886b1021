//! The signed-in account looking after itself: its profile, password,
//! email and phone, second factor, and sessions.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{self, AccountChanges, AccountView};
use super::mail::{self, Mail};
use super::routes::{Accepted, TokenRedemption, invalid_token, own_account, person};
use super::sessions;
use super::tokens::{self, Purpose};
use super::{password, totp};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::db::Transaction;
use crate::error::{ApiError, OnConstraint};
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::policy::{Actor, MembershipView};
use crate::time::Timestamp;
use crate::types::Phone;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(request_phone_change))
        .routes(routes!(confirm_phone_change))
        .routes(routes!(enroll_mfa, disable_mfa))
        .routes(routes!(confirm_mfa))
        .routes(routes!(my_sessions))
        .routes(routes!(end_my_session))
}

/// Changes the actor's own account in `txn`, records which field changed
/// (never its value), and commits.
pub(super) async fn change_own_account(
    txn: Transaction,
    actor: &Actor,
    account_id: Uuid,
    field: &str,
    changes: AccountChanges,
) -> Result<accounts::Model, ApiError> {
    let account = own_account(&txn, account_id).await?;
    let account = accounts::update(&txn, account, changes)
        .await
        .on_constraint("accounts_email_index_key", || {
            ApiError::Conflict("another account uses this email".to_owned())
        })?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "account")
                .resource(account_id)
                .changes(redact(json!({ field: "changed" }), &[field])),
        ],
    )
    .await?;
    Ok(account)
}

/// Redeems a change code of `purpose` that belongs to `account_id`; returns
/// the new value it confirms.
pub(super) async fn redeem_change(
    txn: &Transaction,
    key: &crate::crypto::DataKey,
    token: &str,
    purpose: Purpose,
    account_id: Uuid,
) -> Result<String, ApiError> {
    let redeemed = tokens::redeem(txn, key, token, purpose)
        .await?
        .map_err(|_| invalid_token())?;
    match (redeemed.account_id == account_id, redeemed.new_value) {
        (true, Some(value)) => Ok(value),
        _ => Err(invalid_token()),
    }
}

/// The signed-in account and its memberships.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub account: AccountView,
    pub memberships: Vec<MembershipView>,
}

/// The signed-in account.
#[utoipa::path(
    get,
    path = "/me",
    tag = "me",
    responses((status = 200, description = "The account", body = Me), Problems),
    security(("bearer" = []))
)]
async fn me(State(state): State<AppState>, actor: Actor) -> Result<ApiJson<Me>, ApiError> {
    let (account_id, _) = person(&actor)?;
    let db = state.db.conn();
    let account = own_account(db, account_id).await?;
    let key = state.keyring.installation().await?;
    // The actor already holds the account's live memberships, loaded with
    // its session for this request.
    let memberships = actor
        .memberships()
        .iter()
        .map(|m| m.view(account_id))
        .collect();
    Ok(ApiJson(Me {
        account: AccountView::open(&key, &account)?,
        memberships,
    }))
}

/// What the account may change about itself directly.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChanges {
    pub full_name: Option<String>,
}

/// Changes the signed-in account's profile.
#[utoipa::path(
    patch,
    path = "/me",
    tag = "me",
    request_body = ProfileChanges,
    responses((status = 200, description = "The changed account", body = AccountView), Problems),
    security(("bearer" = []))
)]
async fn update_me(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(changes): ApiJson<ProfileChanges>,
) -> Result<ApiJson<AccountView>, ApiError> {
    let (account_id, _) = person(&actor)?;
    if changes
        .full_name
        .as_ref()
        .is_some_and(|n| n.trim().is_empty() || n.len() > 200)
    {
        return Err(ApiError::invalid(
            "full_name",
            "must be 1 to 200 characters",
        ));
    }
    let key = state.keyring.installation().await?;
    let sealed = changes.full_name.as_deref().map(|n| {
        key.seal_str(
            crate::crypto::FieldRef::new(accounts::TABLE, "full_name", account_id),
            n.trim(),
        )
    });
    let txn = state.db.begin().await?;
    let changes = AccountChanges {
        full_name: sealed,
        ..Default::default()
    };
    let account = change_own_account(txn, &actor, account_id, "full_name", changes).await?;
    Ok(ApiJson(AccountView::open(&key, &account)?))
}

/// The current password and the new one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the password; every other session of the account ends.
#[utoipa::path(
    post,
    path = "/me/password",
    tag = "me",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed"), Problems),
    security(("bearer" = []))
)]
async fn change_password(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let (account_id, session_id) = person(&actor)?;
    password::check_policy("new_password", &request.new_password)?;
    let account = own_account(state.db.conn(), account_id).await?;
    if !password::verify(request.current_password, account.password_hash.clone()).await? {
        return Err(ApiError::invalid(
            "current_password",
            "is not the account's password",
        ));
    }
    let hash = password::hash(request.new_password).await?;
    let txn = state.db.begin().await?;
    sessions::revoke_others(&txn, account_id, session_id, "password changed").await?;
    let changes = AccountChanges {
        password_hash: Some(hash),
        ..Default::default()
    };
    change_own_account(txn, &actor, account_id, "password", changes).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new phone number for the account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneChange {
    pub phone: String,
}

/// Sends a code to a new phone number (through the outbox's SMS channel).
#[utoipa::path(
    post,
    path = "/me/phone",
    tag = "me",
    request_body = PhoneChange,
    responses((status = 202, description = "A code was sent to the number", body = Accepted), Problems),
    security(("bearer" = []))
)]
async fn request_phone_change(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<PhoneChange>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let (account_id, _) = person(&actor)?;
    let phone = Phone::parse_e164(&request.phone).map_err(|why| ApiError::invalid("phone", why))?;
    let phone = phone.as_str();
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let token = tokens::issue(&txn, &key, account_id, Purpose::PhoneChange, Some(phone)).await?;
    mail::send(&state, &txn, Mail::PhoneChange, phone, Some(&token)).await?;
    txn.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted {
            status: "confirmation_sent",
        }),
    ))
}

/// Confirms a new phone number with the code sent to it.
#[utoipa::path(
    post,
    path = "/me/phone/confirm",
    tag = "me",
    request_body = TokenRedemption,
    responses((status = 200, description = "The changed account", body = AccountView), Problems),
    security(("bearer" = []))
)]
async fn confirm_phone_change(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<TokenRedemption>,
) -> Result<ApiJson<AccountView>, ApiError> {
    let (account_id, _) = person(&actor)?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let phone = redeem_change(&txn, &key, &request.token, Purpose::PhoneChange, account_id).await?;
    let sealed = accounts::seal_phone(&key, account_id, &phone);
    let changes = AccountChanges {
        phone: Some(sealed),
        phone_confirmed_at: Some(Timestamp::now()),
        ..Default::default()
    };
    let account = change_own_account(txn, &actor, account_id, "phone", changes).await?;
    Ok(ApiJson(AccountView::open(&key, &account)?))
}

/// A TOTP secret to load into an authenticator app.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaEnrollment {
    /// The secret in base32, for typing in.
    pub secret: String,
    /// The `otpauth://` URL, for a QR code.
    pub otpauth_url: String,
}

/// Starts enrolling a second factor: returns a new secret. It takes effect
/// once confirmed with a code from it.
#[utoipa::path(
    post,
    path = "/me/mfa",
    tag = "me",
    responses((status = 200, description = "A new secret", body = MfaEnrollment), Problems),
    security(("bearer" = []))
)]
async fn enroll_mfa(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<ApiJson<MfaEnrollment>, ApiError> {
    let (account_id, _) = person(&actor)?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let account = own_account(&txn, account_id).await?;
    if account.mfa_enabled() {
        return Err(ApiError::Conflict(
            "a second factor is already enabled; disable it first".to_owned(),
        ));
    }
    let view = AccountView::open(&key, &account)?;
    let secret = totp::new_secret();
    let url = totp::provisioning_url(&secret, &view.email)?;
    let sealed = accounts::seal_totp_secret(&key, account_id, &secret);
    let changes = AccountChanges {
        totp_secret: Some(Some(sealed)),
        ..Default::default()
    };
    accounts::update(&txn, account, changes).await?;
    txn.commit().await?;
    Ok(ApiJson(MfaEnrollment {
        secret: totp::base32(&secret),
        otpauth_url: url,
    }))
}

/// A code from the authenticator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    pub code: String,
}

/// Enables the second factor after checking a code from it.
#[utoipa::path(
    post,
    path = "/me/mfa/confirm",
    tag = "me",
    request_body = MfaCode,
    responses((status = 204, description = "Enabled"), Problems),
    security(("bearer" = []))
)]
async fn confirm_mfa(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<MfaCode>,
) -> Result<StatusCode, ApiError> {
    set_mfa(&state, &actor, &request.code, true).await
}

/// Disables the second factor; needs a current code from it.
#[utoipa::path(
    delete,
    path = "/me/mfa",
    tag = "me",
    request_body = MfaCode,
    responses((status = 204, description = "Disabled"), Problems),
    security(("bearer" = []))
)]
async fn disable_mfa(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<MfaCode>,
) -> Result<StatusCode, ApiError> {
    set_mfa(&state, &actor, &request.code, false).await
}

async fn set_mfa(
    state: &AppState,
    actor: &Actor,
    code: &str,
    enable: bool,
) -> Result<StatusCode, ApiError> {
    let (account_id, _) = person(actor)?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let account = own_account(&txn, account_id).await?;
    if account.mfa_enabled() == enable {
        return Err(ApiError::Conflict(format!(
            "the second factor is already {}",
            if enable { "enabled" } else { "disabled" }
        )));
    }
    let secret = accounts::open_totp_secret(&key, &account)
        .ok_or_else(|| ApiError::Conflict("start with POST /me/mfa".to_owned()))?;
    let step = totp::accept(&secret, code, account.totp_last_step)
        .ok_or_else(|| ApiError::invalid("code", "is not the current code"))?;
    let changes = AccountChanges {
        totp_last_step: Some(step),
        totp_enabled_at: Some(enable.then(Timestamp::now)),
        totp_secret: (!enable).then_some(None),
        ..Default::default()
    };
    accounts::update(&txn, account, changes).await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "account")
                .resource(account_id)
                .changes(redact(json!({ "mfa_enabled": enable }), &[])),
        ],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A session as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub user_agent: Option<String>,
    pub client_addr: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// Lists the account's live sessions.
#[utoipa::path(
    get,
    path = "/me/sessions",
    tag = "me",
    params(PageQuery),
    responses((status = 200, description = "A page of live sessions", body = Page<SessionView>), Problems),
    security(("bearer" = []))
)]
async fn my_sessions(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<SessionView>>, ApiError> {
    let (account_id, session_id) = person(&actor)?;
    let limit = page.limit()?;
    let live = sessions::live_page(
        state.db.conn(),
        account_id,
        Timestamp::now(),
        page.after,
        limit,
    )
    .await?;
    let items = live
        .into_iter()
        .map(|s| SessionView {
            current: s.id == session_id,
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            client_addr: s.client_addr,
        })
        .collect();
    Ok(ApiJson(Page::new(items, limit, |s: &SessionView| s.id)))
}

/// Ends one of the account's sessions at once.
#[utoipa::path(
    delete,
    path = "/me/sessions/{session_id}",
    tag = "me",
    params(("session_id" = Uuid, Path, description = "The session")),
    responses((status = 204, description = "Ended"), Problems),
    security(("bearer" = []))
)]
async fn end_my_session(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(session_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let (account_id, _) = person(&actor)?;
    let txn = state.db.begin().await?;
    let session = sessions::find(&txn, session_id)
        .await?
        .filter(|s| s.account_id == account_id)
        .ok_or(ApiError::NotFound)?;
    sessions::revoke(&txn, session.id, "ended by its owner").await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Logout, "session")
                .resource(session.id),
        ],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
