//! Video rooms for telehealth calls: where a `video_calls` row gets its
//! `provider`, `room_name` and `room_url`.
//!
//! Two providers sit behind one [`VideoRooms`] trait so call handling is
//! written once. [`DailyRooms`] creates private, expiring rooms through
//! Daily's REST API when an API key is configured. [`BuiltInRooms`] makes no
//! remote call and points at carebase's own video page, so a fresh install
//! offers calls without any third-party account. [`rooms_from`] picks one
//! from [`VideoSettings`].
//!
//! Nothing here may leak the API key or PHI into logs: errors carry only an
//! HTTP status, never a response body, and room names come from the call id
//! alone ([`room_name_for`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::config::SecretString;
use crate::time::Timestamp;

/// `video_calls.provider` for rooms hosted by Daily.
pub const DAILY: &str = "daily";
/// `video_calls.provider` for rooms served by carebase itself.
pub const BUILTIN: &str = "builtin";

/// Daily's API root; only tests and proxies need another.
pub const DEFAULT_DAILY_API_URL: &str = "https://api.daily.co/v1";
/// Where a fresh install serves its own video page.
pub const DEFAULT_BUILTIN_BASE_URL: &str = "http://localhost:8080/video/";

/// A call that cannot reach Daily within this fails fast instead of holding
/// the request that wanted the room.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most of the request budget is for Daily's answer, not for connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Daily's limit on room names.
const MAX_ROOM_NAME: usize = 128;

/// Creates and removes the rooms video calls take place in.
#[async_trait::async_trait]
pub trait VideoRooms: Send + Sync + fmt::Debug {
    /// The name stored in `video_calls.provider` ([`DAILY`] or [`BUILTIN`]).
    fn provider(&self) -> &'static str;

    /// Creates the room, which stops admitting anyone at `expires_at`.
    async fn create_room(&self, request: &RoomRequest) -> Result<Room, VideoError>;

    /// Removes the room; a room that is already gone counts as removed, so a
    /// retried cleanup cannot fail on its own earlier success.
    async fn delete_room(&self, room_name: &str) -> Result<(), VideoError>;
}

/// What a call needs from its room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRequest {
    /// From [`room_name_for`]; checked with [`is_valid_room_name`].
    pub room_name: String,
    /// After this the provider closes the room and ends a running call.
    pub expires_at: Timestamp,
    /// Whether participants may start a (cloud) recording.
    pub recording: bool,
}

/// A room as stored in `video_calls.room_name` and `room_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    pub name: String,
    pub url: String,
}

/// Why a room operation failed. Display and Debug show no API key, response
/// body or room content, so errors can be logged as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// No answer in time, no connection, a 5xx or a 429: worth retrying later.
    #[error("the video provider is unavailable ({})", describe_status(*status))]
    Unavailable { status: Option<u16> },
    /// A 4xx: the provider will not do this (bad key, duplicate name, …).
    #[error("the video provider refused the request with HTTP {status}")]
    Refused { status: u16 },
    /// A success that did not carry what the API promises, or a redirect.
    #[error("the video provider sent an answer carebase cannot use")]
    BadResponse,
    /// The room name has characters or a length Daily does not accept.
    #[error("the room name is not valid for the video provider")]
    InvalidRoomName,
}

fn describe_status(status: Option<u16>) -> String {
    status.map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"))
}

/// Why video settings cannot work. The message names the setting and never
/// repeats its value, which could carry credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{setting} is not valid: {why}")]
    InvalidUrl {
        setting: &'static str,
        why: &'static str,
    },
    #[error("the HTTP client for Daily could not be set up")]
    HttpClient,
}

/// The video part of the configuration, embedded by [`crate::config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoSettings {
    /// Daily API key; when set, rooms are created on Daily, otherwise
    /// carebase serves them itself.
    pub daily_api_key: Option<SecretString>,
    /// Daily's REST API root.
    pub daily_api_url: String,
    /// The page that hosts built-in rooms; a room's URL is this plus
    /// `/<room name>`.
    pub builtin_base_url: String,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            daily_api_key: None,
            daily_api_url: DEFAULT_DAILY_API_URL.to_owned(),
            builtin_base_url: DEFAULT_BUILTIN_BASE_URL.to_owned(),
        }
    }
}

/// The provider the settings ask for: Daily when an API key is set,
/// otherwise built-in rooms.
pub fn rooms_from(settings: &VideoSettings) -> Result<Arc<dyn VideoRooms>, SettingsError> {
    match &settings.daily_api_key {
        Some(key) => Ok(Arc::new(DailyRooms::new(
            &settings.daily_api_url,
            key.clone(),
        )?)),
        None => Ok(Arc::new(BuiltInRooms::new(&settings.builtin_base_url)?)),
    }
}

/// The room name for a call: `call-` and the call id in hex (37 characters).
/// It depends on the id alone, so it carries no patient data and a retried
/// creation asks for the same room instead of leaking a second one.
pub fn room_name_for(call_id: Uuid) -> String {
    format!("call-{}", call_id.simple())
}

