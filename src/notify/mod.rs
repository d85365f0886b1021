//! The notifier: the one way carebase sends anything to a person (email
//! confirmations, invitations, password recovery, appointment reminders by
//! email or text message).
//!
//! A message is written to the `outbox` table in the caller's transaction
//! (a transactional outbox): if the change that wants the mail rolls back,
//! no mail goes out, and if it commits, the mail cannot be lost to a crash
//! between commit and send. With `smtp_url` set, a worker per server then
//! delivers pending email (see [`delivery`]), and with a Twilio account
//! (`twilio_account_sid`) pending text messages ([`sms`]); a message on a
//! channel with no transport is written as `held` and waits for an
//! administrator to read it through the API, so a fresh install works with
//! no mail server or SMS provider. Recipient, subject and
//! body are sealed under the installation data key: they carry single-use
//! tokens and may carry PHI.

pub mod command;
mod delivery;
pub mod migration;
pub mod outbox;
pub mod permissions;
pub mod routes;
pub mod settings;
pub mod sms;
mod smtp;

use std::fmt;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbErr};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Config;
use crate::crypto::data_keys::KeyringError;
use crate::crypto::{CryptoError, DataKey, Keyring};
use crate::db::{Database, new_id};
use crate::error::ApiError;
use crate::time::Timestamp;
use sea_orm_migration::MigrationTrait;
use settings::NotifySettings;
use utoipa_axum::router::OpenApiRouter;

use crate::app::{AppState, Extensions, Opening};
use crate::config::Section;
use crate::context::{ApiTag, Context, Job};
use crate::policy::Grant;

pub use delivery::MAX_ATTEMPTS;
pub use outbox::{
    Channel, MAX_PAGE, OutboxMessage, OutboxStatus, OutboxView, Reader, get, list, page,
};
pub use smtp::{Security, SmtpSettings, parse_mail_from};

use delivery::Transports;
use outbox::{Letter, NewMessage};
use sms::Texter;
use smtp::Mailer;

/// A message to send. `kind` names its purpose for operators (such as
/// `confirm_email`, `invitation`, `recovery`) and must not carry PHI.
#[derive(Clone)]
pub struct OutgoingMessage {
    pub channel: Channel,
    /// An email address, or a phone number for SMS.
    pub to: String,
    pub subject: String,
    pub body: String,
    pub kind: &'static str,
    /// The facility the message is about, whose administrators read it.
    pub facility_id: Option<Uuid>,
    /// Who caused it (an inviter): the one reader shown its code.
    pub requested_by: Option<Uuid>,
    /// Whether the body carries a single-use code for its recipient, which
    /// no one else reading the outbox over the API is shown.
    pub carries_code: bool,
}

impl OutgoingMessage {
    pub fn email(
        to: impl Into<String>,
        subject: impl Into<String>,
        body: impl Into<String>,
        kind: &'static str,
    ) -> Self {
        Self {
            channel: Channel::Email,
            to: to.into(),
            subject: subject.into(),
            body: body.into(),
            kind,
            facility_id: None,
            requested_by: None,
            carries_code: false,
        }
    }
}

impl OutgoingMessage {
    /// A text message: `to` a number in E.164 form; texts have no subject.
    pub fn sms(to: impl Into<String>, body: impl Into<String>, kind: &'static str) -> Self {
        Self {
            channel: Channel::Sms,
            subject: String::new(),
            ..Self::email(to, "", body, kind)
        }
    }
}

