//! Installation administration of accounts: reading them, banning,
//! deleting, and ending their sessions.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{self, AccountChanges, AccountView};
use super::routes::own_account;
use super::sessions;
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts))
        .routes(routes!(get_account, delete_account))
        .routes(routes!(ban_account))
        .routes(routes!(unban_account))
        .routes(routes!(revoke_account_sessions))
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
        AccountChanges {
            banned_until: Some(Some(until)),
            ..Default::default()
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
        AccountChanges {
            banned_until: Some(None),
            ..Default::default()
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
        AccountChanges {
            deleted_at: Some(Timestamp::now()),
            ..Default::default()
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
    recorded: serde_json::Value,
    changes: AccountChanges,
) -> Result<ApiJson<AccountView>, ApiError> {
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let account = own_account(&txn, account_id).await?;
    let account = accounts::update(&txn, account, changes).await?;
    if !end_sessions_because.is_empty() {
        sessions::revoke_all(&txn, account_id, end_sessions_because).await?;
    }
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "account")
                .resource(account_id)
                .changes(redact(recorded, &[])),
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
