//! Video rooms on Daily: private, expiring rooms created through Daily's
//! REST API with the configured key. Errors carry only an HTTP status,
//! never a response body, so neither the key nor PHI reaches a log.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use super::video::{
    DAILY, Room, RoomRequest, SettingsError, VideoError, VideoRooms, check_room_name,
    parse_base_url, with_segments,
};
use crate::config::SecretString;

/// A call that cannot reach Daily within this fails fast instead of holding
/// the request that wanted the room.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most of the request budget is for Daily's answer, not for connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Rooms on Daily (<https://docs.daily.co/reference/rest-api/rooms>).
///
/// Rooms are private, so the URL alone does not let anyone in: participants
/// need a meeting token or the owner's admission.
pub struct DailyRooms {
    client: reqwest::Client,
    api_url: Url,
    api_key: SecretString,
}

impl fmt::Debug for DailyRooms {
    /// Leaves out the API key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DailyRooms")
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

/// `POST /rooms` body.
#[derive(Serialize)]
struct CreateRoomBody<'a> {
    name: &'a str,
    privacy: &'static str,
    properties: RoomProperties,
}

#[derive(Serialize)]
struct RoomProperties {
    /// Unix seconds after which nobody can join.
    exp: i64,
    /// End a call still running at `exp` instead of letting it overrun.
    eject_at_room_exp: bool,
    /// Left out unless recording is wanted, so no recording type is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_recording: Option<&'static str>,
}

/// The part of Daily's room object carebase keeps.
#[derive(Deserialize)]
struct CreatedRoom {
    name: String,
    url: String,
}

impl DailyRooms {
    /// A client for the API at `api_url` (normally [`DEFAULT_DAILY_API_URL`]).
    pub fn new(api_url: &str, api_key: SecretString) -> Result<Self, SettingsError> {
        Self::with_timeout(api_url, api_key, REQUEST_TIMEOUT)
    }

    fn with_timeout(
        api_url: &str,
        api_key: SecretString,
        timeout: Duration,
    ) -> Result<Self, SettingsError> {
        let api_url = parse_base_url("video_daily_api_url", api_url)?;
        require_tls_off_loopback(&api_url)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            // The API never redirects; following one could carry the key on.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| SettingsError::HttpClient)?;
        Ok(Self {
            client,
            api_url,
            api_key,
        })
    }

    async fn post_room(&self, request: &RoomRequest) -> Result<reqwest::Response, VideoError> {
        let body = CreateRoomBody {
            name: &request.room_name,
            privacy: "private",
            properties: RoomProperties {
                exp: request.expires_at.as_micros().div_euclid(1_000_000),
                eject_at_room_exp: true,
                enable_recording: request.recording.then_some("cloud"),
            },
        };
        self.client
            .post(with_segments(&self.api_url, &["rooms"]))
            .bearer_auth(self.api_key.expose())
            .json(&body)
            .send()
            .await
            .map_err(|_| VideoError::Unavailable { status: None })
    }
}

/// The API key is a bearer credential: refuse to send it in the clear
/// anywhere but to a local proxy or test server.
fn require_tls_off_loopback(url: &Url) -> Result<(), SettingsError> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if url.scheme() == "https" || loopback {
        Ok(())
    } else {
        Err(SettingsError::InvalidUrl {
            setting: "video_daily_api_url",
            why: "it must use https unless it points at this machine",
        })
    }
}

/// rustls on ring with Mozilla's roots bundled, like sqlx and lettre here:
/// no aws-lc build, and a container without CA certificates still verifies.
fn tls_config() -> Result<rustls::ClientConfig, SettingsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| SettingsError::HttpClient)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest is built without HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Sorts an answer by status; the body is never read for an error.
fn check_status(status: StatusCode) -> Result<(), VideoError> {
    let code = status.as_u16();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(VideoError::Unavailable { status: Some(code) })
    } else if status.is_client_error() {
        Err(VideoError::Refused { status: code })
    } else {
        Err(VideoError::BadResponse)
    }
}

