//! Every error is `application/problem+json` with the right status and a
//! stable type; bad input names the field and why.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, problem};

on_both_backends!(
    unknown_route_is_a_404_problem,
    wrong_method_is_a_405_problem_with_allow,
    malformed_json_is_a_400_problem,
    wrong_types_are_a_422_naming_the_field,
    unknown_and_missing_fields_are_a_422_naming_the_field,
    a_body_that_is_not_json_is_a_415_problem,
    a_json_body_in_another_charset_than_utf8_is_a_415_problem,
    query_errors_name_the_parameter_and_the_allowed_values,
    oversize_bodies_are_a_413_problem,
    a_panicking_handler_is_a_500_problem_that_leaks_nothing,
    an_internal_error_is_a_500_problem_that_leaks_nothing,
    a_slow_handler_is_cut_off_with_a_timeout_problem,
    a_valid_body_passes_through,
);

async fn post_json(app: &TestApp, body: &str) -> reqwest::Response {
    app.client
        .post(app.url("/probe/echo"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

fn valid() -> serde_json::Value {
    json!({"name": "a", "count": 1, "nested": {"at": "2026-11-26T09:30:00Z"}})
}

async fn unknown_route_is_a_404_problem(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let body = problem(app.get("/no/such/route?x=1").await, 404, "not-found").await;
    assert_eq!(body["instance"], "/no/such/route");
    app.stop().await;
}

async fn wrong_method_is_a_405_problem_with_allow(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET"), "{allow}");
    let body = problem(response, 405, "method-not-allowed").await;
    assert!(body["detail"].as_str().unwrap().contains("DELETE"));
    app.stop().await;
}

async fn malformed_json_is_a_400_problem(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    for body in [
        r#"{"name": "a", "count": "#,
        "not json",
        r#"{"name": "a"} trailing"#,
        "",
    ] {
        let body = problem(post_json(&app, body).await, 400, "malformed-request").await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("not well-formed JSON"),
            "{body}"
        );
    }
    app.stop().await;
}

async fn wrong_types_are_a_422_naming_the_field(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let cases = [
        (
            json!({"name": 5, "count": 1, "nested": {"at": "2026-11-26T09:30:00Z"}}),
            "name",
            "expected a string",
        ),
        (
            json!({"name": "a", "count": -1, "nested": {"at": "2026-11-26T09:30:00Z"}}),
            "count",
            "expected u32",
        ),
        (
            json!({"name": "a", "count": 1, "nested": {"at": "yesterday"}}),
            "nested.at",
            "RFC 3339",
        ),
        (
            json!({"name": "a", "count": 1, "nested": []}),
            "nested",
            "expected struct",
        ),
    ];
    for (input, field, reason) in cases {
        let body = problem(post_json(&app, &input.to_string()).await, 422, "validation").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert!(
            body["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{body}"
        );
    }
    app.stop().await;
}

async fn unknown_and_missing_fields_are_a_422_naming_the_field(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let mut unknown = valid();
    unknown["nested"]["ssn"] = json!("123-45-6789");
    let body = problem(
        post_json(&app, &unknown.to_string()).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(
        body["errors"],
        json!([{"field": "nested.ssn", "reason": "is not a known field"}])
    );
    assert!(
        !body.to_string().contains("123-45-6789"),
        "the value is not echoed: {body}"
    );

    let mut missing = valid();
    missing.as_object_mut().unwrap().remove("count");
    let body = problem(
        post_json(&app, &missing.to_string()).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(
        body["errors"],
        json!([{"field": "count", "reason": "is required"}])
    );
    app.stop().await;
}

async fn a_body_that_is_not_json_is_a_415_problem(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let response = app
        .client
        .post(app.url("/probe/echo"))
        .header("content-type", "text/plain")
        .body(valid().to_string())
        .send()
        .await
        .unwrap();
    problem(response, 415, "unsupported-media-type").await;
    let response = app
        .client
        .post(app.url("/probe/echo"))
        .body(valid().to_string())
        .send()
        .await
        .unwrap();
    problem(response, 415, "unsupported-media-type").await;
    app.stop().await;
}

/// JSON is UTF-8 (RFC 8259): a body declared in another charset is
/// refused rather than read as if it were UTF-8.
async fn a_json_body_in_another_charset_than_utf8_is_a_415_problem(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let send = |content_type: &'static str| {
        app.client
            .post(app.url("/probe/echo"))
            .header("content-type", content_type)
            .body(valid().to_string())
            .send()
    };
    for refused in [
        "application/json; charset=latin1",
        "application/json; charset=iso-8859-1",
        "application/json;charset=UTF-16",
        "application/json; charset=windows-1252",
    ] {
        let body = problem(send(refused).await.unwrap(), 415, "unsupported-media-type").await;
        assert!(
            body["detail"].as_str().unwrap().contains("UTF-8"),
            "{refused}: {body}"
        );
    }
    for accepted in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json; charset=\"utf-8\"",
    ] {
        let response = send(accepted).await.unwrap();
        assert_eq!(response.status(), 200, "{accepted}");
    }
    // A real operation refuses it the same way.
    let sign_in = app
        .client
        .post(app.url("/auth/sign-in"))
        .header("content-type", "application/json; charset=iso-8859-1")
        .body(json!({"email": "nobody@clinic.example", "password": "x"}).to_string())
        .send()
        .await
        .unwrap();
    problem(sign_in, 415, "unsupported-media-type").await;
    app.stop().await;
}

/// A query parameter the server cannot take is a 422 naming it and why,
/// with the allowed values of an enumeration, as a body field would be.
async fn query_errors_name_the_parameter_and_the_allowed_values(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Queried").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let leads = format!("/facilities/{facility}/leads");
    let refused = |query: &'static str| {
        let path = format!("{leads}?{query}");
        let token = admin.token.clone();
        let app = &app;
        async move {
            let response = app.call(&token, Method::GET, &path, None).await;
            problem(response, 422, "validation").await
        }
    };
    let body = refused("status=maybe").await;
    assert_eq!(body["errors"][0]["field"], "status", "{body}");
    let reason = body["errors"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("must be one of new, contacted, "),
        "{body}"
    );
    assert!(
        !body.to_string().contains("maybe"),
        "the value is not echoed: {body}"
    );
    let body = refused("view=everything&limit=5").await;
    assert_eq!(body["errors"][0]["field"], "view", "{body}");
    assert_eq!(
        body["errors"][0]["reason"], "must be one of active",
        "{body}"
    );
    let body = refused("colour=red").await;
    assert_eq!(
        body["errors"],
        json!([{"field": "colour", "reason": "is not a known field"}])
    );
    for (query, field) in [
        ("limit=many", "limit"),
        ("min_score=high", "min_score"),
        ("created_from=yesterday", "created_from"),
        ("owner_id=not-a-uuid", "owner_id"),
    ] {
        let body = refused(query).await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
        assert_eq!(
            body["detail"].as_str().unwrap().split('`').nth(1),
            Some(field)
        );
    }
    app.stop().await;
}

async fn oversize_bodies_are_a_413_problem(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |c| c.http_body_limit_bytes = 1024).await;
    let big =
        json!({"name": "x".repeat(4096), "count": 1, "nested": {"at": "2026-11-26T09:30:00Z"}})
            .to_string();
    // Declared length over the limit: refused before the body is read.
    let body = problem(post_json(&app, &big).await, 413, "payload-too-large").await;
    assert!(
        body["detail"].as_str().unwrap().contains("1024 bytes"),
        "{body}"
    );
    // No declared length (chunked): refused once the limit is crossed.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(512)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let response = app
        .client
        .post(app.url("/probe/echo"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    let body = problem(response, 413, "payload-too-large").await;
    assert!(
        body["detail"].as_str().unwrap().contains("1024 bytes"),
        "{body}"
    );
    app.stop().await;
}

async fn a_panicking_handler_is_a_500_problem_that_leaks_nothing(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let body = problem(app.get("/probe/panic").await, 500, "internal").await;
    assert!(!body.to_string().contains("secret"), "{body}");
    // The server is still up.
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

async fn an_internal_error_is_a_500_problem_that_leaks_nothing(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let body = problem(app.get("/probe/fail").await, 500, "internal").await;
    let text = body.to_string();
    for secret in ["s3cret", "Jane", "postgres://", "connection"] {
        assert!(!text.contains(secret), "{text}");
    }
    app.stop().await;
}

async fn a_slow_handler_is_cut_off_with_a_timeout_problem(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |c| c.http_request_timeout_secs = 1).await;
    let body = problem(app.get("/probe/slow/3000").await, 503, "timeout").await;
    assert!(
        body["detail"].as_str().unwrap().contains("1 seconds"),
        "{body}"
    );
    app.stop().await;
}

async fn a_valid_body_passes_through(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let response = app
        .client
        .post(app.url("/probe/echo"))
        .header("content-type", "application/json; charset=utf-8")
        .body(valid().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, valid());
    app.stop().await;
}
