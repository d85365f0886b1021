//! Identity's settings section, `[identity]`: sessions, tokens, sign-up.

use serde::{Deserialize, Serialize};

use crate::config::{Invalid, Settings};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct IdentitySettings {
    /// A session unused this long ends (automatic logoff), in seconds.
    pub session_idle_timeout_secs: u64,
    /// A session ends this long after sign-in, however active, in seconds.
    pub session_lifetime_secs: u64,
    /// How long an access token is valid, in seconds; refresh tokens renew it.
    pub access_token_ttl_secs: u64,
    /// Whether anyone may create an account with `POST /auth/sign-up`.
    pub allow_sign_up: bool,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            session_idle_timeout_secs: 15 * 60,
            session_lifetime_secs: 12 * 60 * 60,
            access_token_ttl_secs: 10 * 60,
            allow_sign_up: true,
        }
    }
}

impl Settings for IdentitySettings {
    const SECTION: &'static str = "identity";
    const FLAT_ALIASES: &'static [&'static str] = &[
        "session_idle_timeout_secs",
        "session_lifetime_secs",
        "access_token_ttl_secs",
        "allow_sign_up",
    ];

    fn validate(&self) -> Result<(), Invalid> {
        for (key, value) in [
            ("session_idle_timeout_secs", self.session_idle_timeout_secs),
            ("session_lifetime_secs", self.session_lifetime_secs),
            ("access_token_ttl_secs", self.access_token_ttl_secs),
        ] {
            if value == 0 {
                return Err(Invalid::new(key, "must be at least 1"));
            }
        }
        if self.session_idle_timeout_secs > self.session_lifetime_secs {
            return Err(Invalid::new(
                "session_idle_timeout_secs",
                "must not exceed identity.session_lifetime_secs",
            ));
        }
        Ok(())
    }
}
