//! Identity over HTTP: sign-up and confirmation, sign-in and tokens,
//! recovery, invitations, the signed-in account (`/me`), and account
//! administration.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::{ActiveValue, ConnectionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{self, AccountView, NewAccount, Standing};
use super::email::Email;
use super::mail::{self, Mail};
use super::sessions::{self, Origin, Refreshed, Session};
use super::tokens::{self, Purpose};
use super::{password, throttle, totp};
use crate::access::memberships::{self, MembershipView, NewMembership};
use crate::access::routes::check_facility_role;
use crate::access::{Actor, Permission, Principal, RequestInfo, Role};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::db::Transaction;
use crate::error::{ApiError, OnConstraint};
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(confirm_email))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(sign_out))
        .routes(routes!(recover))
        .routes(routes!(reset_password))
        .routes(routes!(accept_invitation))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(request_email_change))
        .routes(routes!(confirm_email_change))
        .routes(routes!(request_phone_change))
        .routes(routes!(confirm_phone_change))
        .routes(routes!(enroll_mfa, disable_mfa))
        .routes(routes!(confirm_mfa))
        .routes(routes!(my_sessions))
        .routes(routes!(end_my_session))
        .routes(routes!(invite))
        .routes(routes!(list_accounts))
        .routes(routes!(get_account, delete_account))
        .routes(routes!(ban_account))
        .routes(routes!(unban_account))
        .routes(routes!(revoke_account_sessions))
}

const INVALID_CREDENTIALS: &str = "invalid email or password";

fn parse_email(field: &str, raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|reason| ApiError::invalid(field, reason))
}

fn invalid_token() -> ApiError {
    ApiError::invalid("token", "is invalid, expired or already used")
}

fn session_origin(info: &RequestInfo) -> Origin {
    Origin {
        user_agent: info.user_agent.clone(),
        client_addr: info.client_addr.map(|a| a.to_string()),
    }
}

/// An audit event about an account, by the account itself.
fn own_event(
    account_id: Uuid,
    session_id: Option<Uuid>,
    info: &RequestInfo,
    action: AuditAction,
) -> AuditEvent {
    AuditEvent::new(
        AuditActor::Account {
            id: account_id,
            session_id,
        },
        action,
        "account",
    )
    .resource(account_id)
    .context(info.audit_context())
}

/// The actor, which must be a signed-in person (not an API key).
fn person(actor: &Actor) -> Result<(Uuid, Uuid), ApiError> {
    match actor.principal {
        Principal::Account {
            account_id,
            session_id,
        } => Ok((account_id, session_id)),
        Principal::ApiKey { .. } => Err(ApiError::Forbidden(
            "this is for signed-in people, not API keys".to_owned(),
        )),
    }
}

async fn own_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<accounts::Model, ApiError> {
    accounts::find(db, account_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Changes the actor's own account in `txn`, records which field changed
/// (never its value), and commits.
async fn change_own_account(
    txn: Transaction,
    actor: &Actor,
    account_id: Uuid,
    field: &str,
    change: impl FnOnce(&mut accounts::ActiveModel),
) -> Result<accounts::Model, ApiError> {
    let account = own_account(&txn, account_id).await?;
    let account = accounts::update(&txn, account, change)
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
async fn redeem_change(
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

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    pub full_name: Option<String>,
}

/// An answer that says what happens next, never whether an email exists.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
}

/// Creates an account and sends a confirmation code to its email. The
/// answer is the same whether or not the address already has an account.
#[utoipa::path(
    post,
    path = "/auth/sign-up",
    tag = "auth",
    request_body = SignUp,
    responses((status = 202, description = "A confirmation code was sent", body = Accepted), Problems)
)]
async fn sign_up(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<SignUp>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    if !state.config.allow_sign_up {
        return Err(ApiError::Forbidden(
            "sign-up is closed on this installation; ask for an invitation".to_owned(),
        ));
    }
    let email = parse_email("email", &request.email)?;
    password::check_policy("password", &request.password)?;
    if request
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
    let hash = password::hash(request.password).await?;
    let txn = state.db.begin().await?;
    match accounts::find_by_email(&txn, &key, &email).await? {
        Some(_) => mail::send(&state, &txn, Mail::AlreadyRegistered, email.as_str(), None).await?,
        None => {
            let account = accounts::create(
                &txn,
                &key,
                NewAccount {
                    email: email.clone(),
                    password_hash: Some(hash),
                    full_name: request.full_name,
                    invited_by: None,
                    email_confirmed: false,
                },
            )
            .await?;
            let token = tokens::issue(&txn, &key, account.id, Purpose::ConfirmEmail, None).await?;
            mail::send(
                &state,
                &txn,
                Mail::ConfirmEmail,
                email.as_str(),
                Some(&token),
            )
            .await?;
            audit::append(
                &txn,
                vec![own_event(account.id, None, &info, AuditAction::Create)],
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted {
            status: "confirmation_sent",
        }),
    ))
}

