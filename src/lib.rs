//! carebase: one healthcare platform backend with one access model, one
//! tamper-evident audit trail and patient data encrypted before it reaches
//! the database. See README.md for the architecture.
//!
//! The shared kernel lives at the top level (`config`, `db`, `http`,
//! `error`, `crypto`, `time`, `telemetry`, `notify`); each domain context of
//! ../shared/DOMAIN.md gets its own module as it is built.

pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod notify;
pub mod telemetry;
pub mod time;

pub use app::{AppState, Server};