/// Reads the room object out of a successful answer.
async fn read_room(response: reqwest::Response, asked: &str) -> Result<Room, VideoError> {
    let room: CreatedRoom = response.json().await.map_err(|e| {
        if e.is_decode() {
            VideoError::BadResponse
        } else {
            VideoError::Unavailable { status: None }
        }
    })?;
    if room.name != asked || Url::parse(&room.url).is_err() {
        return Err(VideoError::BadResponse);
    }
    Ok(Room {
        name: room.name,
        url: room.url,
    })
}

#[async_trait::async_trait]
impl VideoRooms for DailyRooms {
    fn provider(&self) -> &'static str {
        DAILY
    }

    async fn create_room(&self, request: &RoomRequest) -> Result<Room, VideoError> {
        check_room_name(&request.room_name)?;
        let response = self.post_room(request).await?;
        check_status(response.status())?;
        read_room(response, &request.room_name).await
    }

    async fn delete_room(&self, room_name: &str) -> Result<(), VideoError> {
        check_room_name(room_name)?;
        let response = self
            .client
            .delete(with_segments(&self.api_url, &["rooms", room_name]))
            .bearer_auth(self.api_key.expose())
            .send()
            .await
            .map_err(|_| VideoError::Unavailable { status: None })?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        check_status(response.status())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use axum::Json;
    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{delete, post};
    use serde_json::{Value, json};
    use uuid::Uuid;

    use super::*;
    use crate::messaging::video::room_name_for;
    use crate::time::Timestamp;

    const KEY: &str = "daily-test-key-5f1c0e9a";
    /// The fake answers this name with 503.
    const FAILING: &str = "call-fails";
    /// The fake answers this name with 200 and a body that is not JSON.
    const GARBLED: &str = "call-garbled";
    /// The fake takes longer than the short test timeout for this name.
    const SLOW: &str = "call-slow";
    /// The fake redirects this name to another path of its own.
    const MOVED: &str = "call-moved";

    /// One request the fake received.
    #[derive(Clone, Debug)]
    struct Seen {
        method: &'static str,
        path: String,
        authorization: Option<String>,
        content_type: Option<String>,
        body: Value,
    }

    /// A stand-in for Daily's rooms API that records what it was sent.
    #[derive(Clone, Default)]
    struct FakeDaily {
        rooms: Arc<Mutex<HashSet<String>>>,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl FakeDaily {
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }

        fn record(&self, method: &'static str, path: String, headers: &HeaderMap, body: Value) {
            let header = |name| {
                headers
                    .get(name)
                    .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            self.seen.lock().unwrap().push(Seen {
                method,
                path,
                authorization: header("authorization"),
                content_type: header("content-type"),
                body,
            });
        }
    }

    fn daily_error(status: u16, error: &str, info: String) -> Response {
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        (status, Json(json!({ "error": error, "info": info }))).into_response()
    }

    /// Daily's 401 for anything but the test key, echoing what it was given
    /// so a leak into carebase's errors would show in the tests.
    fn refuse_wrong_key(headers: &HeaderMap) -> Option<Response> {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        (given != format!("Bearer {KEY}")).then(|| {
            daily_error(
                401,
                "authentication-error",
                format!("'{given}' is not a valid key"),
            )
        })
    }

    fn room_object(name: &str, body: &Value) -> Value {
        json!({
            "id": "d61cd7b2-a273-42b4-89bd-be763fd562c1",
            "name": name,
            "api_created": true,
            "privacy": body["privacy"],
            "url": format!("https://example.daily.co/{name}"),
            "created_at": "2026-11-26T09:30:00.000Z",
            "config": body["properties"],
        })
    }

    async fn create(
        State(fake): State<FakeDaily>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        fake.record("POST", "/rooms".into(), &headers, body.clone());
        if let Some(refused) = refuse_wrong_key(&headers) {
            return refused;
        }
        let name = body["name"].as_str().unwrap_or_default().to_owned();
        match name.as_str() {
            FAILING => return daily_error(503, "server-error", "try later".into()),
            GARBLED => return "<html>gateway</html>".into_response(),
            SLOW => tokio::time::sleep(Duration::from_secs(2)).await,
            MOVED => return axum::response::Redirect::temporary("/v1/elsewhere").into_response(),
            _ => {}
        }
        if !fake.rooms.lock().unwrap().insert(name.clone()) {
            let info = format!("a room named {name} already exists");
            return daily_error(400, "invalid-request-error", info);
        }
        Json(room_object(&name, &body)).into_response()
    }

    async fn remove(
        State(fake): State<FakeDaily>,
        headers: HeaderMap,
        Path(name): Path<String>,
    ) -> Response {
        fake.record("DELETE", format!("/rooms/{name}"), &headers, Value::Null);
        if let Some(refused) = refuse_wrong_key(&headers) {
            return refused;
        }
        if fake.rooms.lock().unwrap().remove(&name) {
            Json(json!({ "deleted": true, "name": name })).into_response()
        } else {
            daily_error(404, "not-found", format!("room {name} was not found"))
        }
    }

    /// Where [`MOVED`] points: records what a followed redirect would send.
    async fn elsewhere(State(fake): State<FakeDaily>, headers: HeaderMap) -> Response {
        fake.record("POST", "/elsewhere".into(), &headers, Value::Null);
        Json(json!({ "name": MOVED, "url": "https://example.daily.co/call-moved" })).into_response()
    }

    /// Serves the fake on a free local port; returns its API root.
    async fn spawn_fake() -> (String, FakeDaily) {
        let fake = FakeDaily::default();
        let app = Router::new()
            .route("/v1/rooms", post(create))
            .route("/v1/rooms/{name}", delete(remove))
            .route("/v1/elsewhere", post(elsewhere))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/v1"), fake)
    }

    fn daily(api_url: &str, key: &str) -> DailyRooms {
        DailyRooms::new(api_url, SecretString::new(key.to_owned())).unwrap()
    }

    fn request(name: &str, recording: bool) -> RoomRequest {
        RoomRequest {
            room_name: name.to_owned(),
            expires_at: Timestamp::from_micros(1_900_000_000_250_000),
            recording,
        }
    }

    fn assert_no_key(error: &VideoError) {
        assert!(!error.to_string().contains(KEY), "{error}");
        assert!(!format!("{error:?}").contains(KEY), "{error:?}");
    }

    #[tokio::test]
    async fn create_posts_a_private_expiring_room_with_the_bearer_key() {
        let (api_url, fake) = spawn_fake().await;
        let name = room_name_for(Uuid::now_v7());

        let room = daily(&api_url, KEY)
            .create_room(&request(&name, true))
            .await
            .unwrap();

        assert_eq!(room.name, name);
        assert_eq!(room.url, format!("https://example.daily.co/{name}"));
        let seen = fake.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(
            seen[0].authorization.as_deref(),
            Some("Bearer daily-test-key-5f1c0e9a")
        );
        assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
        let expected = json!({
            "name": name,
            "privacy": "private",
            "properties": {
                "exp": 1_900_000_000,
                "eject_at_room_exp": true,
                "enable_recording": "cloud",
            },
        });
        assert_eq!(seen[0].body, expected);
    }

    #[tokio::test]
    async fn create_without_recording_sends_no_recording_type() {
        let (api_url, fake) = spawn_fake().await;
        let name = room_name_for(Uuid::now_v7());

        daily(&api_url, KEY)
            .create_room(&request(&name, false))
            .await
            .unwrap();

        let properties = &fake.seen()[0].body["properties"];
        assert!(properties.get("enable_recording").is_none(), "{properties}");
        assert_eq!(properties["exp"], 1_900_000_000);
    }

    #[tokio::test]
    async fn a_wrong_key_is_refused_with_401_and_never_shown() {
        let (api_url, _fake) = spawn_fake().await;
        let wrong = format!("{KEY}-revoked");
        let rooms = daily(&api_url, &wrong);

        let error = rooms
            .create_room(&request("call-a", false))
            .await
            .unwrap_err();

        assert_eq!(error, VideoError::Refused { status: 401 });
        assert_no_key(&error);
        assert!(!format!("{rooms:?}").contains(KEY));
        let on_delete = rooms.delete_room("call-a").await.unwrap_err();
        assert_eq!(on_delete, VideoError::Refused { status: 401 });
    }

    #[tokio::test]
    async fn a_duplicate_name_is_refused_with_400() {
        let (api_url, _fake) = spawn_fake().await;
        let rooms = daily(&api_url, KEY);
        rooms.create_room(&request("call-b", false)).await.unwrap();

        let error = rooms
            .create_room(&request("call-b", false))
            .await
            .unwrap_err();

        assert_eq!(error, VideoError::Refused { status: 400 });
        assert_no_key(&error);
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);

        let error = daily(&format!("http://{addr}/v1"), KEY)
            .create_room(&request("call-c", false))
            .await
            .unwrap_err();

        assert_eq!(error, VideoError::Unavailable { status: None });
        assert_no_key(&error);
    }

    #[tokio::test]
    async fn a_server_error_is_unavailable_with_its_status() {
        let (api_url, _fake) = spawn_fake().await;

        let error = daily(&api_url, KEY)
            .create_room(&request(FAILING, false))
            .await
            .unwrap_err();

        assert_eq!(error, VideoError::Unavailable { status: Some(503) });
        assert_eq!(
            error.to_string(),
            "the video provider is unavailable (HTTP 503)"
        );
    }

    #[tokio::test]
    async fn a_success_without_a_room_object_is_a_bad_response() {
        let (api_url, _fake) = spawn_fake().await;

        let error = daily(&api_url, KEY)
            .create_room(&request(GARBLED, false))
            .await
            .unwrap_err();

        assert_eq!(error, VideoError::BadResponse);
    }

    #[tokio::test]
    async fn a_slow_answer_times_out_as_unavailable() {
        let (api_url, _fake) = spawn_fake().await;
        let key = SecretString::new(KEY.to_owned());
        let rooms = DailyRooms::with_timeout(&api_url, key, Duration::from_millis(200)).unwrap();

        let error = rooms.create_room(&request(SLOW, false)).await.unwrap_err();

        assert_eq!(error, VideoError::Unavailable { status: None });
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_with_the_key() {
        let (api_url, fake) = spawn_fake().await;

        let error = daily(&api_url, KEY)
            .create_room(&request(MOVED, false))
            .await
            .unwrap_err();

        assert_eq!(error, VideoError::BadResponse);
        let paths: Vec<_> = fake.seen().into_iter().map(|s| s.path).collect();
        assert_eq!(paths, ["/rooms"]);
    }

    #[tokio::test]
    async fn delete_removes_the_room_and_a_missing_room_is_already_done() {
        let (api_url, fake) = spawn_fake().await;
        let rooms = daily(&api_url, KEY);
        rooms.create_room(&request("call-d", false)).await.unwrap();

        rooms.delete_room("call-d").await.unwrap();
        rooms.delete_room("call-d").await.unwrap();

        let seen = fake.seen();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1].method, "DELETE");
        assert_eq!(seen[1].path, "/rooms/call-d");
        assert_eq!(
            seen[1].authorization.as_deref(),
            Some("Bearer daily-test-key-5f1c0e9a")
        );
        assert!(fake.rooms.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn invalid_names_are_refused_before_any_request() {
        let (api_url, fake) = spawn_fake().await;
        let rooms = daily(&api_url, KEY);

        let create = rooms.create_room(&request("../domain", false)).await;
        let delete = rooms.delete_room("a/b").await;

        assert_eq!(create, Err(VideoError::InvalidRoomName));
        assert_eq!(delete, Err(VideoError::InvalidRoomName));
        assert!(fake.seen().is_empty());
    }
}