/// A single-use code from a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRedemption {
    pub token: String,
}

/// Confirms an email address with the code sent to it.
#[utoipa::path(
    post,
    path = "/auth/confirm-email",
    tag = "auth",
    request_body = TokenRedemption,
    responses((status = 200, description = "Confirmed", body = Accepted), Problems)
)]
async fn confirm_email(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<TokenRedemption>,
) -> Result<ApiJson<Accepted>, ApiError> {
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let redeemed = tokens::redeem(&txn, &key, &request.token, Purpose::ConfirmEmail)
        .await?
        .map_err(|_| invalid_token())?;
    let account = own_account(&txn, redeemed.account_id).await?;
    accounts::update(&txn, account, |a| {
        a.email_confirmed_at = ActiveValue::Set(Some(Timestamp::now()));
    })
    .await?;
    audit::commit(
        txn,
        vec![
            own_event(redeemed.account_id, None, &info, AuditAction::Update)
                .changes(redact(json!({ "email_confirmed": true }), &[])),
        ],
    )
    .await?;
    Ok(ApiJson(Accepted {
        status: "confirmed",
    }))
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// The current code of the account's authenticator, when it has one.
    pub totp_code: Option<String>,
}

/// A session's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Exchange at `/auth/refresh` for new tokens; single use.
    pub refresh_token: String,
    pub session_id: Uuid,
    /// The session ends then at the latest, however it is used.
    pub session_expires_at: Timestamp,
}

fn token_pair(
    state: &AppState,
    session: &Session,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    Ok(TokenPair {
        access_token: state.ext::<crate::identity::Identity>()
            .tokens
            .issue(session.account_id, session.id)?,
        token_type: "Bearer",
        expires_in: state.ext::<crate::identity::Identity>().tokens.ttl_secs(),
        refresh_token,
        session_id: session.id,
        session_expires_at: session.expires_at,
    })
}

/// Counts a failed sign-in and records it, then answers `error`.
async fn refuse_sign_in(
    state: &AppState,
    counters: &throttle::Counters,
    account_id: Option<Uuid>,
    info: &RequestInfo,
    error: ApiError,
) -> Result<TokenPair, ApiError> {
    let txn = state.db.begin().await?;
    throttle::record_failure(&txn, counters).await?;
    let actor = match account_id {
        Some(id) => AuditActor::Account {
            id,
            session_id: None,
        },
        None => AuditActor::System {
            job: "sign-in".to_owned(),
        },
    };
    let mut event =
        AuditEvent::new(actor, AuditAction::LoginFailed, "session").context(info.audit_context());
    if let Some(id) = account_id {
        event = event.resource(id);
    }
    audit::commit(txn, vec![event]).await?;
    Err(error)
}

