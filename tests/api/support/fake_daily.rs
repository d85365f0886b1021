//! A stand-in for Daily's REST API (`POST /rooms`, `DELETE /rooms/{name}`),
//! speaking its JSON and bearer-key auth, for the video-call tests. It can
//! be told to fail, and records the rooms it made.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use serde_json::{Value, json};

pub const KEY: &str = "daily-test-key";

#[derive(Clone, Default)]
pub struct FakeDaily {
    pub rooms: Arc<Mutex<BTreeMap<String, Value>>>,
    /// Answer every create with a 500.
    pub failing: Arc<Mutex<bool>>,
}

impl FakeDaily {
    /// Serves on a free port; returns the API root to configure.
    pub async fn start(&self) -> String {
        let app = axum::Router::new()
            .route("/v1/rooms", post(create))
            .route("/v1/rooms/{name}", delete(remove))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/v1")
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

async fn create(
    State(fake): State<FakeDaily>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "authorization-error", "info": "bad key"})),
        );
    }
    if *fake.failing.lock().unwrap() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "server-error"})),
        );
    }
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    let room = json!({
        "id": uuid::Uuid::new_v4(),
        "name": name,
        "api_created": true,
        "privacy": body["privacy"],
        "url": format!("https://clinic.daily.co/{name}"),
        "created_at": "2026-11-26T10:00:00.000Z",
        "config": body["properties"],
    });
    fake.rooms.lock().unwrap().insert(name, body);
    (StatusCode::OK, Json(room))
}

async fn remove(
    State(fake): State<FakeDaily>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "authorization-error"})),
        );
    }
    match fake.rooms.lock().unwrap().remove(&name) {
        Some(_) => (StatusCode::OK, Json(json!({"deleted": true, "name": name}))),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "not-found"}))),
    }
}
