//! Decides, when the tests are built, which of the test suite's outside
//! services this machine has, so that a test that cannot run is reported
//! as ignored instead of passing without running:
//!
//! - `carebase_test_postgres`: `CAREBASE_TEST_POSTGRES_URL` names a server,
//!   or, when it is unset, a PostgreSQL answers on 127.0.0.1:5432 (then its
//!   `postgres` database is used as `postgres`, the way CI runs it). Set the
//!   variable to `off` to leave PostgreSQL out.
//! - `carebase_test_s3`: `CAREBASE_TEST_S3_URL` names an S3-compatible server.
//! - `carebase_test_chromium`: a Chromium is on the PATH, or
//!   `CAREBASE_TEST_REQUIRE_CHROMIUM` demands one.
//! - `carebase_test_client`: `openapi-python-client` is on the PATH, or
//!   `CAREBASE_TEST_REQUIRE_CLIENT` demands it.
//!
//! The server itself reads none of this.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() {
    for cfg in [
        "carebase_test_postgres",
        "carebase_test_s3",
        "carebase_test_chromium",
        "carebase_test_client",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    for var in [
        "CAREBASE_TEST_POSTGRES_URL",
        "CAREBASE_TEST_S3_URL",
        "CAREBASE_TEST_REQUIRE_CHROMIUM",
        "CAREBASE_TEST_REQUIRE_CLIENT",
        "PATH",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=build.rs");

    let postgres = match std::env::var("CAREBASE_TEST_POSTGRES_URL") {
        Ok(url) if url == "off" => None,
        Ok(url) if !url.is_empty() => Some(url),
        _ => local_postgres_answers().then(|| LOCAL_POSTGRES.to_owned()),
    };
    if let Some(url) = postgres {
        println!("cargo::rustc-cfg=carebase_test_postgres");
        println!("cargo::rustc-env=CAREBASE_TEST_POSTGRES_BUILT_WITH={url}");
    }
    if std::env::var("CAREBASE_TEST_S3_URL").is_ok_and(|u| !u.is_empty()) {
        println!("cargo::rustc-cfg=carebase_test_s3");
    }
    if std::env::var_os("CAREBASE_TEST_REQUIRE_CHROMIUM").is_some()
        || on_path(&["chromium", "chromium-browser", "google-chrome"])
    {
        println!("cargo::rustc-cfg=carebase_test_chromium");
    }
    if std::env::var_os("CAREBASE_TEST_REQUIRE_CLIENT").is_some()
        || on_path(&["openapi-python-client"])
    {
        println!("cargo::rustc-cfg=carebase_test_client");
    }
}

fn local_postgres_answers() -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], 5432));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// One of `names` is a file in a folder of the PATH.
fn on_path(names: &[&str]) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| names.iter().any(|name| dir.join(name).is_file()))
}