/// Signs in. Failures are throttled per email and per client address, and
/// answer alike whether or not the email has an account.
#[utoipa::path(
    post,
    path = "/auth/sign-in",
    tag = "auth",
    request_body = SignIn,
    responses((status = 200, description = "Signed in", body = TokenPair), Problems)
)]
async fn sign_in(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<SignIn>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    let email = parse_email("email", &request.email)?;
    let key = state.keyring.installation().await?;
    let counters = throttle::Counters::new(&key, email.as_str(), info.client_addr);
    let db = state.db.conn();
    if let Some(until) = throttle::blocked_until(db, &counters).await? {
        let wait = (until.as_micros() - Timestamp::now().as_micros()) / 1_000_000;
        return Err(ApiError::TooManyRequests {
            retry_after_secs: u64::try_from(wait.max(1)).unwrap_or(1),
        });
    }
    let account = accounts::find_by_email(db, &key, &email).await?;
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    let matches = password::verify(request.password, stored).await?;
    let now = Timestamp::now();
    let account = match account {
        Some(account) if matches && account.standing(now) != Standing::Deleted => account,
        other => {
            let id = other.map(|a| a.id);
            let refused = ApiError::Unauthorized(INVALID_CREDENTIALS.to_owned());
            return refuse_sign_in(&state, &counters, id, &info, refused)
                .await
                .map(ApiJson);
        }
    };
    if account.standing(now) == Standing::Banned {
        let suspended = ApiError::Forbidden("this account is suspended".to_owned());
        return refuse_sign_in(&state, &counters, Some(account.id), &info, suspended)
            .await
            .map(ApiJson);
    }
    if account.email_confirmed_at.is_none() {
        return Err(ApiError::Forbidden(
            "confirm your email address first; a code was sent to it".to_owned(),
        ));
    }
    let mut accepted_step = None;
    if account.mfa_enabled() {
        let Some(code) = request.totp_code.as_deref() else {
            return Err(ApiError::MfaRequired);
        };
        let secret = accounts::open_totp_secret(&key, &account).unwrap_or_default();
        match totp::accept(&secret, code, account.totp_last_step) {
            Some(step) => accepted_step = Some(step),
            None => {
                let refused =
                    ApiError::Unauthorized("the second-factor code is invalid".to_owned());
                return refuse_sign_in(&state, &counters, Some(account.id), &info, refused)
                    .await
                    .map(ApiJson);
            }
        }
    }
    let txn = state.db.begin().await?;
    throttle::clear_email(&txn, &counters).await?;
    let (session, refresh_token) = sessions::start(
        &txn,
        state.ext::<crate::identity::Identity>().sessions,
        account.id,
        session_origin(&info),
    )
    .await?;
    let account_id = account.id;
    accounts::update(&txn, account, |a| {
        a.last_sign_in_at = ActiveValue::Set(Some(now));
        if let Some(step) = accepted_step {
            a.totp_last_step = ActiveValue::Set(Some(step));
        }
    })
    .await?;
    audit::commit(
        txn,
        vec![
            AuditEvent::new(
                AuditActor::Account {
                    id: account_id,
                    session_id: Some(session.id),
                },
                AuditAction::Login,
                "session",
            )
            .resource(session.id)
            .context(info.audit_context()),
        ],
    )
    .await?;
    Ok(ApiJson(token_pair(&state, &session, refresh_token)?))
}

/// A refresh token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchanges a refresh token for new tokens. Each refresh token works
/// once; presenting a used one ends its session.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, description = "New tokens", body = TokenPair), Problems)
)]
async fn refresh(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    let txn = state.db.begin().await?;
    let outcome = sessions::refresh(&txn, state.ext::<crate::identity::Identity>().sessions, &request.refresh_token).await?;
    match outcome {
        Refreshed::Rotated {
            session,
            refresh_token,
        } => {
            let account = accounts::find(&txn, session.account_id).await?;
            if account.is_none_or(|a| a.standing(Timestamp::now()) != Standing::Good) {
                return Err(ApiError::Unauthorized(
                    "the refresh token is not valid".to_owned(),
                ));
            }
            txn.commit().await?;
            Ok(ApiJson(token_pair(&state, &session, refresh_token)?))
        }
        Refreshed::Replayed { session } => {
            audit::commit(
                txn,
                vec![
                    own_event(
                        session.account_id,
                        Some(session.id),
                        &info,
                        AuditAction::Logout,
                    )
                    .changes(redact(json!({ "reason": "refresh token reused" }), &[])),
                ],
            )
            .await?;
            Err(ApiError::Unauthorized(
                "this refresh token was already used; the session has been ended".to_owned(),
            ))
        }
        Refreshed::Refused => Err(ApiError::Unauthorized(
            "the refresh token is not valid".to_owned(),
        )),
    }
}

