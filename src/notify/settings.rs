//! Notify's settings section, `[notify]`: the mail relay and the sender,
//! and the Twilio account text messages go out through.

use serde::{Deserialize, Serialize};

use super::smtp::{SmtpSettings, parse_mail_from};
use crate::config::{Invalid, Mask, Secret, SecretString, Settings};
use crate::types::Phone;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NotifySettings {
    /// The mail relay, `smtp://user:password@host:587` (STARTTLS) or
    /// `smtps://…` (TLS); empty holds every message in the outbox.
    pub smtp_url: Option<SecretString>,
    /// The sender of outgoing email, such as `Clinic <noreply@clinic.example>`.
    pub mail_from: Option<String>,
    /// The Twilio account text messages are sent from (`AC…`); empty
    /// holds every text message in the outbox.
    pub twilio_account_sid: Option<String>,
    /// The account's auth token (a secret; or `twilio_auth_token_file`).
    pub twilio_auth_token: Option<SecretString>,
    /// The number texts come from, in E.164 form (`+15550100000`)...
    pub sms_from: Option<String>,
    /// ...or the Messaging Service (`MG…`) that picks it.
    pub twilio_messaging_service_sid: Option<String>,
    /// Twilio's API root; another only to point at a stand-in (tests).
    pub twilio_base_url: Option<String>,
}

impl Settings for NotifySettings {
    const SECTION: &'static str = "notify";
    const SECRETS: &'static [Secret] = &[
        Secret {
            key: "smtp_url",
            mask: Mask::Url,
        },
        Secret {
            key: "twilio_auth_token",
            mask: Mask::Whole,
        },
    ];
    const FLAT_ALIASES: &'static [&'static str] = &["smtp_url", "mail_from"];

    /// SMTP needs a parsable relay URL and a sender; a sender alone is fine.
    fn validate(&self) -> Result<(), Invalid> {
        if let Some(url) = &self.smtp_url {
            SmtpSettings::parse(url.expose()).map_err(|e| Invalid::from_message("smtp_url", &e))?;
            if self.mail_from.is_none() {
                return Err(Invalid::new(
                    "mail_from",
                    "required when notify.smtp_url is set",
                ));
            }
        }
        if let Some(from) = &self.mail_from {
            parse_mail_from(from).map_err(|e| Invalid::from_message("mail_from", &e))?;
        }
        self.validate_sms()
    }
}

impl NotifySettings {
    /// A Twilio account needs its token and a sender; a sender is a number
    /// in E.164 form.
    fn validate_sms(&self) -> Result<(), Invalid> {
        if let Some(from) = &self.sms_from {
            Phone::parse_e164(from).map_err(|why| Invalid::new("sms_from", why))?;
        }
        match (&self.twilio_account_sid, &self.twilio_auth_token) {
            (None, None) => return Ok(()),
            (Some(_), None) => {
                return Err(Invalid::new(
                    "twilio_auth_token",
                    "required when notify.twilio_account_sid is set",
                ));
            }
            (None, Some(_)) => {
                return Err(Invalid::new(
                    "twilio_account_sid",
                    "required when notify.twilio_auth_token is set",
                ));
            }
            (Some(sid), Some(_)) => {
                let base = self
                    .twilio_base_url
                    .as_deref()
                    .unwrap_or(super::sms::DEFAULT_TWILIO_BASE_URL);
                super::sms::messages_url(base, sid)
                    .map_err(|e| Invalid::from_message("twilio_base_url", &e))?;
            }
        }
        if self.sms_from.is_none() && self.twilio_messaging_service_sid.is_none() {
            return Err(Invalid::new(
                "sms_from",
                "sms_from or twilio_messaging_service_sid is required when notify.twilio_account_sid is set",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The flat names (`CAREBASE_SMTP_URL`) are the section's aliases.
    use super::*;
    use crate::config::Config;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn smtp_settings_are_checked_at_start_and_name_their_key() {
        let from = ("CAREBASE_MAIL_FROM", "Clinic <noreply@clinic.example>");
        let config = Config::load(
            None,
            env(&[
                (
                    "CAREBASE_SMTP_URL",
                    "smtps://mailer:s3cret@mail.example.org",
                ),
                from,
            ]),
        )
        .unwrap();
        assert_eq!(
            config
                .section::<NotifySettings>()
                .smtp_url
                .as_ref()
                .map(SecretString::expose),
            Some("smtps://mailer:s3cret@mail.example.org")
        );

        let err = Config::load(
            None,
            env(&[
                (
                    "CAREBASE_SMTP_URL",
                    "smtp://mailer:s3cret@mail.example.org?tls=none",
                ),
                from,
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("notify.smtp_url"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = Config::load(
            None,
            env(&[("CAREBASE_SMTP_URL", "imap://mail.example.org"), from]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("smtp_url"), "{err}");

        let err = Config::load(
            None,
            env(&[("CAREBASE_SMTP_URL", "smtp://mail.example.org")]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("notify.mail_from"), "{err}");
        let err = Config::load(None, env(&[("CAREBASE_MAIL_FROM", "clinic")])).unwrap_err();
        assert!(err.to_string().starts_with("notify.mail_from"), "{err}");
    }

    #[test]
    fn smtp_password_is_masked_in_config_check_output() {
        let config = Config::load(
            None,
            env(&[
                (
                    "CAREBASE_SMTP_URL",
                    "smtp://mailer:s3cret@mail.example.org:587",
                ),
                ("CAREBASE_MAIL_FROM", "noreply@clinic.example"),
            ]),
        )
        .unwrap();
        let shown = config.to_masked_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("smtp_url = \"smtp://mailer:****@mail.example.org:587\""),
            "{shown}"
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn smtp_url_can_come_from_a_file_but_not_from_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("smtp-url");
        std::fs::write(&file, "smtps://mailer:s3cret@mail.example.org\n").unwrap();
        let from = ("CAREBASE_MAIL_FROM", "noreply@clinic.example");
        let config = Config::load(
            None,
            env(&[("CAREBASE_SMTP_URL_FILE", file.to_str().unwrap()), from]),
        )
        .unwrap();
        assert_eq!(
            config
                .section::<NotifySettings>()
                .smtp_url
                .as_ref()
                .map(SecretString::expose),
            Some("smtps://mailer:s3cret@mail.example.org")
        );
        let err = Config::load(
            None,
            env(&[
                ("CAREBASE_SMTP_URL_FILE", file.to_str().unwrap()),
                ("CAREBASE_SMTP_URL", "smtps://mail.example.org"),
                from,
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("notify.smtp_url_file"), "{err}");
    }

    #[test]
    fn the_section_names_set_the_relay() {
        let config = Config::load(
            None,
            env(&[
                (
                    "CAREBASE_NOTIFY__SMTP_URL",
                    "smtps://mailer:s3cret@mail.example.org",
                ),
                ("CAREBASE_NOTIFY__MAIL_FROM", "noreply@clinic.example"),
            ]),
        )
        .unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let shown = config.to_masked_toml();
        assert!(
            shown.contains("[notify]\nmail_from = \"noreply@clinic.example\"\nsmtp_url = \"smtps://mailer:****@mail.example.org\""),
            "{shown}"
        );
    }
}
