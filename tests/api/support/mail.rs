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

/// The authenticator's current code for a base32 TOTP secret.
pub fn totp_code(secret_base32: &str) -> String {
    totp_code_after(secret_base32, 0)
}

/// The code the authenticator will show `secs` from now, which a server
/// allowing one step of clock skew already accepts when `secs` is 30: a
/// second code without waiting for the next step.
pub fn totp_code_after(secret_base32: &str, secs: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + secs).to_string()
}
