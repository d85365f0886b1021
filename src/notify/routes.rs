//! `/admin/outbox`: the messages carebase sent or holds, for installation
//! administrators. Without a mail server this is where invitations and
//! confirmation codes wait to be passed on.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{OutboxMessage, OutboxStatus};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiQuery, Page};
use crate::policy::{Actor, Permission};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_outbox))
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

/// Lists outgoing messages, newest first, opened.
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
    let limit = crate::http::extract::page_limit(query.limit)?;
    let messages = super::list(
        state.db.conn(),
        &state.keyring,
        query.after,
        limit,
        query.status,
    )
    .await?;
    Ok(ApiJson(Page::new(messages, limit, |m: &OutboxMessage| {
        m.id
    })))
}
