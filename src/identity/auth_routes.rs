//! Getting in and back in: sign-up and email confirmation, sign-in,
//! refresh and sign-out, password recovery (accepting an invitation is
//! `invitation_routes`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{self, AccountChanges, NewAccount, Standing};
use super::mail::{self, Mail};
use super::routes::{Accepted, TokenRedemption, account_of_code, parse_email, person};
use super::sessions::{self, Origin, Refreshed, Session};
use super::settings::IdentitySettings;
use super::tokens::{self, Purpose};
use super::{password, recovery_routes, throttle, totp};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::crypto::DataKey;
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::http::api_docs::Problems;
use crate::policy::{Actor, RequestInfo};
use crate::time::Timestamp;
use crate::types::Email;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(confirm_email))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(sign_out))
        .routes(routes!(recovery_routes::recover))
        .routes(routes!(recovery_routes::reset_password))
        .routes(routes!(super::invitation_routes::accept_invitation))
}

const INVALID_CREDENTIALS: &str = "invalid email or password";

fn session_origin(info: &RequestInfo) -> Origin {
    Origin {
        user_agent: info.user_agent.clone(),
        client_addr: info.client_addr.map(|a| a.to_string()),
    }
}

/// An audit event about an account, by the account itself.
pub(super) fn own_event(
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

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
    pub full_name: Option<String>,
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
    if !state.config.section::<IdentitySettings>().allow_sign_up {
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
    throttle::limit_mail(state.db.conn(), &key, email.as_str(), info.client_addr).await?;
    // Off the request path: a taken address and a new one take the same
    // time and get the same answer.
    let work = state.clone();
    throttle::off_the_request_path("sign-up", async move {
        create_signed_up(&work, &info, email, request).await
    });
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted {
            status: "confirmation_sent",
        }),
    ))
}

/// The account a sign-up asked for, or a notice to the address that it has
/// one already.
async fn create_signed_up(
    state: &AppState,
    info: &RequestInfo,
    email: Email,
    request: SignUp,
) -> Result<(), ApiError> {
    let key = state.keyring.installation().await?;
    let hash = password::hash(request.password).await?;
    let txn = state.db.begin().await?;
    match accounts::find_by_email(&txn, &key, &email).await? {
        Some(_) => mail::send(state, &txn, Mail::AlreadyRegistered, email.as_str(), None).await?,
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
                state,
                &txn,
                Mail::ConfirmEmail,
                email.as_str(),
                Some(&token),
            )
            .await?;
            audit::append(
                &txn,
                vec![own_event(account.id, None, info, AuditAction::Create)],
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(())
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
    let account = account_of_code(&txn, &key, &request.token, Purpose::ConfirmEmail).await?;
    let account_id = account.id;
    let changes = AccountChanges {
        email_confirmed_at: Some(Timestamp::now()),
        ..Default::default()
    };
    accounts::update(&txn, account, changes).await?;
    audit::commit(
        txn,
        vec![
            own_event(account_id, None, &info, AuditAction::Update)
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
        access_token: state
            .ext::<crate::identity::Identity>()
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
async fn refuse_sign_in<T>(
    state: &AppState,
    counters: &throttle::Counters,
    account_id: Option<Uuid>,
    info: &RequestInfo,
    error: ApiError,
) -> Result<T, ApiError> {
    let txn = state.db.begin().await?;
    let slow = throttle::record_failure(&txn, counters).await?;
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
    if slow {
        // A busy address: slow the guessing down without refusing anyone.
        tokio::time::sleep(throttle::SLOW_DOWN).await;
    }
    Err(error)
}

/// Signs in. Failures are throttled per email and client address (see
/// `throttle`), and answer alike whether or not the email has an account.
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
    throttle::refuse_if_blocked(db, &counters).await?;
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
    let accepted_step = second_factor(
        &state,
        &counters,
        &info,
        &key,
        &account,
        request.totp_code.as_deref(),
    )
    .await?;
    let token_pair = start_session(&state, &info, &counters, account, accepted_step, now).await?;
    Ok(ApiJson(token_pair))
}

/// Checks the second factor of an account that has one: the time step of
/// the accepted code, or `None` for an account without one.
async fn second_factor(
    state: &AppState,
    counters: &throttle::Counters,
    info: &RequestInfo,
    key: &DataKey,
    account: &accounts::Model,
    code: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    if !account.mfa_enabled() {
        return Ok(None);
    }
    let Some(code) = code else {
        return Err(ApiError::MfaRequired);
    };
    let secret = accounts::open_totp_secret(key, account).unwrap_or_default();
    match totp::accept(&secret, code, account.totp_last_step) {
        Some(step) => Ok(Some(step)),
        None => {
            let refused = ApiError::Unauthorized("the second-factor code is invalid".to_owned());
            refuse_sign_in(state, counters, Some(account.id), info, refused).await
        }
    }
}

/// Starts a session for an account that passed every check, clearing its
/// failed attempts and noting the code step used.
async fn start_session(
    state: &AppState,
    info: &RequestInfo,
    counters: &throttle::Counters,
    account: accounts::Model,
    accepted_step: Option<i64>,
    now: Timestamp,
) -> Result<TokenPair, ApiError> {
    let txn = state.db.begin().await?;
    throttle::record_success(&txn, counters).await?;
    let (session, refresh_token) = sessions::start(
        &txn,
        state.ext::<crate::identity::Identity>().sessions,
        account.id,
        session_origin(info),
    )
    .await?;
    let account_id = account.id;
    let changes = AccountChanges {
        last_sign_in_at: Some(now),
        totp_last_step: accepted_step,
        ..Default::default()
    };
    accounts::update(&txn, account, changes).await?;
    let event = AuditEvent::new(
        AuditActor::Account {
            id: account_id,
            session_id: Some(session.id),
        },
        AuditAction::Login,
        "session",
    )
    .resource(session.id)
    .context(info.audit_context());
    audit::commit(txn, vec![event]).await?;
    token_pair(state, &session, refresh_token)
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
    let outcome = sessions::refresh(
        &txn,
        state.ext::<crate::identity::Identity>().sessions,
        &request.refresh_token,
    )
    .await?;
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
