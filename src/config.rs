//! The one typed configuration of a carebase server.
//!
//! Values come from three layers, each overriding the one before:
//! built-in defaults < a TOML file (`--config`) < `CAREBASE_*` environment
//! variables (plus the conventional `DATABASE_URL`). The kernel's keys are
//! flat, so the TOML key `listen` is the variable `CAREBASE_LISTEN`. Each
//! context owns a section ([`Settings`]): the TOML table `[scheduling]`, the
//! variables `CAREBASE_SCHEDULING__<KEY>`. Unknown keys and unknown
//! `CAREBASE_*` variables are refused at start, because a misspelt setting
//! that is silently ignored is how a clinic ends up running with defaults it
//! never chose.

mod layers;
mod section;

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use section::{Invalid, Mask, Secret, Section, Sections, Settings};

const ENV_PREFIX: &str = "CAREBASE_";

/// The effective configuration. Build it with [`Config::load`] or start from
/// [`Config::default`] in tests.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// PostgreSQL only: the URL of the role that owns the tables, used for
    /// migrations alone. When set, a starting server migrates with it,
    /// grants `database_url`'s role what serving needs (and no more: it
    /// cannot alter a table, disable the audit triggers or change an audit
    /// event) and serves as that role.
    pub migration_database_url: Option<SecretString>,
    /// Read `migration_database_url` from this file.
    pub migration_database_url_file: Option<PathBuf>,
    /// Path of the master key file; defaults to `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself (`cbk1.<base64>`), instead of a file; for
    /// secret stores that inject environment variables.
    pub master_key: Option<SecretString>,
    /// Start even though the master key file is readable by its group or
    /// by others (refused otherwise).
    pub allow_readable_master_key: bool,
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
    /// Reverse proxies (addresses or networks) whose `Forwarded` and
    /// `X-Forwarded-For` headers name the client; from anyone else those
    /// headers are ignored.
    pub trusted_proxies: Vec<String>,
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
    /// Each context's section, loaded with the rest (see [`Settings`]).
    #[serde(skip)]
    pub sections: Sections,
    /// What the loader warns of: flat names of section keys, deprecated.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./carebase-data"),
            database_url: None,
            database_url_file: None,
            migration_database_url: None,
            migration_database_url_file: None,
            master_key_file: None,
            master_key: None,
            allow_readable_master_key: false,
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
            trusted_proxies: Vec::new(),
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
            sections: Sections::default(),
            warnings: Vec::new(),
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
        Self::load_sections(file, env, section::all())
    }

    /// [`Config::load`] with the given sections instead of the contexts'.
    fn load_sections(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        sections: Vec<Section>,
    ) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        let env = layers::from_env(env, &Self::kernel_keys(), &sections, &mut warnings)?;
        let file_layer = match file {
            Some(path) => layers::from_file(path, &sections, &mut warnings)?,
            None => layers::Layer::default(),
        };
        let kernel = layers::merge(
            &file_layer.kernel,
            env.kernel,
            &[
                "cors_allowed_origins".to_owned(),
                "trusted_proxies".to_owned(),
            ],
        )
        .map_err(|e| file_error(file, e))?;
        let mut config: Config = kernel.try_deserialize().map_err(|e| file_error(file, e))?;
        config.resolve_secret_files()?;
        let list_keys: Vec<String> = sections
            .iter()
            .flat_map(|s| {
                s.list_keys()
                    .into_iter()
                    .map(move |k| format!("{}.{k}", s.name()))
            })
            .collect();
        let merged = layers::merge(&file_layer.sections, env.sections, &list_keys)
            .map_err(|e| file_error(file, e))?;
        let mut values = Vec::new();
        for section in &sections {
            let table = match merged.get_table(section.name()) {
                Ok(table) => Some(table),
                Err(config::ConfigError::NotFound(_)) => None,
                Err(e) => return Err(file_error(file, e)),
            };
            values.push(section.load(table)?);
        }
        config.sections = Sections::new(values);
        config.warnings = warnings;
        config.validate()?;
        Ok(config)
    }

    /// The settings of a context's section, typed.
    pub fn section<T: Settings>(&self) -> Cow<'_, T> {
        self.sections.get::<T>()
    }

    /// Changes a context's section (tests adjust settings this way).
    pub fn edit_section<T: Settings>(&mut self, change: impl FnOnce(&mut T)) {
        self.sections.edit(change);
    }

    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.database_url_file {
            self.database_url = Some(read_secret_file(
                "database_url",
                self.database_url.is_some(),
                path,
            )?);
        }
        if let Some(path) = &self.migration_database_url_file {
            self.migration_database_url = Some(read_secret_file(
                "migration_database_url",
                self.migration_database_url.is_some(),
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
        if let Err(why) = crate::http::TrustedProxies::parse(&self.trusted_proxies) {
            return invalid("trusted_proxies", &why);
        }
        if self.master_key.is_some() && self.master_key_file.is_some() {
            return invalid("master_key", "set master_key or master_key_file, not both");
        }
        if let Some(url) = &self.database_url {
            crate::db::DatabaseUrl::parse(url.expose()).map_err(ConfigError::Invalid)?;
        }
        if let Some(url) = &self.migration_database_url {
            let postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
            if !postgres(url.expose()) || !postgres(self.database_url().expose()) {
                return invalid(
                    "migration_database_url",
                    "is for PostgreSQL: set it and database_url to postgres:// URLs",
                );
            }
            crate::db::DatabaseUrl::parse(url.expose()).map_err(ConfigError::Invalid)?;
        }
        self.sections.validate()
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
        shown.migration_database_url = self
            .migration_database_url
            .as_ref()
            .map(|url| SecretString::new(mask_url(url.expose())));
        if shown.master_key.is_some() {
            shown.master_key = Some(SecretString::new("****".to_owned()));
        }
        if shown.files_s3_secret_access_key.is_some() {
            shown.files_s3_secret_access_key = Some(SecretString::new("****".to_owned()));
        }
        let mut text = toml_string(&shown);
        for section in self.sections.iter() {
            let table = toml::Table::from_iter([(
                section.name().to_owned(),
                toml::Value::Table(section.to_masked_toml()),
            )]);
            text.push('\n');
            text.push_str(&toml_string(&table));
        }
        text
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

    /// Every setting key: the kernel's, then each section's as
    /// `<section>.<key>`.
    pub fn keys() -> Vec<String> {
        let mut keys = Self::kernel_keys();
        for section in section::all() {
            keys.extend(
                section
                    .keys()
                    .into_iter()
                    .map(|k| format!("{}.{k}", section.name())),
            );
        }
        keys
    }

    fn kernel_keys() -> Vec<String> {
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

fn toml_string(value: &impl Serialize) -> String {
    toml::to_string(value).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
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
mod tests;
