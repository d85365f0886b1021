//! Request ids, compression, CORS and graceful shutdown.

use std::time::Duration;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend};

on_both_backends!(
    request_ids_are_made_or_echoed,
    responses_are_gzipped_when_asked,
    cors_allows_only_configured_origins,
    shutdown_finishes_in_flight_requests_and_refuses_new_ones,
    a_client_that_trickles_its_headers_is_disconnected,
);

async fn request_ids_are_made_or_echoed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/health").await;
    let made = response.headers()["x-request-id"].to_str().unwrap();
    let id = uuid::Uuid::parse_str(made).unwrap();
    assert_eq!(id.get_version_num(), 7);

    let response = app
        .client
        .get(app.url("/no-such-thing"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "client-chosen-42");

    // An id that would pollute logs is replaced, not echoed.
    for unfit in ["has spaces in it", &"x".repeat(200)] {
        let response = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", unfit)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, unfit);
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    }
    app.stop().await;
}

async fn responses_are_gzipped_when_asked(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    // reqwest (with its gzip feature) sends Accept-Encoding and decodes; ask
    // through a client that does not decode, to see the encoding itself.
    let raw = reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .build()
        .unwrap();
    let response = raw
        .get(app.url("/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let plain = raw.get(app.url("/openapi.json")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(
        compressed.len() < plain.len() / 2,
        "{} vs {}",
        compressed.len(),
        plain.len()
    );
    app.stop().await;
}

async fn cors_allows_only_configured_origins(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.cors_allowed_origins = vec!["https://app.clinic.example".to_owned()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/health"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let allowed = preflight("https://app.clinic.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.clinic.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    app.stop().await;

    // No origins configured: no CORS headers at all.
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.clinic.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    app.stop().await;
}

async fn shutdown_finishes_in_flight_requests_and_refuses_new_ones(backend: TestBackend) {
    let app = TestApp::spawn_with_probes(backend, |_| {}).await;
    let in_flight = tokio::spawn(app.client.get(app.url("/probe/slow/1500")).send());
    // Let the request reach the handler, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        fresh.get(app.url("/health")).send().await.is_err(),
        "a new connection is refused once shutdown has begun"
    );
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    app.server.await.unwrap().unwrap();
}

async fn a_client_that_trickles_its_headers_is_disconnected(backend: TestBackend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(backend, |c| c.http_header_timeout_secs = 1).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buffer = Vec::new();
    // The server closes the connection (perhaps after a 408) instead of waiting.
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "the connection was still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    app.stop().await;
}
