//! Messaging's settings section, `[messaging]`: calls and video rooms.

use serde::{Deserialize, Serialize};

use super::video::{DEFAULT_BUILTIN_BASE_URL, DEFAULT_DAILY_API_URL, VideoSettings};
use crate::config::{Invalid, Mask, Secret, SecretString, Settings};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MessagingSettings {
    /// A video call ringing this long unanswered is marked missed, in seconds.
    pub call_ring_timeout_secs: u64,
    /// Daily API key; when set, video rooms are created on Daily, otherwise
    /// carebase issues rooms under `video_builtin_base_url` itself.
    pub video_daily_api_key: Option<SecretString>,
    /// Daily's REST API root; change only for a proxy or a test server.
    pub video_daily_api_url: String,
    /// The page that hosts built-in rooms; a room's URL is this plus
    /// `/<room name>`.
    pub video_builtin_base_url: String,
}

impl Default for MessagingSettings {
    fn default() -> Self {
        Self {
            call_ring_timeout_secs: 60,
            video_daily_api_key: None,
            video_daily_api_url: DEFAULT_DAILY_API_URL.to_owned(),
            video_builtin_base_url: DEFAULT_BUILTIN_BASE_URL.to_owned(),
        }
    }
}

impl MessagingSettings {
    /// The video room provider's settings.
    pub fn video(&self) -> VideoSettings {
        VideoSettings {
            daily_api_key: self.video_daily_api_key.clone(),
            daily_api_url: self.video_daily_api_url.clone(),
            builtin_base_url: self.video_builtin_base_url.clone(),
        }
    }
}

impl Settings for MessagingSettings {
    const SECTION: &'static str = "messaging";
    const SECRETS: &'static [Secret] = &[Secret {
        key: "video_daily_api_key",
        mask: Mask::Whole,
    }];
    const FLAT_ALIASES: &'static [&'static str] = &[
        "call_ring_timeout_secs",
        "video_daily_api_key",
        "video_daily_api_url",
        "video_builtin_base_url",
    ];

    fn validate(&self) -> Result<(), Invalid> {
        if !(5..=3600).contains(&self.call_ring_timeout_secs) {
            return Err(Invalid::new(
                "call_ring_timeout_secs",
                "must be from 5 seconds to an hour",
            ));
        }
        Ok(())
    }
}