/// Whether Daily accepts `name`: 1 to 128 ASCII letters, digits, `-`, `_`.
/// Checked before any request, so a name can never change the API path.
pub fn is_valid_room_name(name: &str) -> bool {
    (1..=MAX_ROOM_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_room_name(name: &str) -> Result<(), VideoError> {
    if is_valid_room_name(name) {
        Ok(())
    } else {
        Err(VideoError::InvalidRoomName)
    }
}

/// Parses a base URL setting: absolute http(s), no credentials, no query.
fn parse_base_url(setting: &'static str, value: &str) -> Result<Url, SettingsError> {
    let invalid = |why| SettingsError::InvalidUrl { setting, why };
    let url = Url::parse(value).map_err(|_| invalid("it is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(invalid("it must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not carry a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    Ok(url)
}

/// `base` with `segments` appended as percent-encoded path segments.
/// Every base here went through [`parse_base_url`], which refuses URLs that
/// cannot take a path, so the `if let` always applies.
fn with_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Rooms served by carebase's own video page: nothing to create remotely.
#[derive(Clone, Debug)]
pub struct BuiltInRooms {
    base_url: Url,
}

impl BuiltInRooms {
    pub fn new(base_url: &str) -> Result<Self, SettingsError> {
        let base_url = parse_base_url("video_builtin_base_url", base_url)?;
        Ok(Self { base_url })
    }
}

#[async_trait::async_trait]
impl VideoRooms for BuiltInRooms {
    fn provider(&self) -> &'static str {
        BUILTIN
    }

    async fn create_room(&self, request: &RoomRequest) -> Result<Room, VideoError> {
        check_room_name(&request.room_name)?;
        let url = with_segments(&self.base_url, &[&request.room_name]);
        Ok(Room {
            name: request.room_name.clone(),
            url: url.into(),
        })
    }

    async fn delete_room(&self, room_name: &str) -> Result<(), VideoError> {
        check_room_name(room_name)
    }
}

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

    use super::*;

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

    #[tokio::test]
    async fn built_in_rooms_live_under_the_base_url() {
        let rooms = BuiltInRooms::new("https://care.example/video").unwrap();
        let name = room_name_for(Uuid::nil());

        let room = rooms.create_room(&request(&name, true)).await.unwrap();

        assert_eq!(rooms.provider(), "builtin");
        assert_eq!(room.name, name);
        assert_eq!(room.url, format!("https://care.example/video/{name}"));
        let slash = BuiltInRooms::new("https://care.example/video/").unwrap();
        let same = slash.create_room(&request(&name, true)).await.unwrap();
        assert_eq!(same.url, room.url);
        assert_eq!(rooms.delete_room(&name).await, Ok(()));
    }

    #[test]
    fn settings_choose_daily_only_with_a_key() {
        let mut settings = VideoSettings::default();
        assert_eq!(rooms_from(&settings).unwrap().provider(), "builtin");

        settings.daily_api_key = Some(SecretString::new(KEY.to_owned()));
        let rooms = rooms_from(&settings).unwrap();

        assert_eq!(rooms.provider(), "daily");
        assert!(!format!("{rooms:?}").contains(KEY));
    }

    #[test]
    fn settings_refuse_unusable_urls_without_echoing_them() {
        let key = || SecretString::new(KEY.to_owned());
        let plain = DailyRooms::new("http://api.daily.co/v1", key()).unwrap_err();
        let creds = BuiltInRooms::new("https://user:hunter2@care.example/").unwrap_err();
        let relative = BuiltInRooms::new("/video").unwrap_err();

        assert!(matches!(
            plain,
            SettingsError::InvalidUrl {
                setting: "video_daily_api_url",
                ..
            }
        ));
        assert!(!creds.to_string().contains("hunter2"), "{creds}");
        assert!(matches!(relative, SettingsError::InvalidUrl { .. }));
    }

    #[test]
    fn room_names_come_from_the_call_id_and_suit_daily() {
        let id = Uuid::now_v7();
        let name = room_name_for(id);

        assert!(is_valid_room_name(&name), "{name}");
        assert!(name.len() <= 41, "{name}");
        assert_eq!(name, room_name_for(id));
        assert_ne!(name, room_name_for(Uuid::now_v7()));
        assert_eq!(
            room_name_for(Uuid::nil()),
            format!("call-{}", "0".repeat(32))
        );
    }

    #[test]
    fn room_name_rule_matches_dailys() {
        assert!(is_valid_room_name("Call_2-b"));
        assert!(is_valid_room_name(&"a".repeat(128)));
        assert!(!is_valid_room_name(""));
        assert!(!is_valid_room_name(&"a".repeat(129)));
        for bad in ["a b", "a/b", "..", "a?b", "é", "a%2F"] {
            assert!(!is_valid_room_name(bad), "{bad}");
        }
    }
}