/// Ends the current session at once.
#[utoipa::path(
    post,
    path = "/auth/sign-out",
    tag = "auth",
    responses((status = 204, description = "Signed out"), Problems),
    security(("bearer" = []))
)]
async fn sign_out(State(state): State<AppState>, actor: Actor) -> Result<StatusCode, ApiError> {
    let (_, session_id) = person(&actor)?;
    let txn = state.db.begin().await?;
    sessions::revoke(&txn, session_id, "signed out").await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Logout, "session")
                .resource(session_id),
        ],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

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
async fn recover(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RecoveryRequest>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let email = parse_email("email", &request.email)?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    if let Some(account) = accounts::find_by_email(&txn, &key, &email).await?
        && account.standing(Timestamp::now()) != Standing::Deleted
    {
        let token = tokens::issue(&txn, &key, account.id, Purpose::Recovery, None).await?;
        mail::send(&state, &txn, Mail::Recovery, email.as_str(), Some(&token)).await?;
    }
    txn.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted {
            status: "sent_if_registered",
        }),
    ))
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
async fn reset_password(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<PasswordReset>,
) -> Result<ApiJson<Accepted>, ApiError> {
    password::check_policy("new_password", &request.new_password)?;
    let hash = password::hash(request.new_password).await?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let redeemed = tokens::redeem(&txn, &key, &request.token, Purpose::Recovery)
        .await?
        .map_err(|_| invalid_token())?;
    let account = own_account(&txn, redeemed.account_id).await?;
    accounts::update(&txn, account, |a| {
        a.password_hash = ActiveValue::Set(Some(hash));
        // Receiving the code proves the address.
        if matches!(a.email_confirmed_at, ActiveValue::Unchanged(None)) {
            a.email_confirmed_at = ActiveValue::Set(Some(Timestamp::now()));
        }
    })
    .await?;
    sessions::revoke_all(&txn, redeemed.account_id, "password reset").await?;
    audit::commit(
        txn,
        vec![
            own_event(redeemed.account_id, None, &info, AuditAction::Update)
                .changes(redact(json!({ "password": "changed" }), &["password"])),
        ],
    )
    .await?;
    Ok(ApiJson(Accepted {
        status: "password_changed",
    }))
}

/// An invitation code, the password to set, and optionally a name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationAcceptance {
    pub token: String,
    pub password: String,
    pub full_name: Option<String>,
}

