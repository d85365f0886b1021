//! Identity over HTTP: sign-up and confirmation, sign-in and tokens,
//! recovery, invitations, the signed-in account (`/me`), and account
//! administration. The handlers live by sub-feature in `auth_routes`,
//! `me_routes` and `admin_routes`; this module joins their routers and
//! holds what more than one of them needs (inviting into a facility is
//! access's `invitations`, which calls [`find_or_create_invited`] and
//! [`send_invitation`]).

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::accounts::{self, NewAccount};
use super::mail::{self, Mail};
use super::tokens::{self, Purpose};
use super::{admin_routes, auth_routes, me_routes};
use crate::app::AppState;
use crate::error::ApiError;
use crate::policy::{Actor, Principal};
use crate::types::Email;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth_routes::routes())
        .merge(me_routes::routes())
        .merge(super::email_change_routes::routes())
        .merge(admin_routes::routes())
        .merge(super::profile_routes::routes())
}

pub fn parse_email(field: &str, raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(|reason| ApiError::invalid(field, reason))
}

pub(super) fn invalid_token() -> ApiError {
    ApiError::invalid("token", "is invalid, expired or already used")
}

/// The actor, which must be a signed-in person (not an API key).
pub fn person(actor: &Actor) -> Result<(Uuid, Uuid), ApiError> {
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

pub(super) async fn own_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<accounts::Model, ApiError> {
    accounts::find(db, account_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The account a single-use code for `purpose` was issued to, redeeming
/// the code in `txn`; an unknown, used or expired code is refused alike.
pub(super) async fn account_of_code(
    txn: &impl ConnectionTrait,
    key: &crate::crypto::DataKey,
    token: &str,
    purpose: Purpose,
) -> Result<accounts::Model, ApiError> {
    let redeemed = tokens::redeem(txn, key, token, purpose)
        .await?
        .map_err(|_| invalid_token())?;
    own_account(txn, redeemed.account_id).await
}

/// An answer that says what happens next, never whether an email exists.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
}

/// A single-use code from a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRedemption {
    pub token: String,
}

/// The account of `email`, or a new one for it (with no password until its
/// owner accepts an invitation). Whether it was new is not returned: an
/// invitation answers alike either way, so that inviting an address never
/// tells the inviter whether it has an account.
pub async fn find_or_create_invited(
    state: &AppState,
    txn: &crate::db::Transaction,
    email: &Email,
    full_name: Option<String>,
    invited_by: Uuid,
) -> Result<accounts::Model, ApiError> {
    let key = state.keyring.installation().await?;
    if let Some(account) = accounts::find_by_email(txn, &key, email).await? {
        return Ok(account);
    }
    Ok(accounts::create(
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
    .await?)
}

/// Sends the invitation code for `invitation_id` to `email`: the same
/// message whether the account is new (the code then sets its password)
/// or not (the code then needs its password).
pub async fn send_invitation(
    state: &AppState,
    txn: &crate::db::Transaction,
    account_id: Uuid,
    email: &Email,
    invitation_id: Uuid,
    about: mail::About,
) -> Result<(), ApiError> {
    let key = state.keyring.installation().await?;
    let code = tokens::issue(
        txn,
        &key,
        account_id,
        Purpose::Invitation,
        Some(&invitation_id.to_string()),
    )
    .await?;
    mail::send_about(
        state,
        txn,
        Mail::Invitation,
        email.as_str(),
        Some(&code),
        about,
    )
    .await
}
