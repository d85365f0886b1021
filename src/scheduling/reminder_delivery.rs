//! How a reminder reaches its person: the channel it names (`email` or
//! `sms`), else the patient's contact preference, else email; and the
//! address or number on the patient's record (or the lead's) for it. A
//! channel asked for is kept to (no number: the reminder is skipped with
//! a note); a preference gives way to the other channel when its address
//! is missing, since a reminder by the other channel beats none.

use std::fmt;
use std::str::FromStr;

use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Deserializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use uuid::Uuid;

use super::reminders::Unsendable;
use crate::care::contact::PatientContact;
use crate::care::patients::ContactPreference;
use crate::crypto::DataKey;
use crate::notify::{Channel, OutgoingMessage};
use crate::time::Timestamp;
use crate::transition::string_enum;
use crate::types::Phone;

string_enum! {
    /// The channel a reminder goes by.
    ReminderChannel {
        Email => "email",
        Sms => "sms",
    }
}

impl ReminderChannel {
    pub fn channel(self) -> Channel {
        match self {
            Self::Email => Channel::Email,
            Self::Sms => Channel::Sms,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Email => Self::Sms,
            Self::Sms => Self::Email,
        }
    }
}

impl From<ContactPreference> for ReminderChannel {
    fn from(preference: ContactPreference) -> Self {
        match preference {
            ContactPreference::Email => Self::Email,
            ContactPreference::Sms => Self::Sms,
        }
    }
}

/// What the reminder job knows of whom to write to.
#[derive(Default)]
struct Addresses {
    email: Option<String>,
    phone: Option<String>,
    preference: Option<ContactPreference>,
}

impl Addresses {
    fn of(&self, channel: ReminderChannel) -> Option<&String> {
        match channel {
            ReminderChannel::Email => self.email.as_ref(),
            ReminderChannel::Sms => self.phone.as_ref(),
        }
    }
}

/// The patient's addresses and preference, with the lead's filling in what
/// the patient's record lacks.
async fn addresses_of(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    patient_id: Option<Uuid>,
    lead_id: Option<Uuid>,
) -> Result<Result<Addresses, Unsendable>, DbErr> {
    let mut found = Addresses::default();
    if let Some(patient_id) = patient_id {
        match crate::care::contact::contact_of_patient(txn, key, patient_id).await? {
            Ok(Some(PatientContact {
                email,
                phone,
                preference,
            })) => {
                found = Addresses {
                    email,
                    phone,
                    preference,
                }
            }
            Ok(None) => {}
            Err(_) => return Ok(Err("the patient record cannot be opened")),
        }
    }
    if let Some(lead_id) = lead_id {
        let Ok(lead) = crate::crm::contact::contact_of_lead(txn, key, lead_id).await? else {
            return Ok(Err("the lead cannot be opened"));
        };
        found.email = found.email.or(lead.email);
        found.phone = found.phone.or(lead.phone);
    }
    Ok(Ok(found))
}

/// Where a reminder goes: the channel and the address on it.
pub(super) struct Recipient {
    pub channel: ReminderChannel,
    pub to: String,
}

/// Decides the channel and the address (see the module comment). A phone
/// number is sent in E.164 form; one without a country code cannot be.
pub(super) async fn recipient(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    patient_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    asked: Option<ReminderChannel>,
) -> Result<Result<Recipient, Unsendable>, DbErr> {
    let found = match addresses_of(txn, key, patient_id, lead_id).await? {
        Ok(found) => found,
        Err(why) => return Ok(Err(why)),
    };
    let channel = match (asked, found.preference) {
        (Some(asked), _) => asked,
        (None, Some(preferred)) => {
            let preferred = ReminderChannel::from(preferred);
            if found.of(preferred).is_some() {
                preferred
            } else {
                preferred.other()
            }
        }
        (None, None) => ReminderChannel::Email,
    };
    let Some(to) = found.of(channel) else {
        return Ok(Err(match channel {
            ReminderChannel::Email => "no email address for the patient or lead",
            ReminderChannel::Sms => "no phone number for the patient or lead",
        }));
    };
    let to = match channel {
        ReminderChannel::Email => to.clone(),
        ReminderChannel::Sms => match e164(to) {
            Some(number) => number,
            None => return Ok(Err("the phone number has no country code (E.164)")),
        },
    };
    Ok(Ok(Recipient { channel, to }))
}

/// `raw` as E.164 (`+` and digits), if it names its country.
fn e164(raw: &str) -> Option<String> {
    let normalized = Phone::parse(raw).ok()?.normalized();
    Phone::parse_e164(&normalized)
        .ok()
        .map(|p| p.as_str().to_owned())
}

impl Recipient {
    /// The reminder as a message on this recipient's channel: a text says
    /// what the email's subject and body say, shorter.
    pub fn message(self, subject: String, body: String, sms: String) -> OutgoingMessage {
        const KIND: &str = "appointment_reminder";
        match self.channel {
            ReminderChannel::Email => OutgoingMessage::email(self.to, subject, body, KIND),
            ReminderChannel::Sms => OutgoingMessage::sms(self.to, sms, KIND),
        }
    }
}

/// An instant in a query, or `now` (as the docs write `due_before=now`),
/// read as the time the request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstantOrNow {
    Now,
    At(Timestamp),
}

impl InstantOrNow {
    pub fn at(self, now: Timestamp) -> Timestamp {
        match self {
            Self::Now => now,
            Self::At(at) => at,
        }
    }
}

impl FromStr for InstantOrNow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("now") {
            return Ok(Self::Now);
        }
        Timestamp::from_str(s)
            .map(Self::At)
            .map_err(|e| format!("{e}, or `now`"))
    }
}

impl fmt::Display for InstantOrNow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Now => f.write_str("now"),
            Self::At(at) => write!(f, "{at}"),
        }
    }
}

impl<'de> Deserialize<'de> for InstantOrNow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for InstantOrNow {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An instant in RFC 3339 form with an offset, or `now` for the time of the request.",
            ))
            .examples(["now", "2027-03-09T17:00:00Z"])
            .into()
    }
}

impl utoipa::ToSchema for InstantOrNow {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_or_an_instant_is_read() {
        assert_eq!("now".parse::<InstantOrNow>(), Ok(InstantOrNow::Now));
        let at: InstantOrNow = "2027-03-09T17:00:00Z".parse().unwrap();
        let t: Timestamp = "2027-03-09T17:00:00Z".parse().unwrap();
        assert_eq!(at.at(Timestamp::now()), t);
        assert!(
            "tomorrow"
                .parse::<InstantOrNow>()
                .unwrap_err()
                .contains("now")
        );
    }

    #[test]
    fn only_numbers_with_a_country_code_are_texted() {
        assert_eq!(e164("+1 (555) 010-4242").as_deref(), Some("+15550104242"));
        assert_eq!(e164("555 010 4242"), None);
    }
}
