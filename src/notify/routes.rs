//! The outbox over the API: every message carebase sent or holds, for the
//! installation's administrators (`/admin/outbox`) and, for the messages
//! about one facility (its invitations), that facility's administrators
//! (`/facilities/{facility_id}/outbox`). A message carrying a single-use
//! code (recovery, sign-in, confirmation) shows its body only to the one
//! who caused it (the inviter of an invitation), never to anyone else, so
//! no administrator can turn the outbox into another person's session; the
//! operator on the server reads everything with the command line. Every
//! read is in the audit log.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{OutboxMessage, OutboxStatus, OutboxView, Reader};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, Permission};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_outbox))
        .routes(routes!(read_facility_outbox))
        .routes(routes!(read_outbox_message))
        .routes(routes!(read_facility_outbox_message))
}

/// Which messages to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only messages in this state (`held`, `pending`, `sending`, `sent`, `failed`).
    pub status: Option<OutboxStatus>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Messages per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// Lists outgoing messages, newest first, opened; codes meant for others
/// withheld.
#[utoipa::path(
    get,
    path = "/admin/outbox",
    tag = "admin",
    params(OutboxQuery),
    responses((status = 200, description = "A page of messages", body = Page<OutboxMessage>), Problems),
    security(("bearer" = []))
)]
async fn read_outbox(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<ApiJson<Page<OutboxMessage>>, ApiError> {
    actor.require_installation(Permission::OUTBOX_READ)?;
    read(&state, &actor, None, query).await.map(ApiJson)
}

/// Lists the facility's outgoing messages (its invitations), newest first;
/// codes meant for others withheld.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/outbox",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility"), OutboxQuery),
    responses((status = 200, description = "A page of messages", body = Page<OutboxMessage>), Problems),
    security(("bearer" = []))
)]
async fn read_facility_outbox(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<ApiJson<Page<OutboxMessage>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::OUTBOX_READ)?;
    read(&state, &actor, Some(scope.facility_id()), query)
        .await
        .map(ApiJson)
}

/// Reads one outgoing message, opened; a code meant for someone else withheld.
#[utoipa::path(
    get,
    path = "/admin/outbox/{message_id}",
    tag = "admin",
    params(("message_id" = Uuid, Path, description = "The message")),
    responses((status = 200, description = "The message", body = OutboxMessage), Problems),
    security(("bearer" = []))
)]
async fn read_outbox_message(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(message_id): ApiPath<Uuid>,
) -> Result<ApiJson<OutboxMessage>, ApiError> {
    actor.require_installation(Permission::OUTBOX_READ)?;
    read_one(&state, &actor, None, message_id)
        .await
        .map(ApiJson)
}

/// Reads one of the facility's outgoing messages; a code meant for someone
/// else withheld. Another facility's message is not found.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/outbox/{message_id}",
    tag = "facilities",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    responses((status = 200, description = "The message", body = OutboxMessage), Problems),
    security(("bearer" = []))
)]
async fn read_facility_outbox_message(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, message_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<OutboxMessage>, ApiError> {
    let scope = actor.facility(facility_id, Permission::OUTBOX_READ)?;
    read_one(&state, &actor, Some(scope.facility_id()), message_id)
        .await
        .map(ApiJson)
}

/// One message as `actor` may read it, with the read audited.
async fn read_one(
    state: &AppState,
    actor: &Actor,
    facility_id: Option<Uuid>,
    message_id: Uuid,
) -> Result<OutboxMessage, ApiError> {
    let view = OutboxView {
        reader: Reader::Account(actor.account_id()),
        facility_id,
    };
    let txn = state.db.begin().await?;
    let message = super::outbox::find(&*txn, &state.keyring, view, message_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    audit::commit(txn, vec![outbox_read(actor, facility_id, &[message.id])]).await?;
    Ok(message)
}

/// The audit event of a read of the outbox messages `shown`.
fn outbox_read(actor: &Actor, facility_id: Option<Uuid>, shown: &[Uuid]) -> audit::AuditEvent {
    let event = actor
        .event(AuditAction::Read, "outbox")
        .changes(redact(json!({ "messages": shown }), &[]));
    match facility_id {
        Some(facility_id) => event.facility(facility_id),
        None => event,
    }
}

/// A page of the outbox as `actor` may read it, with the read audited.
async fn read(
    state: &AppState,
    actor: &Actor,
    facility_id: Option<Uuid>,
    query: OutboxQuery,
) -> Result<Page<OutboxMessage>, ApiError> {
    let limit = crate::http::extract::page_limit(query.limit)?;
    let view = OutboxView {
        reader: Reader::Account(actor.account_id()),
        facility_id,
    };
    let txn = state.db.begin().await?;
    let messages = super::page(
        &*txn,
        &state.keyring,
        view,
        query.after,
        limit,
        query.status,
    )
    .await?;
    let shown: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    audit::commit(txn, vec![outbox_read(actor, facility_id, &shown)]).await?;
    Ok(Page::new(messages, limit, |m: &OutboxMessage| m.id))
}
