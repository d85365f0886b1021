//! Request ids, compression, CORS, graceful shutdown, and keep-alive
//! connections that outlive a request refused before its body was read.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend};

on_both_backends!(
    request_ids_are_made_or_echoed,
    responses_are_gzipped_when_asked,
    cors_allows_only_configured_origins,
    shutdown_finishes_in_flight_requests_and_refuses_new_ones,
    a_client_that_trickles_its_headers_is_disconnected,
    a_request_refused_before_its_body_is_read_keeps_the_connection,
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

/// On one HTTP/1.1 connection, a JSON body of some kilobytes sent to
/// requests the server refuses without reading it (no token, no route, not
/// JSON), each followed by an ordinary request: every answer arrives, and
/// the connection is never closed. The body follows its headers a moment
/// later, as it does from a client on a real network.
async fn a_request_refused_before_its_body_is_read_keeps_the_connection(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let mut connection = RawConnection::open(app.addr).await;
    let body = serde_json::json!({"notes": "n".repeat(6000)}).to_string();
    let leads = format!("/facilities/{}/leads", uuid::Uuid::now_v7());
    let refusals = [
        (leads.as_str(), "application/json", 401),
        ("/no/such/route", "application/json", 404),
        ("/auth/sign-in", "text/plain", 415),
    ];
    for round in 0..50 {
        for (path, content_type, status) in refusals {
            let refused = connection.post(path, content_type, &body).await;
            assert_eq!(refused.status, status, "round {round}, {path}: {refused:?}");
            assert_eq!(refused.header("connection"), None, "round {round}, {path}");
            let health = connection.get("/health").await;
            assert_eq!(
                health.status, 200,
                "round {round}, after {path}: {health:?}"
            );
        }
    }
    // A body declared over the limit is not read: the answer says the
    // connection ends with it.
    let head = "POST /auth/sign-in HTTP/1.1\r\nHost: carebase\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n";
    connection.write(head.as_bytes()).await;
    let refused = connection.response().await;
    assert_eq!(refused.status, 413, "{refused:?}");
    assert_eq!(refused.header("connection"), Some("close"), "{refused:?}");
    app.stop().await;
}

/// A response as read off the wire.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One hand-driven HTTP/1.1 connection.
struct RawConnection {
    stream: TcpStream,
    /// Bytes read past the last response.
    buffered: Vec<u8>,
}

impl RawConnection {
    async fn open(addr: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buffered: Vec::new(),
        }
    }

    async fn post(&mut self, path: &str, content_type: &str, body: &str) -> RawResponse {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: carebase\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.write(head.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.write(body.as_bytes()).await;
        self.response().await
    }

    async fn get(&mut self, path: &str) -> RawResponse {
        let head = format!("GET {path} HTTP/1.1\r\nHost: carebase\r\n\r\n");
        self.write(head.as_bytes()).await;
        self.response().await
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("the server keeps the connection open");
    }

    /// Reads until `buffered` holds `wanted` bytes; false at end of stream.
    async fn fill(&mut self, wanted: usize) -> bool {
        while self.buffered.len() < wanted {
            let mut chunk = [0u8; 8192];
            let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("a response within 10 s");
            match read {
                Ok(0) | Err(_) => return false,
                Ok(n) => self.buffered.extend_from_slice(&chunk[..n]),
            }
        }
        true
    }

    /// The next response: a status line, headers, and a body of the
    /// declared length.
    async fn response(&mut self) -> RawResponse {
        let end = loop {
            if let Some(at) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            let wanted = self.buffered.len() + 1;
            assert!(
                self.fill(wanted).await,
                "the connection closed before a response"
            );
        };
        let head = String::from_utf8(self.buffered.drain(..end + 4).collect()).unwrap();
        let mut lines = head.trim_end().split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| l.split_once(':').unwrap())
            .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
            .collect();
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let length: usize = response
            .header("content-length")
            .expect("responses here declare their length")
            .parse()
            .unwrap();
        assert!(
            self.fill(length).await,
            "the connection closed within a body"
        );
        response.body = self.buffered.drain(..length).collect();
        response
    }
}
