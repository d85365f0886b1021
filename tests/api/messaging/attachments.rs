//! Attachments: files go with their message, sealed at rest, downloads are
//! audited, bad uploads leave nothing behind, pre-authorised uploads are
//! single-use, and the store may be an S3 bucket.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    PDF, Socket, TestApp, TestBackend, Ward, assert_no_plaintext, id, json_of, problem,
};

on_both_backends!(
    files_go_with_their_message_sealed_and_downloads_are_audited,
    bad_uploads_are_refused_and_leave_nothing_behind,
    pre_authorised_uploads_are_single_use_and_attach_to_a_message,
    #[cfg_attr(
        not(carebase_test_s3),
        ignore = "no S3-compatible server: set CAREBASE_TEST_S3_URL"
    )]
    attachments_can_live_in_an_s3_bucket,
);

pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR wound photo";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under the attachment store's directory.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.state.config.data_dir.join("files"), &mut out);
    out
}

async fn files_go_with_their_message_sealed_and_downloads_are_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let mut nurse_socket = Socket::open(app.addr, &w.nurse.token).await;
    nurse_socket.subscribe(&[w.conversation]).await;
    let message = a_file_goes_with_its_message(&app, &w, &mut nurse_socket).await;
    let download = a_participant_downloads_it_as_it_was(&app, &w, &message).await;
    // Sealed at rest: neither the store nor the database holds it in clear.
    let files = stored_files(&app);
    assert_eq!(files.len(), 2);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        assert_no_plaintext(&bytes, &["Quillfeather", "%PDF", "wound photo"]);
        assert!(!path.to_string_lossy().contains("discharge"));
    }
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["discharge.pdf", "Letter for bed 7"]);
    // A deleted message takes its file out of reach.
    let message_path = w.path(&format!("/messages/{}", id(&message)));
    assert_eq!(
        app.call(&w.physician.token, Method::DELETE, &message_path, None)
            .await
            .status(),
        204
    );
    problem(
        app.call(&w.nurse.token, Method::GET, &download, None).await,
        404,
        "not-found",
    )
    .await;
    app.stop().await;
}

/// A captioned file is a `mixed` message the socket hears of; without a
/// caption the message is a `file`.
async fn a_file_goes_with_its_message(app: &TestApp, w: &Ward, nurse_socket: &mut Socket) -> Value {
    let posted = app
        .post_file(
            &w.physician.token,
            &w.path("/attachments"),
            Some(("discharge.pdf", "application/pdf", PDF)),
            &[("body", "Letter for bed 7")],
        )
        .await;
    assert_eq!(posted.status(), 201);
    let message = json_of(posted).await;
    assert_eq!(message["message_type"], "mixed");
    assert_eq!(message["body"], "Letter for bed 7");
    let file = &message["attachments"][0];
    assert_eq!(file["file_name"], "discharge.pdf");
    assert_eq!(file["mime_type"], "application/pdf");
    assert_eq!(file["file_size"], PDF.len());
    assert_eq!(file["sha256"], sha256_hex(PDF));
    let event = nurse_socket.expect("message.created").await;
    assert_eq!(event["message"]["attachments"][0]["id"], file["id"]);
    let bare = json_of(
        app.post_file(
            &w.nurse.token,
            &w.path("/attachments"),
            Some(("wound.png", "image/png", PNG)),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(bare["message_type"], "file");
    assert!(bare["body"].is_null());
    let listed = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path("/messages"), None)
            .await,
    )
    .await;
    assert_eq!(listed["items"][1]["attachments"][0]["id"], file["id"]);
    message
}