impl fmt::Debug for OutgoingMessage {
    /// Leaves out recipient, subject and body, which carry tokens and PHI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("channel", &self.channel)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Why a message could not be written or read. No variant carries the
/// recipient or the body.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("the recipient is not a valid {0}")]
    InvalidRecipient(&'static str),
    #[error("the subject must be a single line")]
    InvalidSubject,
    #[error("outbox message {id} cannot be opened: {source}")]
    Unreadable { id: Uuid, source: CryptoError },
    #[error("there is no outbox message {0} to list after")]
    UnknownCursor(Uuid),
}

impl From<NotifyError> for ApiError {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::Database(e) => e.into(),
            NotifyError::InvalidRecipient(what) => {
                ApiError::invalid("recipient", format!("not a valid {what}"))
            }
            NotifyError::UnknownCursor(_) => {
                ApiError::invalid("after", "no such message; start from the first page")
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

/// Sends messages through the outbox. Cheap to clone; one per server.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// The installation data key, unwrapped at start: [`Notifier::send`]
    /// runs inside a caller's transaction, where making the key (its own
    /// transaction) would wait on the caller's lock on SQLite.
    key: Arc<DataKey>,
    mailer: Option<Arc<Mailer>>,
    texter: Option<Arc<Texter>>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.mailer {
            Some(mailer) => write!(f, "Notifier(smtp {}", mailer.relay())?,
            None => f.write_str("Notifier(email held in the outbox")?,
        }
        match &self.inner.texter {
            Some(texter) => write!(f, ", sms {})", texter.endpoint()),
            None => f.write_str(", sms held in the outbox)"),
        }
    }
}

impl Notifier {
    /// Sets up the notifier for `config`: SMTP when `smtp_url` is set,
    /// otherwise every message is held in the outbox.
    pub async fn open(db: Database, keyring: &Keyring, config: &Config) -> anyhow::Result<Self> {
        let key = keyring.installation().await?;
        let notify = config.section::<NotifySettings>();
        let mailer = match &notify.smtp_url {
            Some(url) => {
                let settings = SmtpSettings::parse(url.expose()).map_err(anyhow::Error::msg)?;
                let from = notify
                    .mail_from
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("mail_from: required when smtp_url is set"))?;
                let from = parse_mail_from(from).map_err(anyhow::Error::msg)?;
                let mailer = Mailer::new(&settings, from).map_err(anyhow::Error::msg)?;
                tracing::info!(relay = mailer.relay(), "outgoing email goes through SMTP");
                Some(Arc::new(mailer))
            }
            None => {
                tracing::info!(
                    "no smtp_url is set: outgoing messages are held in the outbox (codes for their recipients are read with `carebase outbox --to`)"
                );
                None
            }
        };
        let texter = Texter::from_settings(&notify)
            .map_err(anyhow::Error::msg)?
            .map(Arc::new);
        match &texter {
            Some(texter) => {
                tracing::info!(
                    endpoint = texter.endpoint(),
                    "text messages go through Twilio"
                )
            }
            None => {
                tracing::info!("no Twilio account is set: text messages are held in the outbox")
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                key,
                mailer,
                texter,
            }),
        })
    }

    /// Whether email is delivered (SMTP is configured) rather than held.
    pub fn delivers_email(&self) -> bool {
        self.inner.mailer.is_some()
    }

    /// Whether messages on `channel` are delivered rather than held.
    pub fn delivers(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.inner.mailer.is_some(),
            Channel::Sms => self.inner.texter.is_some(),
        }
    }

    /// Writes `message` to the outbox within `txn` and returns its id. It is
    /// delivered after `txn` commits, and never if `txn` rolls back.
    pub async fn send(
        &self,
        txn: &impl ConnectionTrait,
        message: OutgoingMessage,
    ) -> Result<Uuid, NotifyError> {
        check(&message)?;
        let deliverable = self.delivers(message.channel);
        let new = NewMessage {
            id: new_id(),
            channel: message.channel,
            kind: message.kind,
            status: if deliverable {
                OutboxStatus::Pending
            } else {
                OutboxStatus::Held
            },
            now: Timestamp::now(),
            facility_id: message.facility_id,
            requested_by: message.requested_by,
            carries_code: message.carries_code,
        };
        let id = new.id;
        let letter = Letter {
            recipient: message.to,
            subject: message.subject,
            body: message.body,
        };
        outbox::insert(txn, &self.inner.key, new, &letter).await?;
        Ok(id)
    }

    /// Starts this server's delivery worker, which runs until `shutdown` is
    /// cancelled; `None` when neither SMTP nor Twilio is configured and
    /// nothing is to be delivered. [`crate::Server::run`] starts it and
    /// waits for it.
    pub fn spawn_delivery(&self, shutdown: CancellationToken) -> Option<JoinHandle<()>> {
        let transports = Transports {
            mailer: self.inner.mailer.clone(),
            texter: self.inner.texter.clone(),
        };
        if transports.mailer.is_none() && transports.texter.is_none() {
            return None;
        }
        Some(tokio::spawn(delivery::run(
            self.clone(),
            Arc::new(transports),
            shutdown,
        )))
    }

    fn db(&self) -> &Database {
        &self.inner.db
    }

    fn key(&self) -> &DataKey {
        &self.inner.key
    }
}

