//! Integration tests: the real server, on real SQLite and PostgreSQL
//! databases, over real HTTP. See `helpers.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_smtp;
mod helpers;

mod constraints;
mod docs;
mod http_basics;
mod keys;
mod master_key;
mod migrations;
mod notify;
mod operations;
mod problems;
