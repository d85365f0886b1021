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

use url::Url;
use uuid::Uuid;

pub use super::video_daily::DailyRooms;
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

pub(super) fn check_room_name(name: &str) -> Result<(), VideoError> {
    if is_valid_room_name(name) {
        Ok(())
    } else {
        Err(VideoError::InvalidRoomName)
    }
}

/// Parses a base URL setting: absolute http(s), no credentials, no query.
pub(super) fn parse_base_url(setting: &'static str, value: &str) -> Result<Url, SettingsError> {
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
pub(super) fn with_segments(base: &Url, segments: &[&str]) -> Url {
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

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "daily-test-key-5f1c0e9a";

    fn request(name: &str, recording: bool) -> RoomRequest {
        RoomRequest {
            room_name: name.to_owned(),
            expires_at: Timestamp::from_micros(1_900_000_000_250_000),
            recording,
        }
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
