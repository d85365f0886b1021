//! `GET /realtime`: the WebSocket that carries conversation events, opened
//! with the same bearer token as every other call (`Authorization` header).
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
//! `GET …/messages?after=<seq>`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::participants;
use super::realtime::Notice;
use super::realtime_hub::Socket;
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::policy::{Actor, Permission};
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

/// Opens the realtime socket (see the module documentation for the
/// protocol). Needs `conversation:read` in some facility.
#[utoipa::path(
    get,
    path = "/realtime",
    tag = "messaging",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        Problems
    ),
    security(("bearer" = []))
)]
async fn realtime(
    State(state): State<AppState>,
    actor: Actor,
    Upgrade(upgrade): Upgrade,
) -> Result<Response, ApiError> {
    if actor
        .facilities_with(Permission::CONVERSATION_READ)
        .is_some_and(|f| f.is_empty())
    {
        return Err(ApiError::Forbidden(
            "this needs the `conversation:read` permission".to_owned(),
        ));
    }
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
    Gone,
}

async fn serve(state: AppState, actor: Actor, expires_at: Option<i64>, mut ws: WebSocket) {
    let hub = super::state_of(&state).realtime.hub().clone();
    let (socket, mut events) = hub.connect(actor.account_id());
    let ending = run(&state, &actor, &socket, &mut events, expires_at, &mut ws).await;
    hub.disconnect(&socket);
    let close = match ending {
        Ending::TooSlow => Some((4008, "too slow: reconnect and catch up by cursor")),
        Ending::TokenExpired => Some((4001, "the access token expired: reconnect with a new one")),
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
    actor: &Actor,
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
                    let reply = answer(state, actor, socket, text.as_str()).await;
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
async fn answer(
    state: &AppState,
    actor: &Actor,
    socket: &Arc<Socket>,
    text: &str,
) -> serde_json::Value {
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
    super::state_of(state)
        .realtime
        .hub()
        .subscribe(socket, &accepted);
    json!({"type": "subscribed", "conversation_ids": accepted, "refused": refused})
}
