//! The one typed configuration of a carebase server.
//!
//! Values come from three layers, each overriding the one before:
//! built-in defaults < a TOML file (`--config`) < `CAREBASE_*` environment
//! variables (plus the conventional `DATABASE_URL`). Every key is flat, so
//! the TOML key `listen` is the variable `CAREBASE_LISTEN`. Unknown keys and
//! unknown `CAREBASE_*` variables are refused at start, because a misspelt
//! setting that is silently ignored is how a clinic ends up running with
//! defaults it never chose.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The environment variables that are ours but are not settings.
const NOT_SETTINGS: &[&str] = &["CAREBASE_CONFIG"];
/// Prefixes of variables used by the test suite and tools, never by the server.
const NOT_SETTING_PREFIXES: &[&str] = &["CAREBASE_TEST_", "CAREBASE_BENCH_"];
const ENV_PREFIX: &str = "CAREBASE_";

/// The effective configuration. Build it with [`Config::load`] or start from
/// [`Config::default`] in tests.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds to.
    pub listen: SocketAddr,
    /// Directory for the embedded SQLite database and the master key file.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means SQLite in `data_dir`.
    pub database_url: Option<SecretString>,
    /// Read `database_url` from this file (for secrets mounted as files).
    pub database_url_file: Option<PathBuf>,
    /// Path of the master key file; defaults to `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself (`cbk1.<base64>`), instead of a file; for
    /// secret stores that inject environment variables.
    pub master_key: Option<SecretString>,
    /// Most connections the pool opens.
    pub db_max_connections: u32,
    /// How long a request waits for a pooled connection, in seconds.
    pub db_acquire_timeout_secs: u64,
    /// How long SQLite waits on a locked database before failing, in milliseconds.
    pub sqlite_busy_timeout_ms: u64,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `carebase=debug,sqlx=warn`.
    pub log_level: String,
    /// Largest request body accepted, in bytes.
    pub http_body_limit_bytes: usize,
    /// A request that takes longer is answered 503 and abandoned, in seconds.
    pub http_request_timeout_secs: u64,
    /// A client that takes longer to send its request headers is disconnected, in seconds.
    pub http_header_timeout_secs: u64,
    /// On SIGTERM, how long in-flight requests may take to finish, in seconds.
    pub http_shutdown_grace_secs: u64,
    /// Origins allowed to call the API from a browser; empty disables CORS.
    pub cors_allowed_origins: Vec<String>,
    /// A session unused this long ends (automatic logoff), in seconds.
    pub session_idle_timeout_secs: u64,
    /// A session ends this long after sign-in, however active, in seconds.
    pub session_lifetime_secs: u64,
    /// How long an access token is valid, in seconds; refresh tokens renew it.
    pub access_token_ttl_secs: u64,
    /// Whether anyone may create an account with `POST /auth/sign-up`.
    pub allow_sign_up: bool,
    /// The mail relay, `smtp://user:password@host:587` (STARTTLS) or
    /// `smtps://…` (TLS); empty holds every message in the outbox.
    pub smtp_url: Option<SecretString>,
    /// Read `smtp_url` from this file (for secrets mounted as files).
    pub smtp_url_file: Option<PathBuf>,
    /// The sender of outgoing email, such as `Clinic <noreply@clinic.example>`.
    pub mail_from: Option<String>,
    /// When appointment reminders go out: minutes before the start.
    pub reminder_offsets_minutes: Vec<u32>,
    /// How often each server looks for due reminders and expired waitlist
    /// offers, in seconds.
    pub reminder_poll_secs: u64,
    /// How long a slot offered to the waitlist is held, in minutes.
    pub waitlist_hold_minutes: u32,
    /// A video call ringing this long unanswered is marked missed, in seconds.
    pub call_ring_timeout_secs: u64,
    /// Daily API key; when set, video rooms are created on Daily, otherwise
    /// carebase issues rooms under `video_builtin_base_url` itself.
    pub video_daily_api_key: Option<SecretString>,
    /// Read `video_daily_api_key` from this file (for secrets mounted as files).
    pub video_daily_api_key_file: Option<PathBuf>,
    /// Daily's REST API root; change only for a proxy or a test server.
    pub video_daily_api_url: String,
    /// The page that hosts built-in rooms; a room's URL is this plus
    /// `/<room name>`.
    pub video_builtin_base_url: String,
    /// Directory for message attachments on local disk; defaults to
    /// `<data_dir>/files`.
    pub files_dir: Option<PathBuf>,
    /// An S3-compatible bucket for attachments; when set, attachments go
    /// there instead of `files_dir`.
    pub files_s3_bucket: Option<String>,
    /// The bucket's signing region; S3-compatible servers mostly accept `us-east-1`.
    pub files_s3_region: String,
    /// The S3 server's URL, such as `https://minio.internal:9000`; empty means AWS.
    pub files_s3_endpoint: Option<String>,
    /// Access key for the bucket; empty (with no secret) means the
    /// instance's own AWS credentials.
    pub files_s3_access_key_id: Option<String>,
    /// Secret key for the bucket.
    pub files_s3_secret_access_key: Option<SecretString>,
    /// Read `files_s3_secret_access_key` from this file.
    pub files_s3_secret_access_key_file: Option<PathBuf>,
    /// Allow an `http://` endpoint, for a server on the same host only.
    pub files_s3_allow_http: bool,
    /// Largest attachment accepted, in bytes.
    pub upload_max_bytes: u64,
    /// MIME types accepted as message attachments.
    pub upload_allowed_types: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./carebase-data"),
            database_url: None,
            database_url_file: None,
            master_key_file: None,
            master_key: None,
            db_max_connections: 10,
            db_acquire_timeout_secs: 5,
            sqlite_busy_timeout_ms: 5_000,
            log_format: LogFormat::Human,
            log_level: "info".to_owned(),
            http_body_limit_bytes: 1024 * 1024,
            http_request_timeout_secs: 30,
            http_header_timeout_secs: 30,
            http_shutdown_grace_secs: 30,
            cors_allowed_origins: Vec::new(),
            session_idle_timeout_secs: 15 * 60,
            session_lifetime_secs: 12 * 60 * 60,
            access_token_ttl_secs: 10 * 60,
            allow_sign_up: true,
            smtp_url: None,
            smtp_url_file: None,
            mail_from: None,
            reminder_offsets_minutes: vec![48 * 60, 24 * 60, 2 * 60],
            reminder_poll_secs: 30,
            waitlist_hold_minutes: 60,
            call_ring_timeout_secs: 60,
            video_daily_api_key: None,
            video_daily_api_key_file: None,
            video_daily_api_url: crate::messaging::video::DEFAULT_DAILY_API_URL.to_owned(),
            video_builtin_base_url: crate::messaging::video::DEFAULT_BUILTIN_BASE_URL.to_owned(),
            files_dir: None,
            files_s3_bucket: None,
            files_s3_region: "us-east-1".to_owned(),
            files_s3_endpoint: None,
            files_s3_access_key_id: None,
            files_s3_secret_access_key: None,
            files_s3_secret_access_key_file: None,
            files_s3_allow_http: false,
            upload_max_bytes: crate::storage::DEFAULT_MAX_UPLOAD_BYTES,
            upload_allowed_types: crate::storage::DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Why a configuration could not be built. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown environment variable {0}; known settings are: {1}")]
    UnknownVariable(String, String),
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Builds the configuration from the defaults, an optional TOML file and
    /// the given environment (pass `std::env::vars()` in the binary).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env = settings_from_env(env)?;
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    reason: "not found or not a file".to_owned(),
                });
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::default()
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("cors_allowed_origins")
                .with_list_parse_key("reminder_offsets_minutes")
                .source(Some(env)),
        );
        let layered = builder.build().map_err(|e| file_error(file, e))?;
        let mut config: Config = layered.try_deserialize().map_err(|e| file_error(file, e))?;
        config.resolve_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.database_url_file {
            self.database_url = Some(read_secret_file(
                "database_url",
                self.database_url.is_some(),
                path,
            )?);
        }
        if let Some(path) = &self.video_daily_api_key_file {
            self.video_daily_api_key = Some(read_secret_file(
                "video_daily_api_key",
                self.video_daily_api_key.is_some(),
                path,
            )?);
        }
        if let Some(path) = &self.files_s3_secret_access_key_file {
            self.files_s3_secret_access_key = Some(read_secret_file(
                "files_s3_secret_access_key",
                self.files_s3_secret_access_key.is_some(),
                path,
            )?);
        }
        if let Some(path) = &self.smtp_url_file {
            self.smtp_url = Some(read_secret_file("smtp_url", self.smtp_url.is_some(), path)?);
        }
        Ok(())
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        if self.db_max_connections == 0 {
            return invalid("db_max_connections", "must be at least 1");
        }
        if self.http_body_limit_bytes == 0 {
            return invalid("http_body_limit_bytes", "must be at least 1");
        }
        if self.http_request_timeout_secs == 0 {
            return invalid("http_request_timeout_secs", "must be at least 1");
        }
        if self.http_header_timeout_secs == 0 {
            return invalid("http_header_timeout_secs", "must be at least 1");
        }
        for (key, value) in [
            ("session_idle_timeout_secs", self.session_idle_timeout_secs),
            ("session_lifetime_secs", self.session_lifetime_secs),
            ("access_token_ttl_secs", self.access_token_ttl_secs),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        if self.reminder_offsets_minutes.len() > 10
            || self
                .reminder_offsets_minutes
                .iter()
                .any(|m| *m == 0 || *m > 60 * 24 * 60)
        {
            return invalid(
                "reminder_offsets_minutes",
                "at most 10 offsets, each from 1 minute to 60 days",
            );
        }
        if self.reminder_poll_secs == 0 {
            return invalid("reminder_poll_secs", "must be at least 1");
        }
        if !(1..=7 * 24 * 60).contains(&self.waitlist_hold_minutes) {
            return invalid("waitlist_hold_minutes", "must be from 1 minute to 7 days");
        }
        if !(5..=3600).contains(&self.call_ring_timeout_secs) {
            return invalid(
                "call_ring_timeout_secs",
                "must be from 5 seconds to an hour",
            );
        }
        if self.session_idle_timeout_secs > self.session_lifetime_secs {
            return invalid(
                "session_idle_timeout_secs",
                "must not exceed session_lifetime_secs",
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return invalid("log_level", &e.to_string());
        }
        for origin in &self.cors_allowed_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return invalid(
                    "cors_allowed_origins",
                    &format!("`{origin}` is not an origin like https://app.example.org"),
                );
            }
            if axum::http::HeaderValue::from_str(origin).is_err() {
                return invalid("cors_allowed_origins", &format!("`{origin}` is not valid"));
            }
        }
        if self.master_key.is_some() && self.master_key_file.is_some() {
            return invalid("master_key", "set master_key or master_key_file, not both");
        }
        if let Some(url) = &self.database_url {
            crate::db::DatabaseUrl::parse(url.expose()).map_err(ConfigError::Invalid)?;
        }
        self.validate_mail()
    }

    /// SMTP needs a parsable relay URL and a sender; a sender alone is fine.
    fn validate_mail(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.smtp_url {
            crate::notify::SmtpSettings::parse(url.expose()).map_err(ConfigError::Invalid)?;
            if self.mail_from.is_none() {
                return Err(ConfigError::Invalid(
                    "mail_from: required when smtp_url is set".to_owned(),
                ));
            }
        }
        if let Some(from) = &self.mail_from {
            crate::notify::parse_mail_from(from).map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// The database to use: the configured URL, or SQLite in the data directory.
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => url.clone(),
            None => SecretString::new(format!(
                "sqlite://{}",
                self.data_dir.join("carebase.db").display()
            )),
        }
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.http_request_timeout_secs)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.http_shutdown_grace_secs)
    }

    /// The effective configuration as TOML, with secrets masked, for
    /// `carebase config check`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = Some(SecretString::new(mask_url(self.database_url().expose())));
        if shown.master_key.is_some() {
            shown.master_key = Some(SecretString::new("****".to_owned()));
        }
        if let Some(url) = &self.smtp_url {
            shown.smtp_url = Some(SecretString::new(mask_url(url.expose())));
        }
        for secret in [
            &mut shown.video_daily_api_key,
            &mut shown.files_s3_secret_access_key,
        ] {
            if secret.is_some() {
                *secret = Some(SecretString::new("****".to_owned()));
            }
        }
        toml_string(&shown)
    }

    /// The video room provider's settings.
    pub fn video(&self) -> crate::messaging::video::VideoSettings {
        crate::messaging::video::VideoSettings {
            daily_api_key: self.video_daily_api_key.clone(),
            daily_api_url: self.video_daily_api_url.clone(),
            builtin_base_url: self.video_builtin_base_url.clone(),
        }
    }

    /// Where attachments are stored.
    pub fn files(&self) -> crate::storage::FileSettings {
        use crate::storage::{FileSettings, S3Settings};
        FileSettings {
            dir: self.files_dir.clone(),
            s3: self.files_s3_bucket.as_ref().map(|bucket| S3Settings {
                bucket: bucket.clone(),
                region: self.files_s3_region.clone(),
                endpoint: self.files_s3_endpoint.clone(),
                access_key_id: self.files_s3_access_key_id.clone(),
                secret_access_key: self.files_s3_secret_access_key.clone(),
                allow_http: self.files_s3_allow_http,
            }),
        }
    }

    /// What attachments are accepted.
    pub fn upload_policy(&self) -> crate::storage::UploadPolicy {
        crate::storage::UploadPolicy {
            max_bytes: self.upload_max_bytes,
            allowed_types: self.upload_allowed_types.clone(),
        }
    }

    /// Every setting key.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// The content of a `<key>_file` setting, refusing to have both.
