//! A stand-in for Twilio's Messages API
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`), speaking its
//! protocol: HTTP Basic auth with the account SID and auth token, a form
//! encoded `To`, `Body` and `From` or `MessagingServiceSid`, a `201` with
//! the message resource (`sid`, `status`) or an error object (`code`,
//! `message`, `more_info`, `status`). It records what it accepted and can
//! be told to answer with an error.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
pub const AUTH_TOKEN: &str = "twilio-test-token-5d1c";
pub const FROM: &str = "+15550100000";

/// One text Twilio accepted.
#[derive(Clone, Debug)]
pub struct Text {
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
}

#[derive(Clone, Default)]
pub struct FakeTwilio {
    accepted: Arc<Mutex<Vec<Text>>>,
    /// The next answers, as (HTTP status, Twilio error code), before any
    /// text is accepted.
    errors: Arc<Mutex<Vec<(u16, u32)>>>,
    /// Every request, answered or refused.
    requests: Arc<Mutex<usize>>,
}

impl FakeTwilio {
    /// Serves on a free port; returns the API root to configure.
    pub async fn start(&self) -> String {
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(create))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// Answers the next request with `status` and Twilio error `code`.
    pub fn fail_next(&self, status: u16, code: u32) {
        self.errors.lock().unwrap().push((status, code));
    }

    pub fn accepted(&self) -> Vec<Text> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    /// Waits until `count` texts were accepted.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Text> {
        let deadline = Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {count} texts"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn error(status: u16, code: u32, message: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })),
    )
}

fn authorized(headers: &HeaderMap, account: &str) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    account == ACCOUNT_SID
        && headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Basic {expected}"))
}

async fn create(
    State(fake): State<FakeTwilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    *fake.requests.lock().unwrap() += 1;
    if !authorized(&headers, &account) {
        return error(401, 20003, "Authenticate");
    }
    let form_encoded = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return error(400, 20001, "Unsupported media type");
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let Some(to) = form.get("To").filter(|t| t.starts_with('+')) else {
        return error(400, 21211, "The 'To' number is not a valid phone number.");
    };
    let (from, service) = (form.get("From"), form.get("MessagingServiceSid"));
    if from.is_none() && service.is_none() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    let Some(text) = form.get("Body").filter(|b| !b.is_empty()) else {
        return error(400, 21602, "Message body is required.");
    };
    if let Some((status, code)) = fake.errors.lock().unwrap().pop() {
        return error(status, code, "refused as the test asked");
    }
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    fake.accepted.lock().unwrap().push(Text {
        to: to.clone(),
        from: from.cloned(),
        messaging_service_sid: service.cloned(),
        body: text.clone(),
    });
    (
        StatusCode::CREATED,
        Json(json!({
            "sid": sid,
            "account_sid": account,
            "to": to,
            "from": from,
            "messaging_service_sid": service,
            "body": text,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "error_code": null,
            "error_message": null,
            "uri": format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json"),
        })),
    )
}
