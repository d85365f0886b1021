//! Real-time delivery of a conversation's events (new messages, edits,
//! deletions, read receipts, typing, calls) to WebSocket clients.
//!
//! A change commits, then its handler publishes a [`Notice`]: ids only, no
//! patient data. On PostgreSQL the notice goes through `pg_notify`, and
//! every carebase server sharing the database (the one that published
//! included) hears it on its own `LISTEN` connection; on SQLite, which has
//! one server, it goes straight to this server's hub. Each server then
//! loads what the notice names, opens it with the facility key, and hands
//! the event to the sockets subscribed to the conversation.
//!
//! The hub never waits for a socket: each socket has a bounded queue, and a
//! socket whose queue is full (a slow or dead client) is dropped, so it
//! cannot hold up anyone else. A client that reconnects catches up with
//! `GET …/messages?after=<last seq it saw>`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::messages::{self, Message};
use crate::app::AppState;
use crate::db::{Backend, Database};

/// The PostgreSQL channel notices travel on.
pub const CHANNEL: &str = "carebase_messaging";
/// Events waiting for one socket before it counts as too slow.
pub const SOCKET_QUEUE: usize = 256;

/// What happened, by id. Small enough for `pg_notify` (8000 bytes) and free
/// of patient data, since it travels outside the sealed columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    MessageCreated {
        facility_id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
    },
    MessageEdited {
        facility_id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
    },
    MessageDeleted {
        facility_id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
    },
    Read {
        conversation_id: Uuid,
        account_id: Uuid,
        seq: i64,
    },
    Typing {
        conversation_id: Uuid,
        account_id: Uuid,
    },
    Call {
        facility_id: Uuid,
        conversation_id: Uuid,
        call_id: Uuid,
    },
    /// Someone stopped taking part: their sockets stop receiving it.
    Left {
        conversation_id: Uuid,
        account_id: Uuid,
    },
}

impl Notice {
    pub fn conversation_id(&self) -> Uuid {
        match self {
            Notice::MessageCreated {
                conversation_id, ..
            }
            | Notice::MessageEdited {
                conversation_id, ..
            }
            | Notice::MessageDeleted {
                conversation_id, ..
            }
            | Notice::Read {
                conversation_id, ..
            }
            | Notice::Typing {
                conversation_id, ..
            }
            | Notice::Call {
                conversation_id, ..
            }
            | Notice::Left {
                conversation_id, ..
            } => *conversation_id,
        }
    }
}

/// Publishes notices and keeps this server's sockets.
#[derive(Clone, Debug)]
pub struct Realtime {
    hub: Arc<Hub>,
    bus: Bus,
}

#[derive(Clone, Debug)]
enum Bus {
    /// SQLite: one server, so straight to the hub.
    Local(mpsc::UnboundedSender<Notice>),
    /// PostgreSQL: through `pg_notify`, heard by every server.
    Postgres(DatabaseConnection),
}

impl Realtime {
    /// The realtime of a server on `db`, and the receiver of its local
    /// notices (SQLite), which [`spawn_delivery`] consumes.
    pub fn new(db: &Database) -> (Self, Option<mpsc::UnboundedReceiver<Notice>>) {
        let hub = Arc::new(Hub::default());
        match db.backend() {
            Backend::Postgres => (
                Self {
                    hub,
                    bus: Bus::Postgres(db.conn().clone()),
                },
                None,
            ),
            Backend::Sqlite => {
                let (tx, rx) = mpsc::unbounded_channel();
                (
                    Self {
                        hub,
                        bus: Bus::Local(tx),
                    },
                    Some(rx),
                )
            }
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Publishes `notice` after its change committed. Never fails the
    /// request: the change is saved, and a client that missed the event
    /// catches up by cursor.
    pub async fn publish(&self, notice: Notice) {
        match &self.bus {
            Bus::Local(tx) => {
                let _ = tx.send(notice);
            }
            Bus::Postgres(db) => {
                let payload = match serde_json::to_string(&notice) {
                    Ok(payload) => payload,
                    Err(_) => return,
                };
                let statement = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), payload.into()],
                );
                if let Err(error) = db.execute_raw(statement).await {
                    tracing::warn!(%error, "could not publish a messaging event");
                }
            }
        }
    }
}