fn read_secret_file(key: &str, also_set: bool, path: &Path) -> Result<SecretString, ConfigError> {
    if also_set {
        return Err(ConfigError::Invalid(format!(
            "set {key} or {key}_file, not both"
        )));
    }
    let value = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        reason: format!("{key}_file cannot be read: {e}"),
    })?;
    Ok(SecretString::new(value.trim().to_owned()))
}

fn toml_string(config: &Config) -> String {
    toml::to_string(config).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
}

fn file_error(file: Option<&Path>, e: config::ConfigError) -> ConfigError {
    match file {
        Some(path) => ConfigError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        },
        None => ConfigError::Invalid(e.to_string()),
    }
}

/// Picks our settings out of the environment: `CAREBASE_<KEY>` and
/// `DATABASE_URL`, refusing `CAREBASE_*` names that are not settings.
fn settings_from_env(
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<HashMap<String, String>, ConfigError> {
    let keys = Config::keys();
    let mut settings = HashMap::new();
    let mut plain_database_url = None;
    for (name, value) in env {
        if name == "DATABASE_URL" {
            plain_database_url = Some(value);
            continue;
        }
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if NOT_SETTINGS.contains(&name.as_str())
            || NOT_SETTING_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            continue;
        }
        let key = key.to_ascii_lowercase();
        if !keys.contains(&key) {
            let known: Vec<String> = keys
                .iter()
                .map(|k| format!("{ENV_PREFIX}{}", k.to_ascii_uppercase()))
                .collect();
            return Err(ConfigError::UnknownVariable(name, known.join(", ")));
        }
        settings.insert(key, value);
    }
    // CAREBASE_DATABASE_URL wins over the conventional DATABASE_URL.
    if let Some(url) = plain_database_url {
        settings.entry("database_url".to_owned()).or_insert(url);
    }
    Ok(settings)
}

