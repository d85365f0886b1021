//! Identity: who is calling. Accounts and their credentials (passwords,
//! the optional TOTP factor, single-use emailed tokens), sessions with
//! rotating refresh tokens and short-lived access tokens, API keys, and
//! sign-in throttling. What a caller may do is the access context's job;
//! this one only establishes who it is. See docs/trust-core.md.

pub mod access_token;
pub mod accounts;
pub mod admin_routes;
pub mod api_keys;
pub mod auth_routes;
pub mod email_change_routes;
pub mod invitation_routes;
pub mod mail;
pub mod me_routes;
pub mod migration;
pub mod password;
pub mod permissions;
pub mod profile_migration;
pub mod profile_routes;
pub mod profiles;
pub mod recovery_routes;
pub mod routes;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod tokens;
pub mod totp;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::{AppState, Extensions, Opening};
use crate::config::Section;
use crate::context::{ApiTag, Context};
use crate::policy::Grant;

use access_token::AccessTokens;
use sessions::SessionPolicy;
use settings::IdentitySettings;

use crate::config::Config;
use crate::crypto::DataKey;

/// The identity services a server holds: the access token keys and the
/// session limits.
#[derive(Clone, Debug)]
pub struct Identity {
    pub tokens: AccessTokens,
    pub sessions: SessionPolicy,
}

impl Identity {
    pub fn new(config: &Config, installation: &DataKey) -> Self {
        let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let settings = config.section::<IdentitySettings>();
        Self {
            tokens: AccessTokens::new(installation, settings.access_token_ttl_secs),
            sessions: SessionPolicy {
                idle_secs: secs(settings.session_idle_timeout_secs),
                lifetime_secs: secs(settings.session_lifetime_secs),
            },
        }
    }
}

/// The identity context, as the kernel sees it.
pub struct IdentityContext;

#[async_trait::async_trait]
impl Context for IdentityContext {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[
            ApiTag {
                name: "auth",
                description: "Sign-up, sign-in, tokens, recovery",
            },
            ApiTag {
                name: "me",
                description: "The signed-in account",
            },
            ApiTag {
                name: "admin",
                description: "Installation administration",
            },
        ]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::routes()
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreateAccounts),
            Box::new(migration::CreateApiKeys),
            Box::new(migration::AllowEmailChangeUndo),
            Box::new(profile_migration::CreateProfiles),
        ]
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    fn people_only(&self) -> &'static [crate::policy::Permission] {
        permissions::PEOPLE_ONLY
    }

    fn settings(&self) -> Option<Section> {
        Some(Section::of::<IdentitySettings>())
    }

    async fn open(&self, opening: &Opening<'_>, extensions: &mut Extensions) -> anyhow::Result<()> {
        let installation = opening.keyring.installation().await?;
        extensions.insert(Identity::new(opening.config, &installation));
        Ok(())
    }
}