/// Delivers notices to this server's sockets until `stop`: from this
/// server's own queue on SQLite, from PostgreSQL's `LISTEN` otherwise. On
/// PostgreSQL it returns once this server listens, so a server serves no
/// socket before it can hear the events for it.
pub async fn spawn_delivery(
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
    let hub = &super::state_of(state).realtime.hub;
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

/// This server's sockets, by the conversations they follow.
#[derive(Debug, Default)]
pub struct Hub {
    next_socket: AtomicU64,
    inner: Mutex<Subscriptions>,
}

#[derive(Debug, Default)]
struct Subscriptions {
    by_conversation: HashMap<Uuid, Vec<Arc<Socket>>>,
    sockets: HashMap<u64, Arc<Socket>>,
}

/// One connected client, as the hub sees it.
#[derive(Debug)]
pub struct Socket {
    pub id: u64,
    pub account_id: Uuid,
    queue: mpsc::Sender<Arc<str>>,
    /// Cancelled when the hub drops the socket for being too slow.
    pub dropped: CancellationToken,
    conversations: Mutex<HashSet<Uuid>>,
}

impl Socket {
    pub fn follows(&self, conversation_id: Uuid) -> bool {
        self.conversations
            .lock()
            .map(|c| c.contains(&conversation_id))
            .unwrap_or(false)
    }

    pub fn following(&self) -> usize {
        self.conversations.lock().map(|c| c.len()).unwrap_or(0)
    }
}

impl Hub {
    /// Registers a socket of `account_id`; returns it and its event queue.
    pub fn connect(&self, account_id: Uuid) -> (Arc<Socket>, mpsc::Receiver<Arc<str>>) {
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        let socket = Arc::new(Socket {
            id: self.next_socket.fetch_add(1, Ordering::Relaxed),
            account_id,
            queue: tx,
            dropped: CancellationToken::new(),
            conversations: Mutex::new(HashSet::new()),
        });
        if let Ok(mut inner) = self.inner.lock() {
            inner.sockets.insert(socket.id, socket.clone());
        }
        (socket, rx)
    }

    pub fn subscribe(&self, socket: &Arc<Socket>, conversation_ids: &[Uuid]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Ok(mut mine) = socket.conversations.lock() else {
            return;
        };
        for id in conversation_ids {
            if mine.insert(*id) {
                inner
                    .by_conversation
                    .entry(*id)
                    .or_default()
                    .push(socket.clone());
            }
        }
    }

    pub fn unsubscribe(&self, socket: &Socket, conversation_ids: &[Uuid]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Ok(mut mine) = socket.conversations.lock() else {
            return;
        };
        for id in conversation_ids {
            if mine.remove(id) {
                inner.detach(*id, socket.id);
            }
        }
    }

    /// Forgets a socket that closed.
    pub fn disconnect(&self, socket: &Socket) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.sockets.remove(&socket.id);
        if let Ok(mine) = socket.conversations.lock() {
            for id in mine.iter() {
                inner.detach(*id, socket.id);
            }
        }
    }

    /// Stops `account_id`'s sockets from following a conversation they no
    /// longer take part in.
    pub fn remove_account(&self, conversation_id: Uuid, account_id: Uuid) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Some(followers) = inner.by_conversation.get_mut(&conversation_id) else {
            return;
        };
        followers.retain(|socket| {
            let leaving = socket.account_id == account_id;
            if leaving && let Ok(mut mine) = socket.conversations.lock() {
                mine.remove(&conversation_id);
            }
            !leaving
        });
        if followers.is_empty() {
            inner.by_conversation.remove(&conversation_id);
        }
    }

    pub fn has_subscribers(&self, conversation_id: Uuid) -> bool {
        self.inner
            .lock()
            .map(|inner| inner.by_conversation.contains_key(&conversation_id))
            .unwrap_or(false)
    }

    /// Queues `event` for every follower without waiting; a follower whose
    /// queue is full is dropped.
    pub fn send(&self, conversation_id: Uuid, event: Arc<str>) {
        let followers = match self.inner.lock() {
            Ok(inner) => inner
                .by_conversation
                .get(&conversation_id)
                .cloned()
                .unwrap_or_default(),
            Err(_) => return,
        };
        for socket in followers {
            if socket.queue.try_send(event.clone()).is_err() {
                socket.dropped.cancel();
                self.disconnect(&socket);
            }
        }
    }

    /// Connected sockets on this server.
    pub fn sockets(&self) -> usize {
        self.inner.lock().map(|i| i.sockets.len()).unwrap_or(0)
    }
}

impl Subscriptions {
    fn detach(&mut self, conversation_id: Uuid, socket_id: u64) {
        if let Some(followers) = self.by_conversation.get_mut(&conversation_id) {
            followers.retain(|s| s.id != socket_id);
            if followers.is_empty() {
                self.by_conversation.remove(&conversation_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_only_that_socket() {
        let hub = Hub::default();
        let conversation = Uuid::now_v7();
        let (slow, _slow_rx) = hub.connect(Uuid::now_v7());
        let (fast, mut fast_rx) = hub.connect(Uuid::now_v7());
        hub.subscribe(&slow, &[conversation]);
        hub.subscribe(&fast, &[conversation]);
        for i in 0..=SOCKET_QUEUE {
            hub.send(conversation, Arc::from(i.to_string()));
            // The fast one keeps up.
            assert!(fast_rx.try_recv().is_ok());
        }
        assert!(slow.dropped.is_cancelled());
        assert!(!fast.dropped.is_cancelled());
        assert!(!slow.follows(conversation) || !hub_follows(&hub, conversation, slow.id));
        assert_eq!(hub.sockets(), 1);
    }

    fn hub_follows(hub: &Hub, conversation: Uuid, socket: u64) -> bool {
        hub.inner
            .lock()
            .map(|i| {
                i.by_conversation
                    .get(&conversation)
                    .is_some_and(|f| f.iter().any(|s| s.id == socket))
            })
            .unwrap_or(false)
    }

    #[test]
    fn a_participant_who_leaves_stops_receiving() {
        let hub = Hub::default();
        let conversation = Uuid::now_v7();
        let account = Uuid::now_v7();
        let (socket, mut rx) = hub.connect(account);
        hub.subscribe(&socket, &[conversation]);
        hub.remove_account(conversation, account);
        hub.send(conversation, Arc::from("x"));
        assert!(rx.try_recv().is_err());
        assert!(!socket.follows(conversation));
    }
}