/// Hides the password of a connection URL: `postgres://app:****@db/carebase`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user info ends at the last `@` before the query, even when the
    // password holds a `/` that was not percent-encoded: better to hide too
    // much of a malformed URL than to show part of a password. An `@` after
    // a `/` with no `:` before it is in a path (`sqlite:///data/a@b.db`).
    let before_query = rest.split('?').next().unwrap_or_default();
    let Some(at) = before_query
        .rfind('@')
        .filter(|&at| rest[..at].contains(':') || !rest[..at].contains('/'))
    else {
        return mask_query_password(url);
    };
    let (userinfo, host_and_tail) = (&rest[..at], &rest[at + 1..]);
    let user = userinfo.split(':').next().unwrap_or_default();
    mask_query_password(&format!("{scheme}://{user}:****@{host_and_tail}"))
}

fn mask_query_password(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", masked.join("&"))
}

/// A string that must not appear in logs or debug output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_listen_on_localhost_8080_with_sqlite_in_data_dir() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database_url().expose(),
            "sqlite://./carebase-data/carebase.db"
        );
        assert_eq!(
            config.master_key_path(),
            PathBuf::from("./carebase-data/master.key")
        );
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carebase.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7000\"\nlog_level = \"debug\"\nhttp_body_limit_bytes = 2048\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("CAREBASE_LISTEN", "127.0.0.1:9000"),
                (
                    "CAREBASE_CORS_ALLOWED_ORIGINS",
                    "https://a.example,https://b.example",
                ),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.http_body_limit_bytes, 2048);
        assert_eq!(
            config.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn carebase_database_url_wins_over_database_url() {
        let config = Config::load(
            None,
            env(&[
                ("DATABASE_URL", "postgres://a@h/one"),
                ("CAREBASE_DATABASE_URL", "postgres://a@h/two"),
            ]),
        )
        .unwrap();
        assert_eq!(config.database_url().expose(), "postgres://a@h/two");
        let config = Config::load(None, env(&[("DATABASE_URL", "postgres://a@h/one")])).unwrap();
        assert_eq!(config.database_url().expose(), "postgres://a@h/one");
    }

    #[test]
    fn unknown_variables_and_keys_are_refused() {
        let err = Config::load(None, env(&[("CAREBASE_LISTN", "x")])).unwrap_err();
        assert!(err.to_string().contains("CAREBASE_LISTN"), "{err}");
        assert!(err.to_string().contains("CAREBASE_LISTEN"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn test_and_config_variables_are_not_settings() {
        Config::load(
            None,
            env(&[
                ("CAREBASE_TEST_POSTGRES_URL", "postgres://x"),
                ("CAREBASE_CONFIG", "/nowhere"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Config::load(None, env(&[("CAREBASE_LISTEN", "not-an-address")])).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = Config::load(None, env(&[("CAREBASE_DB_MAX_CONNECTIONS", "0")])).unwrap_err();
        assert!(err.to_string().contains("db_max_connections"), "{err}");
        let err = Config::load(None, env(&[("CAREBASE_DATABASE_URL", "mysql://x/y")])).unwrap_err();
        assert!(err.to_string().contains("mysql"), "{err}");
        let err = Config::load(None, env(&[("CAREBASE_LOG_FORMAT", "xml")])).unwrap_err();
        assert!(err.to_string().contains("xml"), "{err}");
    }

    #[test]
    fn database_url_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db-url");
        std::fs::write(&file, "postgres://app:s3cret@db/carebase\n").unwrap();
        let config = Config::load(
            None,
            env(&[("CAREBASE_DATABASE_URL_FILE", file.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(
            config.database_url().expose(),
            "postgres://app:s3cret@db/carebase"
        );
    }

    #[test]
    fn masked_output_hides_passwords() {
        assert_eq!(
            mask_url("postgres://app:s3cret@db:5432/carebase"),
            "postgres://app:****@db:5432/carebase"
        );
        assert_eq!(
            mask_url("postgres://db/carebase?user=app&password=s3cret"),
            "postgres://db/carebase?user=app&password=****"
        );
        assert_eq!(mask_url("sqlite://./x.db"), "sqlite://./x.db");
        let config = Config::load(
            None,
            env(&[("DATABASE_URL", "postgres://app:s3cret@db/carebase")]),
        )
        .unwrap();
        let shown = config.to_masked_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:****@db/carebase"), "{shown}");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn a_password_with_an_unencoded_slash_is_still_masked() {
        let shown = mask_url("postgres://app:pa/ss@db.internal:5432/carebase");
        assert_eq!(shown, "postgres://app:****@db.internal:5432/carebase");
        assert_eq!(
            mask_url("sqlite:///srv/data@2026/carebase.db"),
            "sqlite:///srv/data@2026/carebase.db"
        );
        assert_eq!(
            mask_url("postgres://app@db/carebase"),
            "postgres://app:****@db/carebase"
        );
    }

    #[test]
    fn smtp_settings_are_checked_at_start_and_name_their_key() {
        let from = ("CAREBASE_MAIL_FROM", "Clinic <noreply@clinic.example>");
        let config = Config::load(
            None,
            env(&[
                (
                    "CAREBASE_SMTP_URL",
                    "smtps://mailer:s3cret@mail.example.org",
                ),
                from,
            ]),
        )
        .unwrap();
        assert_eq!(
            config.smtp_url.as_ref().map(SecretString::expose),
            Some("smtps://mailer:s3cret@mail.example.org")
        );

        let err = Config::load(
            None,
            env(&[
                (
                    "CAREBASE_SMTP_URL",
                    "smtp://mailer:s3cret@mail.example.org?tls=none",
                ),
                from,
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("smtp_url"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = Config::load(
            None,
            env(&[("CAREBASE_SMTP_URL", "imap://mail.example.org"), from]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("smtp_url"), "{err}");

        let err = Config::load(
            None,
            env(&[("CAREBASE_SMTP_URL", "smtp://mail.example.org")]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("mail_from"), "{err}");
        let err = Config::load(None, env(&[("CAREBASE_MAIL_FROM", "clinic")])).unwrap_err();
        assert!(err.to_string().starts_with("mail_from"), "{err}");
    }

    #[test]
    fn smtp_password_is_masked_in_config_check_output() {
        let config = Config::load(
            None,
            env(&[
                (
                    "CAREBASE_SMTP_URL",
                    "smtp://mailer:s3cret@mail.example.org:587",
                ),
                ("CAREBASE_MAIL_FROM", "noreply@clinic.example"),
            ]),
        )
        .unwrap();
        let shown = config.to_masked_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("smtp_url = \"smtp://mailer:****@mail.example.org:587\""),
            "{shown}"
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn smtp_url_can_come_from_a_file_but_not_from_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("smtp-url");
        std::fs::write(&file, "smtps://mailer:s3cret@mail.example.org\n").unwrap();
        let from = ("CAREBASE_MAIL_FROM", "noreply@clinic.example");
        let config = Config::load(
            None,
            env(&[("CAREBASE_SMTP_URL_FILE", file.to_str().unwrap()), from]),
        )
        .unwrap();
        assert_eq!(
            config.smtp_url.as_ref().map(SecretString::expose),
            Some("smtps://mailer:s3cret@mail.example.org")
        );
        let err = Config::load(
            None,
            env(&[
                ("CAREBASE_SMTP_URL_FILE", file.to_str().unwrap()),
                ("CAREBASE_SMTP_URL", "smtps://mail.example.org"),
                from,
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("smtp_url_file"), "{err}");
    }

    #[test]
    fn example_file_parses_and_lists_every_key() {
        let example = include_str!("../carebase.example.toml");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("example.toml");
        std::fs::write(&file, example).unwrap();
        Config::load(Some(&file), env(&[])).unwrap();
        for key in Config::keys() {
            assert!(
                example.contains(&format!("{key} =")),
                "carebase.example.toml does not document `{key}`"
            );
        }
    }
}
