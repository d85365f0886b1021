//! This server's WebSocket clients, by the conversations they follow. The
//! hub never waits for a socket: each has a bounded queue, and one whose
//! queue is full (a slow or dead client) is dropped, so it cannot hold up
//! anyone else; it catches up by cursor when it reconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::policy::{Actor, Permission};

/// Events waiting for one socket before it counts as too slow.
pub const SOCKET_QUEUE: usize = 256;

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

/// Why a socket's access ended while it was open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Its session or API key no longer counts (signed out, revoked,
    /// expired, password changed, account banned or deleted).
    SignedOut,
    /// It still signs in, but reads no conversation any more.
    NoLongerAllowed,
}

/// One connected client, as the hub sees it.
#[derive(Debug)]
pub struct Socket {
    pub id: u64,
    pub account_id: Uuid,
    queue: mpsc::Sender<Arc<str>>,
    /// Cancelled when the hub drops the socket for being too slow.
    pub dropped: CancellationToken,
    /// Cancelled when the socket's access ends; [`Socket::revoked_because`]
    /// says why.
    pub revoked: CancellationToken,
    revoked_because: Mutex<Option<Revoked>>,
    /// What the socket may do, as last re-read (see `realtime_watch`).
    actor: Mutex<Actor>,
    /// The conversations it follows, with their facilities.
    conversations: Mutex<HashMap<Uuid, Uuid>>,
}

impl Socket {
    pub fn follows(&self, conversation_id: Uuid) -> bool {
        self.conversations
            .lock()
            .map(|c| c.contains_key(&conversation_id))
            .unwrap_or(false)
    }

    /// What the socket may do now.
    pub fn actor(&self) -> Option<Actor> {
        self.actor.lock().ok().map(|actor| actor.clone())
    }

    pub fn revoke(&self, why: Revoked) {
        if let Ok(mut because) = self.revoked_because.lock() {
            because.get_or_insert(why);
        }
        self.revoked.cancel();
    }

    pub fn revoked_because(&self) -> Option<Revoked> {
        self.revoked_because.lock().ok().and_then(|b| *b)
    }

    /// Takes `actor` as what the socket may do from now on; returns the
    /// conversations it follows but may no longer read.
    pub fn hold(&self, actor: Actor) -> Vec<Uuid> {
        let mut reads: HashMap<Uuid, bool> = HashMap::new();
        let lost = self
            .conversations
            .lock()
            .map(|followed| {
                followed
                    .iter()
                    .filter(|(_, facility)| {
                        !*reads.entry(**facility).or_insert_with(|| {
                            actor
                                .permissions_in(**facility)
                                .contains(&Permission::CONVERSATION_READ)
                        })
                    })
                    .map(|(conversation, _)| *conversation)
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(mut held) = self.actor.lock() {
            *held = actor;
        }
        lost
    }

    /// Queues a frame of the server's own for this socket; a socket whose
    /// queue is full is too slow anyway.
    pub fn tell(&self, frame: Arc<str>) {
        if self.queue.try_send(frame).is_err() {
            self.dropped.cancel();
        }
    }

    pub fn following(&self) -> usize {
        self.conversations.lock().map(|c| c.len()).unwrap_or(0)
    }
}

impl Hub {
    /// Registers a socket of `actor`; returns it and its event queue.
    pub fn connect(&self, actor: Actor) -> (Arc<Socket>, mpsc::Receiver<Arc<str>>) {
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        let socket = Arc::new(Socket {
            id: self.next_socket.fetch_add(1, Ordering::Relaxed),
            account_id: actor.account_id(),
            queue: tx,
            dropped: CancellationToken::new(),
            revoked: CancellationToken::new(),
            revoked_because: Mutex::new(None),
            actor: Mutex::new(actor),
            conversations: Mutex::new(HashMap::new()),
        });
        if let Ok(mut inner) = self.inner.lock() {
            inner.sockets.insert(socket.id, socket.clone());
        }
        (socket, rx)
    }

    /// Follows each `(conversation, facility)`.
    pub fn subscribe(&self, socket: &Arc<Socket>, conversations: &[(Uuid, Uuid)]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Ok(mut mine) = socket.conversations.lock() else {
            return;
        };
        for (id, facility) in conversations {
            if mine.insert(*id, *facility).is_none() {
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
            if mine.remove(id).is_some() {
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
            for id in mine.keys() {
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

    /// Every socket connected to this server now.
    pub fn connected(&self) -> Vec<Arc<Socket>> {
        self.inner
            .lock()
            .map(|i| i.sockets.values().cloned().collect())
            .unwrap_or_default()
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
    use crate::policy::{Principal, RequestInfo};

    fn someone() -> Actor {
        Actor::new(
            Principal::Account {
                account_id: Uuid::now_v7(),
                session_id: Uuid::now_v7(),
            },
            Vec::new(),
            None,
            None,
            RequestInfo::default(),
        )
    }

    #[test]
    fn a_full_queue_drops_only_that_socket() {
        let hub = Hub::default();
        let conversation = Uuid::now_v7();
        let facility = Uuid::now_v7();
        let (slow, _slow_rx) = hub.connect(someone());
        let (fast, mut fast_rx) = hub.connect(someone());
        hub.subscribe(&slow, &[(conversation, facility)]);
        hub.subscribe(&fast, &[(conversation, facility)]);
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
        let (socket, mut rx) = hub.connect(someone());
        let account = socket.account_id;
        hub.subscribe(&socket, &[(conversation, Uuid::now_v7())]);
        hub.remove_account(conversation, account);
        hub.send(conversation, Arc::from("x"));
        assert!(rx.try_recv().is_err());
        assert!(!socket.follows(conversation));
    }
}