/// A participant downloads it as it was; the browser is told not to sniff;
/// an outsider finds nothing; the download is audited. Answers its path.
async fn a_participant_downloads_it_as_it_was(app: &TestApp, w: &Ward, message: &Value) -> String {
    let file = &message["attachments"][0];
    let download = w.path(&format!("/attachments/{}", file["id"].as_str().unwrap()));
    let got = app.call(&w.nurse.token, Method::GET, &download, None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        got.headers()["content-disposition"],
        "attachment; filename=\"discharge.pdf\""
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    problem(
        app.call(&outsider.token, Method::GET, &download, None)
            .await,
        404,
        "not-found",
    )
    .await;
    let audited = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &format!(
                "/facilities/{}/audit-events?action=document_access&actor_id={}",
                w.facility, w.nurse.account_id
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(audited["items"].as_array().unwrap().len(), 1, "{audited}");
    download
}

async fn bad_uploads_are_refused_and_leave_nothing_behind(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.upload_max_bytes = 4096;
        c.http_body_limit_bytes = 4096;
    })
    .await;
    let w = app.ward().await;
    let path = w.path("/attachments");
    each_bad_form_names_its_field(&app, &w, &path).await;
    // Past the upload limit (the larger of the general body limit and the
    // file limit plus 64 KiB of form framing: 69,632 bytes here), the
    // server refuses the body itself. Small enough for the loopback buffer,
    // so the client finishes writing before the refusal arrives.
    let huge = vec![b'x'; 72 * 1024];
    let refused = problem(
        app.post_file(
            &w.physician.token,
            &path,
            Some(("huge.pdf", "application/pdf", &huge)),
            &[],
        )
        .await,
        413,
        "payload-too-large",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("69632 bytes"),
        "{refused}"
    );
    // Someone outside the conversation stores nothing either.
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    problem(
        app.post_file(
            &outsider.token,
            &path,
            Some(("ok.pdf", "application/pdf", PDF)),
            &[],
        )
        .await,
        404,
        "not-found",
    )
    .await;
    assert!(stored_files(&app).is_empty(), "no file was stored");
    let conversation = json_of(
        app.call(&w.physician.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["last_seq"], 0, "no message was written");
    app.stop().await;
}

async fn each_bad_form_names_its_field(app: &TestApp, w: &Ward, path: &str) {
    // A file over the limit is a 413: see `upload_limits`.
    for (file, fields, field) in [
        (
            Some(("empty.pdf", "application/pdf", &b""[..])),
            vec![],
            "file",
        ),
        (
            Some(("logo.svg", "image/svg+xml", &b"<svg/>"[..])),
            vec![],
            "content_type",
        ),
        (Some(("fake.png", "image/png", PDF)), vec![], "content_type"),
        (
            Some(("../../etc/passwd.pdf", "application/pdf", PDF)),
            vec![],
            "file_name",
        ),
        (None, vec![("body", "no file")], "file"),
        (
            Some(("ok.pdf", "application/pdf", PDF)),
            vec![("colour", "red")],
            "colour",
        ),
        (
            Some(("ok.pdf", "application/pdf", PDF)),
            vec![("is_sensitive", "maybe")],
            "is_sensitive",
        ),
    ] {
        let refused = problem(
            app.post_file(&w.physician.token, path, file, &fields).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{refused}");
    }
}

async fn pre_authorised_uploads_are_single_use_and_attach_to_a_message(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let stored = a_grant_takes_one_upload_of_its_file(&app, &w).await;
    // Only its uploader attaches it, once.
    let attachment = stored["attachment_id"].clone();
    let refused = problem(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"attachment_ids": [attachment]})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "attachment_ids[0]");
    let message = json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"attachment_ids": [attachment]})),
        )
        .await,
    )
    .await;
    assert_eq!(message["message_type"], "file");
    assert_eq!(message["attachments"][0]["file_name"], "referral.pdf");
    let again = problem(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "again", "attachment_ids": [attachment]})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(again["errors"][0]["field"], "attachment_ids[0]");
    let got = app
        .call(
            &w.nurse.token,
            Method::GET,
            &w.path(&format!("/attachments/{}", attachment.as_str().unwrap())),
            None,
        )
        .await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    app.stop().await;
}

