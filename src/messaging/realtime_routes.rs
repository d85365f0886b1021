//! `GET /realtime`: the WebSocket that carries conversation events, opened
//! with the same bearer token as every other call (`Authorization` header),
//! or, from a browser, with a single-use ticket (`?ticket=…`, see
//! `realtime_tickets`).
//!
//! The client sends JSON text frames:
//! - `{"type":"subscribe","conversation_ids":[…]}`: answered with
//!   `{"type":"subscribed","conversation_ids":[…],"refused":[…]}`; only
//!   conversations the account takes part in now are followed.
//! - `{"type":"unsubscribe","conversation_ids":[…]}`
//! - `{"type":"typing","conversation_id":…}`: for a followed conversation.
//! - `{"type":"ping"}`: answered with `{"type":"pong"}`.
//!
//! The server sends `message.created`, `message.edited`, `message.deleted`,
//! `read`, `typing`, `call.updated` and `participant.left` events, each with
//! its `conversation_id`. A socket that falls behind is closed with code
//! 4008; one signed in with an access token is closed (4001) when the token
//! expires, and the client reconnects with a fresh one and catches up with
//! `GET …/messages?after=<seq>`. Access is re-read while the socket is open
//! (`realtime_watch`): a revoked session or key closes it (4001), losing
//! every role that reads conversations closes it (4003), and losing one
//! facility's role ends its subscriptions there (an `unsubscribed` frame).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::participants::{self, ParticipantRole};
use super::realtime::Notice;
use super::realtime_hub::{Revoked, Socket};
use super::realtime_tickets;
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::ApiQuery;
use crate::http::api_docs::Problems;
use crate::policy::{Actor, Permission, RequestInfo};
use crate::time::Timestamp;

/// Most conversations one socket follows.
pub const MAX_FOLLOWED: usize = 500;
/// Largest frame a client may send.
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// How often the server pings; a client silent for two pings is gone.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long one frame may take to reach a client before it counts as dead.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(realtime))
}

/// The upgrade, when the request asks for one; checked after the caller,
/// so a caller without access gets its 401 or 403 either way.
pub struct Upgrade(Option<WebSocketUpgrade>);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            WebSocketUpgrade::from_request_parts(parts, state)
                .await
                .ok(),
        ))
    }
}

/// Who opens the socket: the bearer token's actor, or, when the request
/// names a `ticket`, the actor the ticket was issued to.
pub struct SocketCaller(Actor);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// A ticket from `POST /realtime/tickets`, instead of `Authorization`.
    ticket: Option<String>,
}

impl FromRequestParts<AppState> for SocketCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ApiQuery(query) = ApiQuery::<TicketQuery>::from_request_parts(parts, state).await?;
        match query.ticket {
            Some(ticket) => {
                let request = RequestInfo::from_parts(parts);
                Ok(Self(
                    realtime_tickets::redeem(state, &ticket, request).await?,
                ))
            }
            None => Ok(Self(Actor::from_request_parts(parts, state).await?)),
        }
    }
}

/// Opens the realtime socket (see the module documentation for the
/// protocol), with a bearer token or a ticket. Needs `conversation:read` in
/// some facility.
#[utoipa::path(
    get,
    path = "/realtime",
    tag = "messaging",
    params(TicketQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        Problems
    ),
    security(("bearer" = []), ())
)]
async fn realtime(
    State(state): State<AppState>,
    SocketCaller(actor): SocketCaller,
    Upgrade(upgrade): Upgrade,
) -> Result<Response, ApiError> {
    realtime_tickets::may_open_a_socket(&actor)?;
    let Some(upgrade) = upgrade else {
        return Err(ApiError::MalformedRequest(
            "this is a WebSocket endpoint: send `Connection: Upgrade` and `Upgrade: websocket`"
                .to_owned(),
        ));
    };
    let expires_at = actor.token_expires_at();
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(state, actor, expires_at, socket))
        .into_response())
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Subscribe { conversation_ids: Vec<Uuid> },
    Unsubscribe { conversation_ids: Vec<Uuid> },
    Typing { conversation_id: Uuid },
    Ping,
}

/// How a socket's life ended.
enum Ending {
    ClientLeft,
    TooSlow,
    TokenExpired,
    Revoked(Option<Revoked>),
    Gone,
}

async fn serve(state: AppState, actor: Actor, expires_at: Option<i64>, mut ws: WebSocket) {
    let hub = super::state_of(&state).realtime.hub().clone();
    let (socket, mut events) = hub.connect(actor);
    let ending = run(&state, &socket, &mut events, expires_at, &mut ws).await;
    hub.disconnect(&socket);
    let close = match ending {
        Ending::TooSlow => Some((4008, "too slow: reconnect and catch up by cursor")),
        Ending::TokenExpired => Some((4001, "the access token expired: reconnect with a new one")),
        Ending::Revoked(Some(Revoked::NoLongerAllowed)) => Some((
            4003,
            "access revoked: this account reads no conversation any more",
        )),
        Ending::Revoked(_) => Some((4001, "signed out or revoked: sign in again")),
        Ending::ClientLeft | Ending::Gone => None,
    };
    if let Some((code, reason)) = close {
        let frame = Frame::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }));
        let _ = tokio::time::timeout(SEND_TIMEOUT, ws.send(frame)).await;
    }
}

