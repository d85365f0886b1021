//! Integration tests: the real server, on real SQLite and PostgreSQL
//! databases, over real HTTP. See `support/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod constraints;
mod contract;
mod docs;
mod http_basics;
mod keys;
mod master_key;
mod migrations;
mod notify_sms;
mod operations;
mod problems;
mod role_matrix;
mod runtime_role;
mod sealed_fields;
mod shape;
mod staff;

/// Declares the test modules of contexts that contribute role-matrix cases
/// from their own file (`role_cases`, and for a context that needs a record
/// of its own to act on, the fixture that makes it: `with role_fixture`),
/// and gathers those cases for the matrix. A new context adds its module
/// here, once.
macro_rules! context_tests {
    ($($module:ident $(with $fixture:ident)?),* $(,)?) => {
        $(mod $module;)*

        /// Every contributed case, in the order listed, with the record
        /// its context made for it in `records`' facility (nil for a
        /// context that makes none).
        pub async fn context_role_cases(
            app: &support::TestApp,
            records: &support::matrix::Records,
        ) -> Vec<(support::matrix::Case, uuid::Uuid)> {
            let mut all = Vec::new();
            $(
                #[allow(unused_variables)]
                let record = uuid::Uuid::nil();
                $(let record = $module::$fixture(app, records).await;)?
                all.extend($module::role_cases().into_iter().map(|case| (case, record)));
            )*
            all
        }

        /// Every contributed case, without the records to act on.
        pub fn role_cases() -> Vec<support::matrix::Case> {
            let mut all = Vec::new();
            $(all.extend($module::role_cases());)*
            all
        }
    };
}

context_tests!(
    access with role_fixture,
    identity,
    audit,
    patients,
    leads,
    lead_import,
    journey,
    tasks,
    engagement,
    lead_stats,
    scheduling,
    messaging,
    patient_history with role_fixture,
    notify,
);
