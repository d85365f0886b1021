//! A WebSocket client of the realtime endpoint, opened with a bearer token
//! or a ticket, that can tell how the server closed it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for a revocation to reach an open socket: the
/// server re-checks every 400 ms; the rest is room for a loaded machine.
pub const REVOCATION_WAIT: Duration = Duration::from_secs(3);

/// A WebSocket client of the realtime endpoint.
pub struct Socket {
    stream: Stream,
}

impl Socket {
    pub async fn open(addr: std::net::SocketAddr, token: &str) -> Self {
        let mut request = format!("ws://{addr}/realtime")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Self { stream }
    }

    /// Opens the socket with a ticket and no `Authorization` header; the
    /// HTTP status when the server refuses.
    pub async fn open_with_ticket(addr: std::net::SocketAddr, ticket: &str) -> Result<Self, u16> {
        let url = format!("ws://{addr}/realtime?ticket={ticket}");
        match tokio_tungstenite::connect_async(url).await {
            Ok((stream, _)) => Ok(Self { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("the socket did not open: {other}"),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Frame::text(frame.to_string()))
            .await
            .unwrap();
    }

    /// The next JSON event, or `None` after `wait` (or once closed).
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            if let Frame::Text(text) = frame {
                return serde_json::from_str(text.as_str()).ok();
            }
        }
    }

    pub async fn subscribe(&mut self, ids: &[Uuid]) -> Value {
        self.send(json!({"type": "subscribe", "conversation_ids": ids}))
            .await;
        self.next(Duration::from_secs(5)).await.unwrap()
    }

    /// The next event of `kind`, skipping others.
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let event = self
                .next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("no {kind} event"));
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// The code the server closes the socket with within `wait`, skipping
    /// events; `None` when it stays open that long.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Frame::Close(frame)))) => {
                    return Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                }
                Ok(None | Some(Err(_))) => return Some(1006),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Whether the server still answers a ping frame of the protocol.
    pub async fn answers(&mut self) -> bool {
        self.send(json!({"type": "ping"})).await;
        loop {
            match self.next(Duration::from_secs(5)).await {
                Some(event) if event["type"] == "pong" => return true,
                Some(_) => {}
                None => return false,
            }
        }
    }
}
