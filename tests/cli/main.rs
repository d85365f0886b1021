//! The `carebase` binary as an operator uses it, one module per command.
//! See `support`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod admin;
mod audit;
mod config;
mod demo;
mod logs;
mod schedule;
mod server;
