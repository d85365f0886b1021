//! Integration tests: the real server, on real SQLite and PostgreSQL
//! databases, over real HTTP. See `support/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

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
mod problems;
mod role_matrix;
mod scheduling;
mod tasks;

/// Declares the test modules of contexts that contribute role-matrix cases
/// from their own file (`role_cases` and the `role_fixture` they act on),
/// and gathers those cases for the matrix. A new context adds its module
/// here, once.
macro_rules! context_tests {
    ($($module:ident),* $(,)?) => {
        $(mod $module;)*

        /// Every contributed case, with the record its context made for it
        /// in `records`' facility.
        pub async fn context_role_cases(
            app: &support::TestApp,
            records: &role_matrix::Records,
        ) -> Vec<(role_matrix::ContextCase, uuid::Uuid)> {
            let mut all = Vec::new();
            $(
                let record = $module::role_fixture(app, records).await;
                all.extend($module::role_cases().into_iter().map(|case| (case, record)));
            )*
            all
        }
    };
}

context_tests!(patient_history);