/// A grant to upload one file takes that file, once: the wrong size or
/// type is refused and the grant stays open. Answers the upload.
async fn a_grant_takes_one_upload_of_its_file(app: &TestApp, w: &Ward) -> Value {
    let authorise = |body: Value| {
        let token = w.physician.token.clone();
        let path = w.path("/attachments/uploads");
        async move { app.call(&token, Method::POST, &path, Some(body)).await }
    };
    let refused = problem(
        authorise(
            json!({"file_name": "x.exe", "content_type": "application/x-msdownload", "size": 10}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "content_type");
    let refused = problem(
        authorise(json!({"file_name": "x.pdf", "content_type": "application/pdf", "size": 0}))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "size");
    let grant = json_of(authorise(json!({"file_name": "referral.pdf", "content_type": "application/pdf", "size": PDF.len()})).await).await;
    let upload = |bytes: Vec<u8>, mime: &'static str| {
        let url = app.url(grant["upload_url"].as_str().unwrap());
        let client = app.client.clone();
        async move {
            client
                .put(url)
                .header("content-type", mime)
                .body(bytes)
                .send()
                .await
                .unwrap()
        }
    };
    // The wrong size or type is refused and the grant stays open.
    let refused = problem(
        upload(PDF[..10].to_vec(), "application/pdf").await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "file");
    let refused = problem(upload(PDF.to_vec(), "image/png").await, 422, "validation").await;
    assert_eq!(refused["errors"][0]["field"], "content_type");
    let stored = json_of(upload(PDF.to_vec(), "application/pdf").await).await;
    assert_eq!(stored["sha256"], sha256_hex(PDF));
    problem(
        upload(PDF.to_vec(), "application/pdf").await,
        404,
        "not-found",
    )
    .await;
    let bogus = app
        .client
        .put(app.url("/uploads/not-a-token"))
        .body(PDF.to_vec())
        .send()
        .await
        .unwrap();
    problem(bogus, 404, "not-found").await;
    stored
}

/// With `files_s3_bucket`, attachments go to an S3-compatible server (CI
/// runs moto's); ignored when `CAREBASE_TEST_S3_URL` was not set as the
/// tests were built.
async fn attachments_can_live_in_an_s3_bucket(backend: TestBackend) {
    let url = std::env::var("CAREBASE_TEST_S3_URL")
        .expect("CAREBASE_TEST_S3_URL was set when the tests were built");
    carebase::install_tls_provider();
    let bucket = format!("carebase-api-{}", Uuid::now_v7().simple());
    let created = reqwest::Client::new()
        .put(format!("{url}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let app = TestApp::spawn_with(backend, |c| {
        c.files_s3_bucket = Some(bucket.clone());
        c.files_s3_endpoint = Some(url.clone());
        c.files_s3_allow_http = true;
        c.files_s3_access_key_id = Some("testing".to_owned());
        c.files_s3_secret_access_key =
            Some(carebase::config::SecretString::new("testing".to_owned()));
    })
    .await;
    let w = app.ward().await;
    let message = json_of(
        app.post_file(
            &w.physician.token,
            &w.path("/attachments"),
            Some(("discharge.pdf", "application/pdf", PDF)),
            &[],
        )
        .await,
    )
    .await;
    let file = message["attachments"][0]["id"].as_str().unwrap().to_owned();
    let got = app
        .call(
            &w.nurse.token,
            Method::GET,
            &w.path(&format!("/attachments/{file}")),
            None,
        )
        .await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    assert!(stored_files(&app).is_empty(), "nothing on local disk");
    // The bucket holds the sealed bytes only.
    use object_store::ObjectStoreExt;
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_endpoint(&url)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let path =
        object_store::path::Path::from(format!("facilities/{}/attachments/{file}", w.facility));
    let object = raw.get(&path).await.unwrap();
    assert_no_plaintext(&object.bytes().await.unwrap(), &["Quillfeather", "%PDF"]);
    app.stop().await;
}
