//! Requests to the test server: JSON, CSV and multipart bodies sent with a
//! bearer token, and the problem answer every error must be.

use reqwest::Method;
use serde_json::Value;

use super::TestApp;

/// A small PDF whose title is a marker no other data holds.
pub const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<< /Title (Quillfeather discharge letter) >>\nendobj\n";

impl TestApp {
    /// Posts a JSON body with no token, as someone not signed in does.
    pub async fn post(&self, path: &str, payload: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&payload)
            .send()
            .await
            .unwrap()
    }

    /// Sends a request with a bearer token and an optional JSON body.
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Sends `csv` as a `text/csv` body.
    pub async fn send_csv(
        &self,
        token: &str,
        method: Method,
        path: &str,
        csv: &str,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("content-type", "text/csv; charset=utf-8")
            .body(csv.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Posts `file` (name, type, bytes) with optional extra text fields.
    pub async fn post_file(
        &self,
        token: &str,
        path: &str,
        file: Option<(&str, &str, &[u8])>,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        if let Some((name, mime, bytes)) = file {
            let part = reqwest::multipart::Part::bytes(bytes.to_vec())
                .file_name(name.to_owned())
                .mime_str(mime)
                .unwrap();
            form = form.part("file", part);
        }
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }
}

/// Reads a problem response, checking the media type and the members every
/// problem must have.
pub async fn problem(
    response: reqwest::Response,
    status: u16,
    problem_type: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(
        body["type"],
        format!("urn:carebase:problem:{problem_type}"),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"].as_str(), request_id.as_deref(), "{body}");
    body
}