/// Accepts an invitation: sets the password and confirms the email.
#[utoipa::path(
    post,
    path = "/auth/accept-invitation",
    tag = "auth",
    request_body = InvitationAcceptance,
    responses((status = 200, description = "Accepted; sign in now", body = Accepted), Problems)
)]
async fn accept_invitation(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<InvitationAcceptance>,
) -> Result<ApiJson<Accepted>, ApiError> {
    password::check_policy("password", &request.password)?;
    let hash = password::hash(request.password).await?;
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let redeemed = tokens::redeem(&txn, &key, &request.token, Purpose::Invitation)
        .await?
        .map_err(|_| invalid_token())?;
    let account = own_account(&txn, redeemed.account_id).await?;
    let id = account.id;
    let full_name = request.full_name.map(|n| {
        key.seal_str(
            crate::crypto::FieldRef::new(accounts::TABLE, "full_name", id),
            n.trim(),
        )
    });
    accounts::update(&txn, account, |a| {
        a.password_hash = ActiveValue::Set(Some(hash));
        a.email_confirmed_at = ActiveValue::Set(Some(Timestamp::now()));
        if let Some(name) = full_name {
            a.full_name = ActiveValue::Set(Some(name));
        }
    })
    .await?;
    audit::commit(
        txn,
        vec![
            own_event(id, None, &info, AuditAction::Update)
                .changes(redact(json!({ "invitation": "accepted" }), &[])),
        ],
    )
    .await?;
    Ok(ApiJson(Accepted { status: "accepted" }))
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
    let memberships = memberships::views_of_account(db, account_id).await?;
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
    let account = change_own_account(txn, &actor, account_id, "full_name", |a| {
        if let Some(name) = sealed {
            a.full_name = ActiveValue::Set(Some(name));
        }
    })
    .await?;
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
    end_other_sessions(&txn, account_id, session_id, "password changed").await?;
    change_own_account(txn, &actor, account_id, "password", |a| {
        a.password_hash = ActiveValue::Set(Some(hash));
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn end_other_sessions(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    keep: Uuid,
    reason: &str,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use sessions::session;
    session::Entity::update_many()
        .col_expr(
            session::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(Timestamp::now()),
        )
        .col_expr(
            session::Column::RevokeReason,
            sea_orm::sea_query::Expr::value(reason),
        )
        .filter(session::Column::AccountId.eq(account_id))
        .filter(session::Column::Id.ne(keep))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// A new email address for the account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub new_email: String,
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

/// Confirms a new email address with the code sent to it.
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
    let (index, sealed) = accounts::seal_email(&key, account_id, &new_email);
    let account = change_own_account(txn, &actor, account_id, "email", |a| {
        a.email_index = ActiveValue::Set(index);
        a.email = ActiveValue::Set(sealed);
        a.email_confirmed_at = ActiveValue::Set(Some(Timestamp::now()));
    })
    .await?;
    Ok(ApiJson(AccountView::open(&key, &account)?))
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
    let phone = request.phone.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if !phone.starts_with('+')
        || !(8..=15).contains(&digits)
        || !phone[1..].chars().all(|c| c.is_ascii_digit())
    {
        return Err(ApiError::invalid(
            "phone",
            "must be in E.164 form, such as +15550109999",
        ));
    }
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
    let account = change_own_account(txn, &actor, account_id, "phone", |a| {
        a.phone = ActiveValue::Set(Some(sealed));
        a.phone_confirmed_at = ActiveValue::Set(Some(Timestamp::now()));
    })
    .await?;
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
    accounts::update(&txn, account, |a| {
        a.totp_secret = ActiveValue::Set(Some(sealed))
    })
    .await?;
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
    accounts::update(&txn, account, |a| {
        a.totp_last_step = ActiveValue::Set(Some(step));
        a.totp_enabled_at = ActiveValue::Set(enable.then(Timestamp::now));
        if !enable {
            a.totp_secret = ActiveValue::Set(None);
        }
    })
    .await?;
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

/// The account of `email`, or a new one for it with an invitation code sent
/// by mail (`true`), in the caller's transaction. Facility invitations and
/// the CRM's portal invitations both come through here.
pub async fn find_or_invite(
    state: &AppState,
    txn: &crate::db::Transaction,
    email: &Email,
    full_name: Option<String>,
    invited_by: Uuid,
) -> Result<(accounts::Model, bool), ApiError> {
    let key = state.keyring.installation().await?;
    if let Some(account) = accounts::find_by_email(txn, &key, email).await? {
        return Ok((account, false));
    }
    let account = accounts::create(
        txn,
        &key,
        NewAccount {
            email: email.clone(),
            password_hash: None,
            full_name,
            invited_by: Some(invited_by),
            email_confirmed: false,
        },
    )
    .await?;
    let token = tokens::issue(txn, &key, account.id, Purpose::Invitation, None).await?;
    mail::send(state, txn, Mail::Invitation, email.as_str(), Some(&token)).await?;
    Ok((account, true))
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
    actor.facility(facility_id, Permission::MEMBERSHIP_MANAGE)?;
    let email = parse_email("email", &request.email)?;
    check_facility_role(request.role, request.department.as_deref())?;
    let txn = state.db.begin().await?;
    let (account, new_account) =
        find_or_invite(&state, &txn, &email, request.full_name, actor.account_id()).await?;
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

/// Lists every account (installation administrators).
#[utoipa::path(
    get,
    path = "/admin/accounts",
    tag = "admin",
    params(PageQuery),
    responses((status = 200, description = "A page of accounts", body = Page<AccountView>), Problems),
    security(("bearer" = []))
)]
async fn list_accounts(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<AccountView>>, ApiError> {
    actor.require_installation(Permission::ACCOUNT_MANAGE)?;
    let limit = page.limit()?;
    let rows = accounts::page(state.db.conn(), page.after, limit).await?;
    let key = state.keyring.installation().await?;
    let items = rows
        .iter()
        .map(|a| AccountView::open(&key, a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiJson(Page::new(items, limit, |a: &AccountView| a.id)))
}

/// Reads an account (installation administrators).
#[utoipa::path(
    get,
    path = "/admin/accounts/{account_id}",
    tag = "admin",
    params(("account_id" = Uuid, Path, description = "The account")),
    responses((status = 200, description = "The account", body = AccountView), Problems),
    security(("bearer" = []))
)]
async fn get_account(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(account_id): ApiPath<Uuid>,
) -> Result<ApiJson<AccountView>, ApiError> {
    actor.require_installation(Permission::ACCOUNT_MANAGE)?;
    let account = own_account(state.db.conn(), account_id).await?;
    let key = state.keyring.installation().await?;
    Ok(ApiJson(AccountView::open(&key, &account)?))
}

/// A ban.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ban {
    /// When the ban ends; absent, it lasts until lifted.
    pub until: Option<Timestamp>,
}

/// The far future a ban without an end lasts until.
const FOREVER_SECS: i64 = 100 * 365 * 24 * 3600;

/// Bans an account: its sessions end at once and it cannot sign in.
#[utoipa::path(
    post,
    path = "/admin/accounts/{account_id}/ban",
    tag = "admin",
    params(("account_id" = Uuid, Path, description = "The account")),
    request_body = Ban,
    responses((status = 200, description = "Banned", body = AccountView), Problems),
    security(("bearer" = []))
)]
async fn ban_account(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(account_id): ApiPath<Uuid>,
    ApiJson(ban): ApiJson<Ban>,
) -> Result<ApiJson<AccountView>, ApiError> {
    actor.require_installation(Permission::ACCOUNT_MANAGE)?;
    let now = Timestamp::now();
    if ban.until.is_some_and(|t| t <= now) {
        return Err(ApiError::invalid("until", "must be in the future"));
    }
    let until = ban.until.unwrap_or_else(|| now.plus_secs(FOREVER_SECS));
    administer(
        &state,
        &actor,
        account_id,
        "banned",
        json!({ "banned_until": until }),
        |a| {
            a.banned_until = ActiveValue::Set(Some(until));
        },
    )
    .await
}

