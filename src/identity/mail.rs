//! The messages identity sends, through the one notifier. Each carries a
//! single-use token; the client application turns it into a link or asks
//! the person to paste it.

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::notify::{Channel, OutgoingMessage};

/// One kind of message, with its wording.
#[derive(Clone, Copy, Debug)]
pub enum Mail {
    ConfirmEmail,
    Invitation,
    Recovery,
    EmailChange,
    /// To the old address once the email changed, with the undo code.
    EmailChanged,
    PhoneChange,
    /// Someone tried to sign up with an address that already has an account.
    AlreadyRegistered,
}

impl Mail {
    fn kind(self) -> &'static str {
        match self {
            Mail::ConfirmEmail => "confirm_email",
            Mail::Invitation => "invitation",
            Mail::Recovery => "recovery",
            Mail::EmailChange => "email_change",
            Mail::EmailChanged => "email_changed",
            Mail::PhoneChange => "phone_change",
            Mail::AlreadyRegistered => "already_registered",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Mail::ConfirmEmail => "Confirm your email address",
            Mail::Invitation => "You are invited to carebase",
            Mail::Recovery => "Reset your password",
            Mail::EmailChange => "Confirm your new email address",
            Mail::EmailChanged => "Your carebase sign-in email was changed",
            Mail::PhoneChange => "Confirm your phone number",
            Mail::AlreadyRegistered => "Someone tried to sign up with your address",
        }
    }

    fn body(self, token: Option<&str>) -> String {
        let token = token.unwrap_or_default();
        match self {
            Mail::ConfirmEmail => format!(
                "Confirm your email address with this code (valid 48 hours):\n\n{token}\n"
            ),
            Mail::Invitation => format!(
                "You have been invited to a facility on carebase. Accept the invitation with this code (valid 7 days): if you are new to carebase you choose a password as you accept, otherwise you give your password. You can also accept it under your invitations once signed in.\n\n{token}\n"
            ),
            Mail::Recovery => format!(
                "Reset your password with this code (valid 1 hour). If you did not ask for it, ignore this message.\n\n{token}\n"
            ),
            Mail::EmailChange => format!(
                "Confirm this new address for your carebase account with this code (valid 1 hour):\n\n{token}\n"
            ),
            Mail::EmailChanged => format!(
                "The sign-in email of your carebase account was changed to another address. If it was not you, undo it with this code (valid 7 days): it brings this address back and signs everyone out. Then reset your password.\n\n{token}\n"
            ),
            Mail::PhoneChange => format!("Your carebase confirmation code: {token}"),
            Mail::AlreadyRegistered => "Someone asked to create a carebase account with this address, which already has one. If it was you, sign in or reset your password.\n".to_owned(),
        }
    }

    fn channel(self) -> Channel {
        match self {
            Mail::PhoneChange => Channel::Sms,
            _ => Channel::Email,
        }
    }
}

/// Queues `mail` to `to` in the caller's transaction: it goes out only if
/// the change that caused it commits. Its code, if any, is shown to no one
/// reading the outbox over the API.
pub async fn send(
    state: &AppState,
    txn: &impl ConnectionTrait,
    mail: Mail,
    to: &str,
    token: Option<&str>,
) -> Result<(), ApiError> {
    send_about(state, txn, mail, to, token, About::default()).await
}

/// Which facility a message is about and who caused it: that facility's
/// administrators may read it, and the one who caused it sees its code.
#[derive(Clone, Copy, Debug, Default)]
pub struct About {
    pub facility_id: Option<Uuid>,
    pub requested_by: Option<Uuid>,
}

/// As [`send`], for a message about a facility or caused by someone (an
/// invitation).
pub async fn send_about(
    state: &AppState,
    txn: &impl ConnectionTrait,
    mail: Mail,
    to: &str,
    token: Option<&str>,
    about: About,
) -> Result<(), ApiError> {
    state
        .ext::<crate::notify::Notifier>()
        .send(
            txn,
            OutgoingMessage {
                channel: mail.channel(),
                to: to.to_owned(),
                subject: mail.subject().to_owned(),
                body: mail.body(token),
                kind: mail.kind(),
                facility_id: about.facility_id,
                requested_by: about.requested_by,
                carries_code: token.is_some(),
            },
        )
        .await?;
    Ok(())
}
