//! Email over SMTP with lettre: the `smtp_url` setting, and sending one
//! message.
//!
//! `smtp://` requires STARTTLS unless the URL says `?tls=none`, unlike
//! lettre's own URL parser, which sends in the clear by default: a relay
//! password and a recovery link must not cross the network readable. Plain
//! SMTP remains possible for a relay on a trusted network, but never with a
//! password.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use super::outbox::Letter;
use crate::config::{SecretString, mask_url};

/// How long one SMTP command may take before the attempt is abandoned.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (`smtps://`, port 465 by default).
    ImplicitTls,
    /// Plain connect, then STARTTLS, refusing to go on without it
    /// (`smtp://`, port 587 by default).
    StartTls,
    /// No encryption (`smtp://…?tls=none`, port 25 by default).
    None,
}

/// A parsed `smtp_url`.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    username: Option<String>,
    password: Option<SecretString>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    /// Parses `smtp[s]://[user:password@]host[:port][?tls=required|none]`.
    /// The error names the setting and never shows the password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let shown = mask_url(url);
        let invalid = |why: &str| format!("smtp_url `{shown}` is not valid: {why}");
        let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("it names no host"))?
            .to_owned();
        if !matches!(parsed.path(), "" | "/") || parsed.fragment().is_some() {
            return Err(invalid("it must not have a path or a fragment"));
        }
        let mut tls = None;
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "tls" => tls = Some(value.into_owned()),
                other => {
                    return Err(invalid(&format!(
                        "unknown parameter `{other}`; only `tls` is known"
                    )));
                }
            }
        }
        let security = match (parsed.scheme(), tls.as_deref()) {
            ("smtps", None) => Security::ImplicitTls,
            ("smtp", None | Some("required")) => Security::StartTls,
            ("smtp", Some("none")) => Security::None,
            ("smtps", Some(_)) => {
                return Err(invalid("smtps:// always uses TLS; drop the tls parameter"));
            }
            ("smtp", Some(other)) => {
                return Err(invalid(&format!(
                    "tls=`{other}` is not one of required, none"
                )));
            }
            (other, _) => {
                return Err(invalid(&format!(
                    "scheme `{other}` is not supported; use smtp:// (STARTTLS) or smtps:// (TLS)"
                )));
            }
        };
        let port = parsed.port().unwrap_or(match security {
            Security::ImplicitTls => 465,
            Security::StartTls => 587,
            Security::None => 25,
        });
        let username =
            Some(decode(parsed.username()).map_err(|e| invalid(&e))?).filter(|u| !u.is_empty());
        let password = match parsed.password() {
            Some(p) => Some(SecretString::new(decode(p).map_err(|e| invalid(&e))?)),
            None => None,
        };
        if username.is_some() != password.is_some() {
            return Err(invalid("give both a user and a password, or neither"));
        }
        if password.is_some() && security == Security::None {
            return Err(invalid(
                "a password is never sent without TLS; remove tls=none or the credentials",
            ));
        }
        Ok(Self {
            host,
            port,
            security,
            username,
            password,
        })
    }

    /// `host:port (security)`, for logs.
    pub fn describe(&self) -> String {
        let security = match self.security {
            Security::ImplicitTls => "TLS",
            Security::StartTls => "STARTTLS",
            Security::None => "no encryption",
        };
        format!("{}:{} ({security})", self.host, self.port)
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let tls = || {
            TlsParameters::new(self.host.clone())
                .map_err(|e| format!("smtp_url: cannot set up TLS for {}: {e}", self.host))
        };
        let tls = match self.security {
            Security::ImplicitTls => Tls::Wrapper(tls()?),
            Security::StartTls => Tls::Required(tls()?),
            Security::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT));
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(builder.build())
    }
}

fn decode(part: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| "the user or password is not UTF-8 once percent-decoded".to_owned())
}

/// Parses the `mail_from` setting: `Name <address>` or a bare address.
pub fn parse_mail_from(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>().map_err(|e| {
        format!(
            "mail_from: `{text}` is not a sender such as `Clinic <noreply@clinic.example>`: {e}"
        )
    })
}

/// Whether `to` is an email address lettre can send to.
pub(super) fn is_address(to: &str) -> bool {
    to.parse::<Address>().is_ok()
}

/// The configured relay and sender.
pub(super) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailer({})", self.relay)
    }
}

/// Why an attempt failed, in words that carry no PHI: the reply code or a
/// class of failure, never the server's text (which may quote the address).
#[derive(Debug)]
pub(super) struct SendFailure {
    /// The server refused for good (5xx): retrying will not help.
    pub permanent: bool,
    pub reason: String,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings, from: Mailbox) -> Result<Self, String> {
        Ok(Self {
            transport: settings.transport()?,
            from,
            relay: settings.describe(),
        })
    }

    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// Sends one message. Its Message-ID is derived from the outbox id, so
    /// a message retried after an unclear failure can be recognized as the
    /// same one downstream.
    pub async fn send(&self, id: Uuid, letter: &Letter) -> Result<(), SendFailure> {
        let message = self.compose(id, letter)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    fn compose(&self, id: Uuid, letter: &Letter) -> Result<Message, SendFailure> {
        let unsendable = |reason: &str| SendFailure {
            permanent: true,
            reason: reason.to_owned(),
        };
        let to: Address = letter
            .recipient
            .parse()
            .map_err(|_| unsendable("invalid recipient"))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(letter.subject.clone())
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .header(ContentType::TEXT_PLAIN)
            .body(letter.body.clone())
            .map_err(|_| unsendable("invalid message"))
    }
}

