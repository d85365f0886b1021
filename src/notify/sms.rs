//! Text messages through Twilio's Programmable Messaging REST API
//! (<https://www.twilio.com/docs/messaging/api/message-resource>): one
//! `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form
//! encoded `To`, `Body` and `From` (or `MessagingServiceSid`), with HTTP
//! Basic auth `AccountSid:AuthToken`. Twilio answers `201` with the
//! message resource (`sid`, `status`), or an error object (`code`,
//! `message`). A failure is recorded as the HTTP status and Twilio's
//! numeric code only, never its message, which may quote the number.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use super::outbox::Letter;
use super::settings::NotifySettings;
use super::smtp::SendFailure;
use crate::config::SecretString;
use crate::types::Phone;

/// Twilio's API root when `twilio_base_url` is not set.
pub const DEFAULT_TWILIO_BASE_URL: &str = "https://api.twilio.com";
/// The API version the Messages resource lives under.
const API_VERSION: &str = "2010-04-01";
/// Most of a send's budget is for Twilio's answer, not for connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Who a text message is from: a number of the account, or a Messaging
/// Service that picks one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    Number(String),
    MessagingService(String),
}

/// The Twilio account and sender carebase texts from.
pub struct Texter {
    client: reqwest::Client,
    messages_url: Url,
    account_sid: String,
    auth_token: SecretString,
    sender: Sender,
}

impl fmt::Debug for Texter {
    /// Leaves out the auth token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Texter")
            .field("messages_url", &self.messages_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Twilio's answer to a created message; only what is checked.
#[derive(Deserialize)]
struct Created {
    sid: String,
    status: String,
}

/// Twilio's error object.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
}

impl Texter {
    /// The texter `settings` describe, or `None` when no Twilio account is
    /// configured (text messages are then held in the outbox).
    pub fn from_settings(settings: &NotifySettings) -> Result<Option<Self>, String> {
        let (Some(account_sid), Some(auth_token)) =
            (&settings.twilio_account_sid, &settings.twilio_auth_token)
        else {
            return Ok(None);
        };
        let sender = match (&settings.sms_from, &settings.twilio_messaging_service_sid) {
            (_, Some(service)) => Sender::MessagingService(service.clone()),
            (Some(from), None) => Sender::Number(from.clone()),
            (None, None) => {
                return Err(
                    "sms_from or twilio_messaging_service_sid is required with a Twilio account"
                        .to_owned(),
                );
            }
        };
        let base = settings
            .twilio_base_url
            .as_deref()
            .unwrap_or(DEFAULT_TWILIO_BASE_URL);
        let messages_url = messages_url(base, account_sid)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // Twilio never redirects; following one could carry the token on.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| "the HTTP client cannot be built".to_owned())?;
        Ok(Some(Self {
            client,
            messages_url,
            account_sid: account_sid.clone(),
            auth_token: auth_token.clone(),
            sender,
        }))
    }

    /// Where messages are posted, for the start-up log (no credentials).
    pub fn endpoint(&self) -> &str {
        self.messages_url.as_str()
    }

    /// Sends one text: `letter`'s body to its recipient (the subject is
    /// for email only).
    pub(super) async fn send(&self, letter: &Letter) -> Result<(), SendFailure> {
        let to = Phone::parse_e164(&letter.recipient).map_err(|_| SendFailure {
            permanent: true,
            reason: "invalid recipient".to_owned(),
        })?;
        let response = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(self.form(to.as_str(), &letter.body))
            .send()
            .await
            .map_err(|e| SendFailure {
                permanent: false,
                reason: if e.is_timeout() {
                    "timeout"
                } else {
                    "unreachable"
                }
                .to_owned(),
            })?;
        read_answer(response).await
    }

    fn form(&self, to: &str, body: &str) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", to);
        match &self.sender {
            Sender::Number(from) => form.append_pair("From", from),
            Sender::MessagingService(sid) => form.append_pair("MessagingServiceSid", sid),
        };
        form.append_pair("Body", body);
        form.finish()
    }
}

/// A created message is sent (Twilio queues it); Twilio's own failures and
/// throttling are retried; any other refusal is for good.
async fn read_answer(response: reqwest::Response) -> Result<(), SendFailure> {
    let status = response.status();
    if status.is_success() {
        let created: Created = response.json().await.map_err(|_| SendFailure {
            permanent: false,
            reason: "twilio answer unreadable".to_owned(),
        })?;
        if created.sid.is_empty() || created.status == "failed" {
            return Err(SendFailure {
                permanent: true,
                reason: "twilio failed".to_owned(),
            });
        }
        return Ok(());
    }
    let code = response
        .json::<TwilioError>()
        .await
        .ok()
        .and_then(|e| e.code);
    Err(classify(status, code))
}

fn classify(status: StatusCode, code: Option<i64>) -> SendFailure {
    let reason = match code {
        Some(code) => format!("twilio {} {code}", status.as_u16()),
        None => format!("twilio {}", status.as_u16()),
    };
    SendFailure {
        permanent: !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS),
        reason,
    }
}

/// `{base}/2010-04-01/Accounts/{sid}/Messages.json`, checked: the token
/// goes in the clear only to this machine.
pub fn messages_url(base: &str, account_sid: &str) -> Result<Url, String> {
    let url = Url::parse(base).map_err(|_| "twilio_base_url: not an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("twilio_base_url: must be an http or https URL".to_owned());
    }
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("twilio_base_url: must carry no query, user name or password".to_owned());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if url.scheme() != "https" && !loopback {
        return Err("twilio_base_url: must use https unless it points at this machine".to_owned());
    }
    let mut url = url;
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty()
            .extend([API_VERSION, "Accounts", account_sid, "Messages.json"]);
    }
    Ok(url)
}

/// rustls on ring with Mozilla's roots bundled (as for SMTP and Daily): no
/// aws-lc build, and a container without CA certificates still verifies.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| "TLS cannot be set up".to_owned())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_url_names_the_account_and_refuses_plain_http_elsewhere() {
        let url = messages_url("https://api.twilio.com", "AC123").unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
        assert!(messages_url("http://127.0.0.1:9/", "AC1").is_ok());
        assert!(messages_url("http://sms.example.org", "AC1").is_err());
        assert!(messages_url("https://u:p@api.twilio.com", "AC1").is_err());
    }

    #[test]
    fn throttling_and_server_errors_are_retried_other_refusals_are_not() {
        let retried = classify(StatusCode::TOO_MANY_REQUESTS, Some(20429));
        assert!(!retried.permanent);
        assert_eq!(retried.reason, "twilio 429 20429");
        assert!(!classify(StatusCode::SERVICE_UNAVAILABLE, None).permanent);
        let refused = classify(StatusCode::BAD_REQUEST, Some(21211));
        assert!(refused.permanent);
        assert_eq!(refused.reason, "twilio 400 21211");
    }
}
