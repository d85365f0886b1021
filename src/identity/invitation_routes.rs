//! Accepting an invitation with the code it was mailed with. A new account
//! chooses its password here; an existing one proves it is its owner with
//! its password, so an inviter (who may read the code in the outbox) cannot
//! accept for someone else. What the invitation grants is access's to do:
//! this raises [`InvitationAccepted`] in the same transaction.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::{self, AccountChanges};
use super::auth_routes::own_event;
use super::routes::{Accepted, invalid_token, own_account};
use super::tokens::{self, Purpose};
use super::{password, throttle};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::context;
use crate::crypto::FieldRef;
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::http::api_docs::Problems;
use crate::policy::RequestInfo;
use crate::time::Timestamp;

/// An account accepted the invitation its code was sent for (none for the
/// first administrator's code, which only sets the password).
#[derive(Clone, Copy, Debug)]
pub struct InvitationAccepted {
    pub account_id: Uuid,
    pub invitation_id: Option<Uuid>,
}

/// An invitation code, the password (chosen now by a new account, the
/// current one of an existing account), and optionally a name for a new
/// account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationAcceptance {
    pub token: String,
    pub password: String,
    pub full_name: Option<String>,
}

/// Accepts an invitation. A new account sets its password (and confirms
/// its email); an existing account gives its password. Either way the role
/// the invitation offers is held from now on.
#[utoipa::path(
    post,
    path = "/auth/accept-invitation",
    tag = "auth",
    request_body = InvitationAcceptance,
    responses((status = 200, description = "Accepted; sign in now", body = Accepted), Problems)
)]
pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    info: RequestInfo,
    ApiJson(request): ApiJson<InvitationAcceptance>,
) -> Result<ApiJson<Accepted>, ApiError> {
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let redeemed = tokens::redeem(&txn, &key, &request.token, Purpose::Invitation)
        .await?
        .map_err(|_| invalid_token())?;
    let invitation_id = match redeemed.new_value.as_deref() {
        Some(id) => Some(Uuid::parse_str(id).map_err(|_| invalid_token())?),
        None => None,
    };
    let account = own_account(&txn, redeemed.account_id).await?;
    let id = account.id;
    if account.password_hash.is_some() {
        // Whoever sent the invitation may have read its code: the password
        // check is throttled like a sign-in, so the code is no oracle.
        let counters = throttle::Counters::new(&key, &format!("account {id}"), info.client_addr);
        throttle::refuse_if_blocked(&*txn, &counters).await?;
        let matches = password::verify(request.password, account.password_hash.clone()).await?;
        if !matches {
            drop(txn);
            let failed = state.db.begin().await?;
            throttle::record_failure(&*failed, &counters).await?;
            failed.commit().await?;
            return Err(ApiError::invalid(
                "password",
                "is not this account's password",
            ));
        }
    } else {
        password::check_policy("password", &request.password)?;
        let hash = password::hash(request.password).await?;
        let full_name = request
            .full_name
            .map(|n| key.seal_str(FieldRef::new(accounts::TABLE, "full_name", id), n.trim()));
        let changes = AccountChanges {
            password_hash: Some(hash),
            email_confirmed_at: Some(Timestamp::now()),
            full_name,
            ..Default::default()
        };
        accounts::update(&txn, account, changes).await?;
    }
    let accepted = InvitationAccepted {
        account_id: id,
        invitation_id,
    };
    let after_commit = context::publish(&state, &txn, Timestamp::now(), &accepted).await?;
    audit::commit(
        txn,
        vec![
            own_event(id, None, &info, AuditAction::Update)
                .changes(redact(json!({ "invitation": "accepted" }), &[])),
        ],
    )
    .await?;
    after_commit.run().await;
    Ok(ApiJson(Accepted { status: "accepted" }))
}
