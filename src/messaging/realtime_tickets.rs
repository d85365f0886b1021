//! Socket tickets: a browser cannot set `Authorization` on a WebSocket, and
//! a long-lived token in a URL ends up in proxy and browser logs. So a web
//! page asks `POST /realtime/tickets` (with its bearer token) for a ticket,
//! then opens `GET /realtime?ticket=…` within [`TICKET_SECS`]. A ticket
//! opens one socket, once, on any server sharing the database; the socket
//! holds what the token held, and ends when the token would have expired.
//! Only a hash of each ticket is stored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::identity::secrets;
use crate::policy::{Actor, Permission, Principal, RequestInfo};
use crate::time::Timestamp;

/// How long a ticket may wait before it opens a socket.
pub const TICKET_SECS: i64 = 30;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "realtime_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub secret_hash: Vec<u8>,
    /// The session the ticket acts for, when a person asked for it.
    pub session_id: Option<Uuid>,
    /// The API key the ticket acts for, when a machine asked for it.
    pub api_key_id: Option<Uuid>,
    /// When the asking token expires (Unix seconds): the socket's end.
    pub token_expires_at: Option<i64>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue))
}

/// A socket ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    /// Pass as `GET /realtime?ticket=<ticket>`; it works once.
    pub ticket: String,
    pub expires_at: Timestamp,
}

/// Issues a single-use ticket that opens the realtime socket without an
/// `Authorization` header (for browsers), within 30 seconds. Needs
/// `conversation:read` in some facility, like the socket.
#[utoipa::path(
    post,
    path = "/realtime/tickets",
    tag = "messaging",
    responses((status = 201, description = "The ticket", body = TicketView), Problems),
    security(("bearer" = []))
)]
async fn issue(State(state): State<AppState>, actor: Actor) -> Result<impl IntoResponse, ApiError> {
    may_open_a_socket(&actor)?;
    let now = Timestamp::now();
    let (ticket, secret_hash) = secrets::new_secret();
    let (session_id, api_key_id) = match actor.principal {
        Principal::Account { session_id, .. } => (Some(session_id), None),
        Principal::ApiKey { key_id, .. } => (None, Some(key_id)),
    };
    let db = state.db.conn();
    // Tickets nobody used are of no use to anyone.
    Entity::delete_many()
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    let expires_at = now.plus_secs(TICKET_SECS);
    ActiveModel {
        id: ActiveValue::Set(new_id()),
        secret_hash: ActiveValue::Set(secret_hash),
        session_id: ActiveValue::Set(session_id),
        api_key_id: ActiveValue::Set(api_key_id),
        token_expires_at: ActiveValue::Set(actor.token_expires_at()),
        created_at: ActiveValue::Set(now),
        expires_at: ActiveValue::Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(TicketView { ticket, expires_at }),
    ))
}

/// Refuses an actor that reads no conversation: it has nothing to follow.
pub fn may_open_a_socket(actor: &Actor) -> Result<(), ApiError> {
    if actor
        .facilities_with(Permission::CONVERSATION_READ)
        .is_some_and(|f| f.is_empty())
    {
        return Err(ApiError::Forbidden(
            "this needs the `conversation:read` permission".to_owned(),
        ));
    }
    Ok(())
}

/// The actor a ticket was issued to, as it stands now; the ticket is used
/// up whether or not its holder may still act. Unknown, used and expired
/// tickets are all the same 401.
pub async fn redeem(
    state: &AppState,
    ticket: &str,
    request: RequestInfo,
) -> Result<Actor, ApiError> {
    let refused = || ApiError::Unauthorized("the ticket is invalid, used or expired".to_owned());
    let db = state.db.conn();
    let Some(found) = find(db, ticket).await? else {
        return Err(refused());
    };
    // Whoever deletes it first opens the socket; any other server loses.
    let taken = Entity::delete_many()
        .filter(Column::Id.eq(found.id))
        .exec(db)
        .await?;
    if taken.rows_affected != 1 || found.expires_at <= Timestamp::now() {
        return Err(refused());
    }
    match (found.session_id, found.api_key_id) {
        (Some(session_id), _) => {
            Actor::of_session(state, session_id, found.token_expires_at, request).await
        }
        (None, Some(key_id)) => Actor::of_api_key_id(state, key_id, request).await,
        (None, None) => Err(refused()),
    }
}

async fn find(db: &impl ConnectionTrait, ticket: &str) -> Result<Option<Model>, DbErr> {
    let hash = secrets::hash(ticket);
    Ok(Entity::find()
        .filter(Column::SecretHash.eq(hash.clone()))
        .one(db)
        .await?
        .filter(|found| secrets::same(&found.secret_hash, &hash)))
}
