//! carebase: one healthcare platform backend with one access model, one
//! tamper-evident audit trail and patient data encrypted before it reaches
//! the database. See README.md for the architecture.
//!
//! The shared kernel lives at the top level (`config`, `db`, `http`,
//! `error`, `crypto`, `time`, `telemetry`, `notify`); each domain context of
//! ../shared/DOMAIN.md gets its own module as it is built.

pub mod access;
pub mod app;
pub mod audit;
pub mod care;
pub mod cli;
pub mod config;
pub mod crm;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod identity;
pub mod messaging;
pub mod notify;
pub mod scheduling;
pub mod telemetry;
pub mod time;
pub mod transition;
pub mod validation;

pub use app::{AppState, Server};

/// Makes ring the process's rustls crypto provider: carebase uses ring for
/// every TLS connection (sqlx, lettre, reqwest), and reqwest built without
/// aws-lc needs a process provider for clients made without their own
/// configuration (the S3 client). Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
