//! carebase: one healthcare platform backend with one access model, one
//! tamper-evident audit trail and patient data encrypted before it reaches
//! the database. See README.md for the architecture.
//!
//! The shared kernel lives at the top level (`config`, `db`, `http`,
//! `error`, `crypto`, `storage`, `time`, `telemetry`, `policy`,
//! `context`); each domain context of ../shared/DOMAIN.md is a folder,
//! declared to the kernel through [`context::Context`] and listed once,
//! below. See docs/architecture.md.

pub mod app;
#[cfg(test)]
mod architecture;
pub mod audit;
pub mod cli;
pub mod config;
pub mod context;
pub mod contexts;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod policy;
pub mod storage;
#[cfg(test)]
mod structure_rules;
pub mod telemetry;
pub mod time;
pub mod transition;
pub mod types;
pub mod validation;

pub use app::{AppState, Server};

// The domain contexts, each a folder (see docs/architecture.md). Declared
// here as plain modules so that rustfmt and every other tool see them.
pub mod access;
pub mod care;
pub mod crm;
pub mod identity;
pub mod messaging;
pub mod notify;
pub mod patient_history;
pub mod pipelines;
pub mod scheduling;

/// The composition root: the one list of the domain contexts this server is
/// made of, in dependency order (a context after the ones it uses, so their
/// jobs start and their reactions run in that order). Adding a context is
/// its folder, its `pub mod` above and its line here.
const CONTEXTS: &[&dyn context::Context] = &[
    &audit::Audit,
    &notify::Notify,
    &identity::IdentityContext,
    &access::Access,
    &pipelines::Pipelines,
    &care::Care,
    &crm::Crm,
    &scheduling::Scheduling,
    &messaging::Messaging,
    &patient_history::PatientHistory,
];

/// Makes ring the process's rustls crypto provider: carebase uses ring for
/// every TLS connection (sqlx, lettre, reqwest), and reqwest built without
/// aws-lc needs a process provider for clients made without their own
/// configuration (the S3 client). Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
