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
//!
//! Here: the notice and how it is published. `realtime_delivery` is the
//! receiving end, `realtime_hub` the sockets, `realtime_routes` the socket
//! endpoint.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::realtime_hub::Hub;
use crate::db::{Backend, Database};

/// The PostgreSQL channel notices travel on.
pub const CHANNEL: &str = "carebase_messaging";

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
    /// notices (SQLite), which [`realtime_delivery::spawn`] consumes.
    ///
    /// [`realtime_delivery::spawn`]: super::realtime_delivery::spawn
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