/// Refuses what could never be delivered, while the caller can still tell
/// its user.
fn check(message: &OutgoingMessage) -> Result<(), NotifyError> {
    match message.channel {
        Channel::Email if !smtp::is_address(&message.to) => {
            return Err(NotifyError::InvalidRecipient("email address"));
        }
        Channel::Sms if crate::types::Phone::parse_e164(&message.to).is_err() => {
            return Err(NotifyError::InvalidRecipient("phone number in E.164 form"));
        }
        _ => {}
    }
    if message.subject.contains(['\r', '\n']) {
        return Err(NotifyError::InvalidSubject);
    }
    Ok(())
}

/// The notifier, as the kernel sees it: the outbox, its routes and its delivery worker.
pub struct Notify;

#[async_trait::async_trait]
impl Context for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::routes()
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreateOutbox),
            Box::new(migration::RecordOutboxReach),
        ]
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    fn settings(&self) -> Option<Section> {
        Some(Section::of::<NotifySettings>())
    }

    async fn open(&self, opening: &Opening<'_>, extensions: &mut Extensions) -> anyhow::Result<()> {
        extensions
            .insert(Notifier::open(opening.db.clone(), opening.keyring, opening.config).await?);
        Ok(())
    }

    fn commands(&self) -> Vec<clap::Command> {
        command::commands()
    }

    async fn run_command(
        &self,
        _name: &str,
        args: &clap::ArgMatches,
        config: crate::config::Config,
    ) -> anyhow::Result<std::process::ExitCode> {
        command::run(args, config).await
    }

    async fn jobs(&self, state: &AppState, stop: &CancellationToken) -> Vec<Job> {
        // A message cut short is retried once its claim runs out.
        state
            .ext::<Notifier>()
            .spawn_delivery(stop.clone())
            .map(|handle| Job::new("message delivery", handle))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_that_cannot_be_sent_are_refused_up_front() {
        let ok = OutgoingMessage::email("a@example.org", "Hello", "Body", "test");
        assert!(check(&ok).is_ok());
        let bad_address = OutgoingMessage {
            to: "not-an-address".to_owned(),
            ..ok.clone()
        };
        assert!(matches!(
            check(&bad_address),
            Err(NotifyError::InvalidRecipient(_))
        ));
        let two_lines = OutgoingMessage {
            subject: "Hello\r\nBcc: x@example.org".to_owned(),
            ..ok.clone()
        };
        assert!(matches!(
            check(&two_lines),
            Err(NotifyError::InvalidSubject)
        ));
        let sms = OutgoingMessage {
            channel: Channel::Sms,
            to: " ".to_owned(),
            ..ok
        };
        assert!(matches!(check(&sms), Err(NotifyError::InvalidRecipient(_))));
    }

    #[test]
    fn debug_output_leaves_out_recipient_and_body() {
        let message = OutgoingMessage::email("a@example.org", "Hello", "token 123", "test");
        let shown = format!("{message:?}");
        assert!(
            !shown.contains("a@example.org") && !shown.contains("token"),
            "{shown}"
        );
    }
}
