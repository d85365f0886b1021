//! Mail the server queued, as an administrator reads it from the outbox.

use serde_json::Value;

use super::TestApp;

impl TestApp {
    /// The newest message of `kind` to `to`, as the mail server would
    /// receive it: read from the outbox as the operator reads it, since no
    /// one over the API sees a code meant for someone else.
    pub async fn mail_to(&self, to: &str, kind: &str) -> Value {
        // Recovery and sign-up mail is written after the answer (so that
        // its timing says nothing): wait a little for it.
        for _ in 0..100 {
            if let Some(found) = self.newest_mail(to, kind).await {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no {kind} message to {to}")
    }

    /// The newest message of `kind` to `to` now, if there is one.
    pub async fn newest_mail(&self, to: &str, kind: &str) -> Option<Value> {
        let messages = carebase::notify::list(
            self.state.db.conn(),
            &self.state.keyring,
            None,
            carebase::notify::MAX_PAGE,
            None,
        )
        .await
        .unwrap();
        messages
            .into_iter()
            .find(|m| m.recipient == to && m.kind == kind)
            .map(|found| serde_json::to_value(found).unwrap())
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
