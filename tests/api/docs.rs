//! The interactive API reference at `/docs` works with no internet access.

use std::process::Command;
use std::time::Duration;

use crate::support::{TestApp, TestBackend};

const REQUIRE_CHROMIUM_VAR: &str = "CAREBASE_TEST_REQUIRE_CHROMIUM";

/// Every script and style the page loads comes from this server.
#[tokio::test]
async fn docs_page_loads_only_local_assets() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.get("/docs").await; // redirects to /docs/
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css"))
        .collect();
    assert!(assets.len() >= 3, "{assets:?}");
    for asset in assets {
        assert!(!asset.contains("://"), "external asset {asset}");
        let url = app.url(&format!("/docs/{}", asset.trim_start_matches("./")));
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{url}");
    }
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    app.stop().await;
}

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

/// Headless Chromium, with every host but this one unresolvable, renders the
/// operations of the document.
/// Ignored when the tests were built with no Chromium on the PATH (CI
/// installs it and sets `CAREBASE_TEST_REQUIRE_CHROMIUM`).
#[cfg_attr(
    not(carebase_test_chromium),
    ignore = "no Chromium on the PATH when the tests were built"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_renders_offline_in_headless_chromium() {
    let Some(browser) = chromium() else {
        panic!(
            "no Chromium found ({REQUIRE_CHROMIUM_VAR} demands one, or it was on the PATH when the tests were built)"
        );
    };
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let profile = tempfile::tempdir().unwrap();
    let url = app.url("/docs/");
    let dom = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes")
    .unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(html.contains("swagger-ui"), "the page did not load: {html}");
    for rendered in ["opblock", "/health", "/ready", "/openapi.json", "carebase"] {
        assert!(
            html.contains(rendered),
            "`{rendered}` is not on the rendered page; stderr: {}",
            String::from_utf8_lossy(&dom.stderr)
        );
    }
    app.stop().await;
}
