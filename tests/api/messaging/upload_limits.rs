//! The upload limit: a file over it is a 413 however it is sent (in a
//! form with or without a declared length, or to a pre-authorised URL),
//! and a file under it is taken even past the framework's own 2 MiB
//! default for form and raw bodies.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{PDF, TestApp, TestBackend, Ward, json_of, problem};

on_both_backends!(
    an_attachment_over_the_limit_is_a_413,
    an_attachment_under_the_limit_is_taken_past_two_mebibytes,
);

/// A PDF of `size` bytes.
fn pdf_of(size: usize) -> Vec<u8> {
    let mut bytes = PDF.to_vec();
    bytes.resize(size, b' ');
    bytes
}

/// Posts `bytes` as a form's `file` in chunks, with no declared length.
async fn post_streamed(app: &TestApp, token: &str, path: &str, bytes: &[u8]) -> reqwest::Response {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let part = reqwest::multipart::Part::stream(stream)
        .file_name("streamed.pdf")
        .mime_str("application/pdf")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Authorises an upload of `size` bytes and sends `bytes` to its URL.
async fn upload(app: &TestApp, w: &Ward, size: usize, bytes: Vec<u8>) -> reqwest::Response {
    let grant = app
        .call(
            &w.physician.token,
            Method::POST,
            &w.path("/attachments/uploads"),
            Some(json!({"file_name": "scan.pdf", "content_type": "application/pdf", "size": size})),
        )
        .await;
    assert_eq!(grant.status(), 201);
    let grant = json_of(grant).await;
    app.client
        .put(app.url(grant["upload_url"].as_str().unwrap()))
        .header("content-type", "application/pdf")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn an_attachment_over_the_limit_is_a_413(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.upload_max_bytes = 4096;
        c.http_body_limit_bytes = 4096;
    })
    .await;
    let w = app.ward().await;
    let path = w.path("/attachments");
    // A form under the body limit holding a file over the file limit: the
    // file is named, with the limit.
    let posted = app
        .post_file(
            &w.physician.token,
            &path,
            Some(("big.pdf", "application/pdf", &pdf_of(5000))),
            &[],
        )
        .await;
    let refused = problem(posted, 413, "payload-too-large").await;
    assert_eq!(refused["errors"][0]["field"], "file", "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("4 KiB"),
        "{refused}"
    );
    // A form with no declared length, cut off at the body limit (the file
    // limit plus 64 KiB of framing).
    let streamed = post_streamed(&app, &w.physician.token, &path, &pdf_of(72 * 1024)).await;
    let refused = problem(streamed, 413, "payload-too-large").await;
    assert!(
        refused["detail"].as_str().unwrap().contains("69632 bytes"),
        "{refused}"
    );
    // A pre-authorised upload sent more bytes than the limit.
    let refused = problem(
        upload(&app, &w, 100, pdf_of(5000)).await,
        413,
        "payload-too-large",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "file", "{refused}");
    let conversation = json_of(
        app.call(&w.physician.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["last_seq"], 0, "no message was written");
    app.stop().await;
}

/// Under the default 10 MiB limit, a 3 MiB file goes with its message and
/// to a pre-authorised URL alike.
async fn an_attachment_under_the_limit_is_taken_past_two_mebibytes(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let scan = pdf_of(3 * 1024 * 1024);
    let posted = app
        .post_file(
            &w.physician.token,
            &w.path("/attachments"),
            Some(("scan.pdf", "application/pdf", &scan)),
            &[],
        )
        .await;
    assert_eq!(posted.status(), 201);
    let message: Value = posted.json().await.unwrap();
    assert_eq!(message["attachments"][0]["file_size"], scan.len());
    let uploaded = upload(&app, &w, scan.len(), scan.clone()).await;
    assert_eq!(uploaded.status(), 200);
    assert_eq!(json_of(uploaded).await["size"], scan.len());
    app.stop().await;
}
