//! What the tests share: the real server on a real database
//! ([`TestApp`]), people signed in over the API, requests, records to act
//! on, and the role matrix's cases and world. Test files import from here
//! and from nowhere else in the test binary; a helper two files need lives
//! here, once.

mod app;
pub mod audit_chain;
mod conversations;
mod engagement;
pub mod fake_daily;
pub mod fake_smtp;
pub mod fake_twilio;
mod fixtures;
mod json;
mod lead_life;
pub mod lead_stats;
mod mail;
pub mod matrix;
mod people;
mod probes;
mod requests;
mod scheduling;
mod sealing;
mod socket;
mod world;

pub use app::{TestApp, TestBackend, TestDatabase, postgres_admin_url};
pub use conversations::{Clinic, Ward};
pub use engagement::{ids, of_type};
pub use fixtures::{always_open, hours_ahead, new_lead, new_patient, task_path};
pub use json::{id, json_of};
pub use lead_life::lead_path;
pub use mail::{code, totp_code, totp_code_after};
pub use people::{PASSWORD, Person, unique_email};
pub use requests::{PDF, problem};
pub use scheduling::{poll_every, text};
pub use sealing::assert_no_plaintext;
pub use socket::{REVOCATION_WAIT, Socket};

/// Generates, for each listed `async fn name(backend: TestBackend)`, a test
/// module `name` with one test per backend; attributes before a name go on
/// both. The PostgreSQL test is ignored (and says so) when the tests were
/// built with no PostgreSQL to run on (see build.rs): set
/// `CAREBASE_TEST_POSTGRES_URL`, or run one on 127.0.0.1:5432.
#[macro_export]
macro_rules! on_both_backends {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $(
            mod $name {
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::TestBackend::Sqlite).await;
                }

                $(#[$attr])*
                #[cfg_attr(
                    not(carebase_test_postgres),
                    ignore = "no PostgreSQL: set CAREBASE_TEST_POSTGRES_URL or run one on 127.0.0.1:5432"
                )]
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::TestBackend::Postgres).await;
                }
            }
        )*
    };
}
