//! A client generated from `docs/openapi.json` by a generator clients use
//! (openapi-python-client, from PyPI) works against the server: it signs
//! in, creates a lead, books an appointment and posts a message, and every
//! answer parses into its generated model (`tests/client/smoke.py`).
//! Ignored when the tests were built with no `openapi-python-client` on the
//! PATH, unless `CAREBASE_TEST_REQUIRE_CLIENT` demands it (CI installs the
//! generator and sets it).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use carebase::policy::Role;

use crate::on_both_backends;
use crate::support::{PASSWORD, TestApp, TestBackend};

const GENERATOR: &str = "openapi-python-client";
const REQUIRE_CLIENT_VAR: &str = "CAREBASE_TEST_REQUIRE_CLIENT";

on_both_backends!(
    #[cfg_attr(
        not(carebase_test_client),
        ignore = "no openapi-python-client on the PATH when the tests were built"
    )]
    a_generated_client_signs_in_creates_a_lead_books_and_posts,
);

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command`, within two minutes, and fails the test with its output
/// unless it succeeds.
async fn run(what: &str, command: &mut tokio::process::Command) -> Output {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        command.kill_on_drop(true).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{what} took over two minutes"))
    .unwrap_or_else(|e| {
        panic!("{what} could not start ({e}); {REQUIRE_CLIENT_VAR} demands {GENERATOR}")
    });
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The package generated from the committed document, in `dir`.
async fn generate(dir: &Path) -> PathBuf {
    let package = dir.join("carebase_client");
    run(
        GENERATOR,
        tokio::process::Command::new(GENERATOR)
            .arg("generate")
            .arg("--path")
            .arg(repository().join("docs/openapi.json"))
            .arg("--config")
            .arg(repository().join("tests/client/config.yml"))
            .args(["--meta", "none", "--output-path"])
            .arg(&package),
    )
    .await;
    package
}

async fn a_generated_client_signs_in_creates_a_lead_books_and_posts(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path()).await;
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Generated").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let output = run(
        "tests/client/smoke.py",
        tokio::process::Command::new("python3")
            .arg(repository().join("tests/client/smoke.py"))
            .env("PYTHONPATH", dir.path())
            .env("CAREBASE_URL", app.url(""))
            .env("CAREBASE_EMAIL", &admin.email)
            .env("CAREBASE_PASSWORD", PASSWORD)
            .env("CAREBASE_FACILITY_ID", facility.to_string()),
    )
    .await;
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("the generated client works"), "{said}");
    app.stop().await;
}
