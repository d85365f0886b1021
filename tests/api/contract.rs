//! The OpenAPI document says what the server does: it is whole (every
//! `$ref` names a schema it has, every response says what it is), every
//! `limit` parameter carries the bounds the server holds to, every
//! operation that takes a body documents the 413 and 415 it may answer,
//! every enum lists the wire values (`enums`), and a client generated from
//! it works (`client`).

mod client;
mod enums;

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, json_of, problem};

on_both_backends!(
    every_limit_is_documented_with_the_bounds_the_server_holds_to,
    every_operation_with_a_body_documents_413_and_415,
);

/// Every operation of the document: its path, its method and itself.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                found.push((path.clone(), method.clone(), operation.clone()));
            }
        }
    }
    found
}

/// The most a `limit` on `path` may ask for: a page of a list, of the
/// audit log, an export, or a search for open slots.
fn largest_limit(path: &str) -> u64 {
    if path.ends_with("/open-slots") {
        2000
    } else if path.ends_with("/export") {
        50_000
    } else if path.ends_with("/audit-events") {
        1000
    } else {
        200
    }
}

/// Every `$ref` in `value`, as the name of the schema it points to.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(target)) = object.get("$ref") {
                found.push(target.clone());
            }
            object.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

/// What a generator needs of the document: every `$ref` resolves, every
/// response has its (required) description, and operation ids are unique.
#[tokio::test]
async fn the_document_is_whole() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let document = json_of(app.get("/openapi.json").await).await;
    let mut found = Vec::new();
    references(&document, &mut found);
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let broken: Vec<&String> = found
        .iter()
        .filter(|target| {
            let name = target.trim_start_matches("#/components/schemas/");
            !target.starts_with("#/components/schemas/") || !schemas.contains_key(name)
        })
        .collect();
    assert!(broken.is_empty(), "unresolved: {broken:?}");
    let mut problems = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for (path, method, operation) in operations(&document) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        if !ids.insert(id.to_owned()) {
            problems.push(format!("{method} {path}: operationId {id} taken"));
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !response["description"].is_string() {
                problems.push(format!("{method} {path}: {status} has no description"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    app.stop().await;
}

async fn every_limit_is_documented_with_the_bounds_the_server_holds_to(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let document = json_of(app.get("/openapi.json").await).await;
    let mut seen = 0;
    let mut wrong = Vec::new();
    for (path, method, operation) in operations(&document) {
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for parameter in parameters.iter().filter(|p| p["name"] == "limit") {
            seen += 1;
            let schema = &parameter["schema"];
            let bounds = (schema["minimum"].as_f64(), schema["maximum"].as_f64());
            if parameter["in"] != "query"
                || bounds != (Some(1.0), Some(largest_limit(&path) as f64))
            {
                wrong.push(format!("{method} {path}: {parameter}"));
            }
        }
    }
    assert!(seen >= 25, "only {seen} `limit` parameters found");
    assert!(
        wrong.is_empty(),
        "`limit` without its bounds:\n{}",
        wrong.join("\n")
    );
    // The server holds to them: a list of the kernel's paging, one with
    // filters of its own, and the audit log.
    let facility = app.facility("Bounded").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    for path in [
        format!("/facilities/{facility}/memberships"),
        format!("/facilities/{facility}/leads"),
        format!("/facilities/{facility}/audit-events"),
        format!("/facilities/{facility}/audit-events/export"),
        format!("/facilities/{facility}/leads/export"),
    ] {
        let largest = largest_limit(&path);
        let at = |limit: String| {
            let (app, token) = (&app, &admin.token);
            let path = format!("{path}?limit={limit}");
            async move { app.call(token, Method::GET, &path, None).await }
        };
        assert_eq!(at(largest.to_string()).await.status(), 200, "{path}");
        for outside in [0, largest + 1] {
            let refused = problem(at(outside.to_string()).await, 422, "validation").await;
            assert_eq!(refused["errors"][0]["field"], "limit", "{path}: {refused}");
        }
    }
    app.stop().await;
}

async fn every_operation_with_a_body_documents_413_and_415(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| c.http_body_limit_bytes = 8192).await;
    let document = json_of(app.get("/openapi.json").await).await;
    let mut seen = 0;
    let mut undocumented = Vec::new();
    for (path, method, operation) in operations(&document) {
        if operation.get("requestBody").is_none() {
            continue;
        }
        seen += 1;
        for status in ["413", "415"] {
            let response = &operation["responses"][status];
            if response["content"]["application/problem+json"].is_null() {
                undocumented.push(format!("{method} {path}: {status}"));
            }
        }
    }
    assert!(seen >= 50, "only {seen} operations with a body found");
    assert!(
        undocumented.is_empty(),
        "undocumented:\n{}",
        undocumented.join("\n")
    );
    // And such an operation answers them.
    let facility = app.facility("Bodies").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let leads = app.url(&format!("/facilities/{facility}/leads"));
    let send = |content_type: &'static str, body: String| {
        app.client
            .post(&leads)
            .bearer_auth(&admin.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let lead = json!({"first_name": "Ada"}).to_string();
    problem(
        send("text/plain", lead).await.unwrap(),
        415,
        "unsupported-media-type",
    )
    .await;
    let huge = json!({"first_name": "A".repeat(32 * 1024)}).to_string();
    problem(
        send("application/json", huge).await.unwrap(),
        413,
        "payload-too-large",
    )
    .await;
    app.stop().await;
}