fn classify(error: &lettre::transport::smtp::Error) -> SendFailure {
    let reason = match error.status() {
        Some(code) => format!("smtp {code}"),
        None if error.is_timeout() => "timeout".to_owned(),
        None if error.is_tls() => "tls".to_owned(),
        None => "connection".to_owned(),
    };
    SendFailure {
        permanent: error.is_permanent(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_requires_starttls_unless_told_otherwise() {
        let s = SmtpSettings::parse("smtp://mailer:s3cret@mail.example.org").unwrap();
        assert_eq!((s.security, s.port), (Security::StartTls, 587));
        assert_eq!(s.describe(), "mail.example.org:587 (STARTTLS)");
        let s = SmtpSettings::parse("smtps://mailer:s3cret@mail.example.org").unwrap();
        assert_eq!((s.security, s.port), (Security::ImplicitTls, 465));
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((s.security, s.port), (Security::None, 2525));
        let s = SmtpSettings::parse("smtp://relay.internal?tls=required").unwrap();
        assert_eq!(s.security, Security::StartTls);
    }

    #[test]
    fn credentials_are_percent_decoded_and_never_shown() {
        let s = SmtpSettings::parse("smtp://me%40clinic.example:p%40ss%2Fword@mail.example.org")
            .unwrap();
        assert_eq!(s.username.as_deref(), Some("me@clinic.example"));
        assert_eq!(s.password.as_ref().map(|p| p.expose()), Some("p@ss/word"));
        assert!(!format!("{s:?}").contains("p@ss"), "{s:?}");
    }

    #[test]
    fn unusable_urls_are_refused_by_name_without_the_password() {
        for (url, why) in [
            ("http://mailer:s3cret@mail.example.org", "scheme `http`"),
            (
                "smtp://mailer:s3cret@mail.example.org?tls=none",
                "never sent without TLS",
            ),
            (
                "smtp://mailer:s3cret@mail.example.org?tls=maybe",
                "tls=`maybe`",
            ),
            (
                "smtps://mailer:s3cret@mail.example.org?tls=none",
                "always uses TLS",
            ),
            (
                "smtp://mailer:s3cret@mail.example.org?pool=1",
                "unknown parameter `pool`",
            ),
            ("smtp://mailer:s3cret@mail.example.org/x", "path"),
            (
                "smtp://mailer@mail.example.org",
                "both a user and a password",
            ),
            ("smtp://mailer:s3cret@:25", "smtp_url"),
            ("not a url", "smtp_url"),
        ] {
            let err = SmtpSettings::parse(url).unwrap_err();
            assert!(err.starts_with("smtp_url"), "{url}: {err}");
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains("s3cret"), "{url}: {err}");
        }
    }

    #[test]
    fn tls_transports_build_with_the_bundled_roots() {
        let from = parse_mail_from("noreply@clinic.example").unwrap();
        for url in [
            "smtp://mailer:s3cret@mail.example.org",
            "smtps://mailer:s3cret@mail.example.org",
        ] {
            let settings = SmtpSettings::parse(url).unwrap();
            assert!(Mailer::new(&settings, from.clone()).is_ok(), "{url}");
        }
    }

    #[test]
    fn mail_from_takes_a_name_and_an_address() {
        let from = parse_mail_from("Carebase Clinic <noreply@clinic.example>").unwrap();
        assert_eq!(from.email.to_string(), "noreply@clinic.example");
        assert!(parse_mail_from("noreply@clinic.example").is_ok());
        let err = parse_mail_from("not an address").unwrap_err();
        assert!(err.starts_with("mail_from"), "{err}");
    }

    #[test]
    fn composed_mail_is_plain_text_with_an_id_from_the_outbox() {
        let settings = SmtpSettings::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        let from = parse_mail_from("Clinic <noreply@clinic.example>").unwrap();
        let mailer = Mailer::new(&settings, from).unwrap();
        let id = Uuid::now_v7();
        let letter = Letter {
            recipient: "patient@example.org".to_owned(),
            subject: "Confirm your email".to_owned(),
            body: "Your code is 123456.".to_owned(),
        };
        let message = mailer.compose(id, &letter).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(
            text.contains(&format!("Message-ID: <{id}@clinic.example>")),
            "{text}"
        );
        assert!(text.contains("Your code is 123456."), "{text}");
        assert!(text.contains("text/plain"), "{text}");

        let bad = Letter {
            recipient: "nobody".to_owned(),
            ..letter
        };
        let failure = mailer.compose(id, &bad).unwrap_err();
        assert!(failure.permanent);
        assert_eq!(failure.reason, "invalid recipient");
    }
}
