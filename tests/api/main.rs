//! Integration tests: the real server, on real SQLite and PostgreSQL
//! databases, over real HTTP. See `helpers.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_daily;
mod fake_smtp;
mod helpers;

mod audit;
mod constraints;
mod docs;
mod engagement;
mod http_basics;
mod identity;
mod journey;
mod keys;
mod lead_import;
mod lead_stats;
mod leads;
mod master_key;
mod messaging;
mod migrations;
mod notify;
mod operations;
mod patients;
mod people;
mod problems;
mod role_matrix;
mod scheduling;
mod tasks;
