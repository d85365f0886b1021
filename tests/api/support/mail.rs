//! Mail the server queued, as an administrator reads it from the outbox.

use reqwest::Method;
use serde_json::Value;

use super::{Person, TestApp, json_of};

impl TestApp {
    /// The newest message in the outbox to `to` of `kind`, as an administrator reads it.
    pub async fn outbox(&self, admin: &Person, to: &str, kind: &str) -> Value {
        let page = json_of(
            self.call(&admin.token, Method::GET, "/admin/outbox?limit=200", None)
                .await,
        )
        .await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["recipient"] == to && m["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} message to {to} in {page}"))
    }
}

/// The single-use code at the end of a message body.
pub fn code(message: &Value) -> String {
    let text = message["body"].as_str().unwrap();
    text.split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches('.')
        .to_owned()
}