/// Lifts a ban.
#[utoipa::path(
    post,
    path = "/admin/accounts/{account_id}/unban",
    tag = "admin",
    params(("account_id" = Uuid, Path, description = "The account")),
    responses((status = 200, description = "The ban is lifted", body = AccountView), Problems),
    security(("bearer" = []))
)]
async fn unban_account(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(account_id): ApiPath<Uuid>,
) -> Result<ApiJson<AccountView>, ApiError> {
    actor.require_installation(Permission::ACCOUNT_MANAGE)?;
    administer(
        &state,
        &actor,
        account_id,
        "",
        json!({ "banned_until": null }),
        |a| {
            a.banned_until = ActiveValue::Set(None);
        },
    )
    .await
}

/// Soft-deletes an account: it can no longer sign in and its sessions end.
#[utoipa::path(
    delete,
    path = "/admin/accounts/{account_id}",
    tag = "admin",
    params(("account_id" = Uuid, Path, description = "The account")),
    responses((status = 200, description = "Deleted", body = AccountView), Problems),
    security(("bearer" = []))
)]
async fn delete_account(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(account_id): ApiPath<Uuid>,
) -> Result<ApiJson<AccountView>, ApiError> {
    actor.require_installation(Permission::ACCOUNT_MANAGE)?;
    administer(
        &state,
        &actor,
        account_id,
        "deleted",
        json!({ "deleted": true }),
        |a| {
            a.deleted_at = ActiveValue::Set(Some(Timestamp::now()));
        },
    )
    .await
}

/// Applies an administrative change to an account, ending its sessions when
/// `end_sessions_because` is not empty, with its audit event.
async fn administer(
    state: &AppState,
    actor: &Actor,
    account_id: Uuid,
    end_sessions_because: &str,
    changes: serde_json::Value,
    change: impl FnOnce(&mut accounts::ActiveModel),
) -> Result<ApiJson<AccountView>, ApiError> {
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let account = own_account(&txn, account_id).await?;
    let account = accounts::update(&txn, account, change).await?;
    if !end_sessions_because.is_empty() {
        sessions::revoke_all(&txn, account_id, end_sessions_because).await?;
    }
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "account")
                .resource(account_id)
                .changes(redact(changes, &[])),
        ],
    )
    .await?;
    Ok(ApiJson(AccountView::open(&key, &account)?))
}

/// How many sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// Ends every session of an account at once.
#[utoipa::path(
    post,
    path = "/admin/accounts/{account_id}/revoke-sessions",
    tag = "admin",
    params(("account_id" = Uuid, Path, description = "The account")),
    responses((status = 200, description = "Sessions ended", body = Revoked), Problems),
    security(("bearer" = []))
)]
async fn revoke_account_sessions(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(account_id): ApiPath<Uuid>,
) -> Result<ApiJson<Revoked>, ApiError> {
    actor.require_installation(Permission::ACCOUNT_MANAGE)?;
    let txn = state.db.begin().await?;
    own_account(&txn, account_id).await?;
    let revoked = sessions::revoke_all(&txn, account_id, "revoked by an administrator").await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Logout, "session")
                .resource(account_id)
                .changes(redact(json!({ "revoked": revoked }), &[])),
        ],
    )
    .await?;
    Ok(ApiJson(Revoked { revoked }))
}