async fn run(
    state: &AppState,
    socket: &Arc<Socket>,
    events: &mut mpsc::Receiver<Arc<str>>,
    expires_at: Option<i64>,
    ws: &mut WebSocket,
) -> Ending {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut missed_pongs = 0u8;
    let expiry = async {
        match expires_at {
            Some(exp) => {
                let left = exp
                    .saturating_sub(Timestamp::now().as_micros() / 1_000_000)
                    .max(0);
                tokio::time::sleep(Duration::from_secs(left as u64)).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            _ = socket.dropped.cancelled() => return Ending::TooSlow,
            _ = socket.revoked.cancelled() => return Ending::Revoked(socket.revoked_because()),
            _ = &mut expiry => return Ending::TokenExpired,
            event = events.recv() => {
                let Some(event) = event else { return Ending::TooSlow };
                if !send(ws, &event).await {
                    return Ending::Gone;
                }
            }
            _ = ping.tick() => {
                if missed_pongs >= 2 {
                    return Ending::Gone;
                }
                missed_pongs += 1;
                if !send_frame(ws, Frame::Ping(Default::default())).await {
                    return Ending::Gone;
                }
            }
            incoming = ws.recv() => match incoming {
                Some(Ok(Frame::Text(text))) => {
                    missed_pongs = 0;
                    let reply = answer(state, socket, text.as_str()).await;
                    if !send(ws, &reply.to_string()).await {
                        return Ending::Gone;
                    }
                }
                Some(Ok(Frame::Pong(_) | Frame::Ping(_))) => missed_pongs = 0,
                Some(Ok(Frame::Binary(_))) => {
                    let reply = json!({"type": "error", "detail": "send JSON text frames"});
                    if !send(ws, &reply.to_string()).await {
                        return Ending::Gone;
                    }
                }
                Some(Ok(Frame::Close(_))) | None => return Ending::ClientLeft,
                Some(Err(_)) => return Ending::Gone,
            },
        }
    }
}

async fn send(ws: &mut WebSocket, text: &str) -> bool {
    send_frame(ws, Frame::Text(Utf8Bytes::from(text))).await
}

async fn send_frame(ws: &mut WebSocket, frame: Frame) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(frame)).await,
        Ok(Ok(()))
    )
}

/// Handles one client frame; returns the reply.
async fn answer(state: &AppState, socket: &Arc<Socket>, text: &str) -> serde_json::Value {
    // What the socket may do now, as the watch last re-read it.
    let Some(actor) = socket.actor() else {
        return json!({"type": "error", "detail": "try again"});
    };
    let actor = &actor;
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(error) => {
            return json!({"type": "error", "detail": format!("not a frame this socket knows: {error}")});
        }
    };
    match frame {
        ClientFrame::Ping => json!({"type": "pong"}),
        ClientFrame::Subscribe { conversation_ids } => {
            subscribe(state, actor, socket, conversation_ids).await
        }
        ClientFrame::Unsubscribe { conversation_ids } => {
            super::state_of(state)
                .realtime
                .hub()
                .unsubscribe(socket, &conversation_ids);
            json!({"type": "unsubscribed", "conversation_ids": conversation_ids})
        }
        ClientFrame::Typing { conversation_id } => {
            if !socket.follows(conversation_id) {
                return json!({"type": "error", "detail": "subscribe to the conversation first"});
            }
            // An observer reads and does not take part, typing included.
            match participants::current(state.db.conn(), conversation_id, actor.account_id()).await
            {
                Ok(Some(me)) if me.role != ParticipantRole::Observer.as_str() => {}
                Ok(_) => {
                    return json!({"type": "error", "detail": "an observer does not take part in the conversation"});
                }
                Err(error) => {
                    tracing::warn!(%error, "could not check a typing participant");
                    return json!({"type": "error", "detail": "try again"});
                }
            }
            super::state_of(state)
                .realtime
                .publish(Notice::Typing {
                    conversation_id,
                    account_id: actor.account_id(),
                })
                .await;
            json!({"type": "typing_sent", "conversation_id": conversation_id})
        }
    }
}

async fn subscribe(
    state: &AppState,
    actor: &Actor,
    socket: &Arc<Socket>,
    mut wanted: Vec<Uuid>,
) -> serde_json::Value {
    wanted.sort();
    wanted.dedup();
    if socket.following() + wanted.len() > MAX_FOLLOWED {
        return json!({"type": "error", "detail": format!("a socket follows at most {MAX_FOLLOWED} conversations")});
    }
    let taking_part =
        match participants::participating(state.db.conn(), actor.account_id(), &wanted).await {
            Ok(ids) => ids,
            Err(error) => {
                tracing::warn!(%error, "could not check a socket's subscriptions");
                return json!({"type": "error", "detail": "try again"});
            }
        };
    // Taking part, and still holding `conversation:read` in its facility.
    let readable = |id: &Uuid| {
        taking_part.iter().any(|(conversation, facility)| {
            conversation == id
                && actor
                    .permissions_in(*facility)
                    .contains(&Permission::CONVERSATION_READ)
        })
    };
    let (accepted, refused): (Vec<Uuid>, Vec<Uuid>) = wanted.into_iter().partition(readable);
    let followed: Vec<(Uuid, Uuid)> = taking_part
        .into_iter()
        .filter(|(conversation, _)| accepted.contains(conversation))
        .collect();
    super::state_of(state)
        .realtime
        .hub()
        .subscribe(socket, &followed);
    json!({"type": "subscribed", "conversation_ids": accepted, "refused": refused})
}
