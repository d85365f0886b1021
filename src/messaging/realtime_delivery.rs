//! How a notice reaches this server's sockets: from this server's own queue
//! on SQLite, or from PostgreSQL's `LISTEN` (reconnecting whenever the
//! listener is lost), then loaded, opened with the facility key and handed
//! to the hub. Notices carry ids only (no patient data crosses
//! `pg_notify`), so each server loads what they name from the database.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::messages::{self, Message};
use super::realtime::{CHANNEL, Notice};
use crate::app::AppState;

/// Delivers notices to this server's sockets until `stop`: from this
/// server's own queue on SQLite, from PostgreSQL's `LISTEN` otherwise. On
/// PostgreSQL it returns once this server listens, so a server serves no
/// socket before it can hear the events for it.
pub async fn spawn(
    state: AppState,
    local: Option<mpsc::UnboundedReceiver<Notice>>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    match local {
        Some(rx) => tokio::spawn(deliver_local(state, rx, stop)),
        None => {
            let listening = match listen(&state).await {
                Ok(listener) => Some(listener),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for messaging events yet; retrying");
                    None
                }
            };
            tokio::spawn(deliver_listened(state, listening, stop))
        }
    }
}

async fn deliver_local(
    state: AppState,
    mut rx: mpsc::UnboundedReceiver<Notice>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            notice = rx.recv() => match notice {
                Some(notice) => deliver(&state, notice).await,
                None => return,
            },
        }
    }
}

async fn listen(state: &AppState) -> Result<PgListener, sqlx::Error> {
    let url = state.config.database_url();
    let mut listener = PgListener::connect(url.expose()).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn deliver_listened(
    state: AppState,
    mut listening: Option<PgListener>,
    stop: CancellationToken,
) {
    loop {
        let mut listener = match listening.take() {
            Some(listener) => listener,
            None => {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                match listen(&state).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for messaging events; retrying");
                        continue;
                    }
                }
            }
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // Reconnects by itself; events sent meanwhile are lost, and
                // clients catch up by cursor.
                received = listener.recv() => match received {
                    Ok(notification) => {
                        if let Ok(notice) = serde_json::from_str(notification.payload()) {
                            deliver(&state, notice).await;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "lost the messaging event listener; reconnecting");
                        break;
                    }
                },
            }
        }
    }
}

/// Turns a notice into the event clients see, and fans it out.
async fn deliver(state: &AppState, notice: Notice) {
    let hub = super::state_of(state).realtime.hub();
    let conversation_id = notice.conversation_id();
    if !hub.has_subscribers(conversation_id) {
        if let Notice::Left { account_id, .. } = notice {
            hub.remove_account(conversation_id, account_id);
        }
        return;
    }
    let event = match event_of(state, &notice).await {
        Ok(Some(event)) => event,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "could not load a messaging event");
            return;
        }
    };
    // The one leaving hears it too, then nothing more.
    hub.send(conversation_id, Arc::from(event.to_string()));
    if let Notice::Left { account_id, .. } = notice {
        hub.remove_account(conversation_id, account_id);
    }
}

async fn event_of(state: &AppState, notice: &Notice) -> anyhow::Result<Option<serde_json::Value>> {
    Ok(match *notice {
        Notice::MessageCreated {
            facility_id,
            conversation_id,
            message_id,
        } => {
            message_event(
                state,
                "message.created",
                facility_id,
                conversation_id,
                message_id,
            )
            .await?
        }
        Notice::MessageEdited {
            facility_id,
            conversation_id,
            message_id,
        } => {
            message_event(
                state,
                "message.edited",
                facility_id,
                conversation_id,
                message_id,
            )
            .await?
        }
        Notice::MessageDeleted {
            facility_id,
            conversation_id,
            message_id,
        } => {
            message_event(
                state,
                "message.deleted",
                facility_id,
                conversation_id,
                message_id,
            )
            .await?
        }
        Notice::Read {
            conversation_id,
            account_id,
            seq,
        } => Some(json!({
            "type": "read", "conversation_id": conversation_id,
            "account_id": account_id, "seq": seq,
        })),
        Notice::Typing {
            conversation_id,
            account_id,
        } => Some(json!({
            "type": "typing", "conversation_id": conversation_id, "account_id": account_id,
        })),
        Notice::Call {
            facility_id,
            conversation_id,
            call_id,
        } => super::calls::event(state, facility_id, conversation_id, call_id).await?,
        Notice::Left {
            conversation_id,
            account_id,
        } => Some(json!({
            "type": "participant.left", "conversation_id": conversation_id,
            "account_id": account_id,
        })),
    })
}

async fn message_event(
    state: &AppState,
    kind: &str,
    facility_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
) -> anyhow::Result<Option<serde_json::Value>> {
    let db = state.db.conn();
    let Some(row) = messages::find(db, conversation_id, message_id).await? else {
        return Ok(None);
    };
    let names = super::senders::names(
        db,
        &*state.keyring.installation().await?,
        std::slice::from_ref(&row),
    )
    .await?;
    let key = state.keyring.facility(facility_id).await?;
    let sender_name = row
        .sender_id
        .and_then(|id| names.get(&id).cloned().flatten());
    let mut files = super::attachments::of_messages(db, &key, &[row.id]).await?;
    let message = Message::open(&key, &row, sender_name)?.with_attachments(files.remove(&row.id));
    Ok(Some(json!({
        "type": kind, "conversation_id": conversation_id, "message": message,
    })))
}
