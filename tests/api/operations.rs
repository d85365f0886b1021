//! `/health`, `/ready`, `/openapi.json`.

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, problem};

on_both_backends!(
    health_answers_without_the_database,
    ready_reports_the_database_and_its_schema,
    ready_is_503_while_migrations_are_pending,
    ready_is_503_when_the_database_is_gone,
    openapi_document_is_3_1_and_lists_every_route,
);

async fn health_answers_without_the_database(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.state.db.close().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

async fn ready_reports_the_database_and_its_schema(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = match backend {
        TestBackend::Sqlite => "sqlite",
        TestBackend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
    let migrations = carebase::db::migrate::status(&app.state.db).await.unwrap();
    assert_eq!(body["migrations_applied"], migrations.len());
    app.stop().await;
}

async fn ready_is_503_while_migrations_are_pending(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    carebase::db::migrate::down(&app.state.db, 1).await.unwrap();
    let body = problem(app.get("/ready").await, 503, "unavailable").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("1 database migration"),
        "{body}"
    );
    carebase::db::migrate::up(&app.state.db).await.unwrap();
    assert_eq!(app.get("/ready").await.status(), 200);
    app.stop().await;
}

async fn ready_is_503_when_the_database_is_gone(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    app.state.db.close().await;
    let body = problem(app.get("/ready").await, 503, "unavailable").await;
    assert_eq!(body["detail"], "the database is not reachable");
}

async fn openapi_document_is_3_1_and_lists_every_route(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in ["/health", "/ready", "/openapi.json"] {
        assert!(document["paths"][path]["get"].is_object(), "{path} missing");
    }
    assert!(document["components"]["schemas"]["Problem"].is_object());
    app.stop().await;
}

/// The committed document is the generated one: a change to the API shows
/// in review as a change to `docs/openapi.json`.
#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = carebase::http::api_docs::document(carebase::contexts::routes())
        .to_pretty_json()
        .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "docs/openapi.json is out of date; regenerate it with `cargo run -- openapi > docs/openapi.json`"
    );
}
