//! Scheduling's settings section, `[scheduling]`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::config::{Invalid, Settings};

/// Scheduling's settings, as the configuration was loaded.
pub fn of(state: &AppState) -> Cow<'_, SchedulingSettings> {
    state.config.section()
}

/// Reminders and the waitlist.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SchedulingSettings {
    /// When appointment reminders go out: minutes before the start.
    pub reminder_offsets_minutes: Vec<u32>,
    /// How often each server looks for due reminders and expired waitlist
    /// offers, in seconds.
    pub reminder_poll_secs: u64,
    /// How long a slot offered to the waitlist is held, in minutes.
    pub waitlist_hold_minutes: u32,
}

impl Default for SchedulingSettings {
    fn default() -> Self {
        Self {
            reminder_offsets_minutes: vec![48 * 60, 24 * 60, 2 * 60],
            reminder_poll_secs: 30,
            waitlist_hold_minutes: 60,
        }
    }
}

impl Settings for SchedulingSettings {
    const SECTION: &'static str = "scheduling";
    const FLAT_ALIASES: &'static [&'static str] = &[
        "reminder_offsets_minutes",
        "reminder_poll_secs",
        "waitlist_hold_minutes",
    ];

    fn validate(&self) -> Result<(), Invalid> {
        if self.reminder_offsets_minutes.len() > 10
            || self
                .reminder_offsets_minutes
                .iter()
                .any(|m| *m == 0 || *m > 60 * 24 * 60)
        {
            return Err(Invalid::new(
                "reminder_offsets_minutes",
                "at most 10 offsets, each from 1 minute to 60 days",
            ));
        }
        if self.reminder_poll_secs == 0 {
            return Err(Invalid::new("reminder_poll_secs", "must be at least 1"));
        }
        if !(1..=7 * 24 * 60).contains(&self.waitlist_hold_minutes) {
            return Err(Invalid::new(
                "waitlist_hold_minutes",
                "must be from 1 minute to 7 days",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_table_and_the_section_variables_set_scheduling() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("carebase.toml");
        std::fs::write(&file, "[scheduling]\nreminder_poll_secs = 12\n").unwrap();
        let config = Config::load(Some(&file), env(&[])).unwrap();
        assert_eq!(
            config.section::<SchedulingSettings>().reminder_poll_secs,
            12
        );
        let config = Config::load(
            Some(&file),
            env(&[
                ("CAREBASE_SCHEDULING__REMINDER_POLL_SECS", "30"),
                ("CAREBASE_SCHEDULING__REMINDER_OFFSETS_MINUTES", "60,15"),
            ]),
        )
        .unwrap();
        let settings = config.section::<SchedulingSettings>();
        assert_eq!(settings.reminder_poll_secs, 30);
        assert_eq!(settings.reminder_offsets_minutes, vec![60, 15]);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn the_flat_names_are_aliases_that_warn() {
        let config = Config::load(None, env(&[("CAREBASE_REMINDER_POLL_SECS", "30")])).unwrap();
        assert_eq!(
            config.section::<SchedulingSettings>().reminder_poll_secs,
            30
        );
        assert_eq!(
            config.warnings,
            vec![
                "CAREBASE_REMINDER_POLL_SECS is deprecated: \
                 rename it CAREBASE_SCHEDULING__REMINDER_POLL_SECS"
            ]
        );
        let config = Config::load(
            None,
            env(&[
                ("CAREBASE_REMINDER_POLL_SECS", "30"),
                ("CAREBASE_SCHEDULING__REMINDER_POLL_SECS", "40"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.section::<SchedulingSettings>().reminder_poll_secs,
            40
        );
        assert!(
            config.warnings[0].contains("ignored"),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn a_bad_value_names_the_full_key() {
        for name in [
            "CAREBASE_SCHEDULING__REMINDER_POLL_SECS",
            "CAREBASE_REMINDER_POLL_SECS",
        ] {
            let err = Config::load(None, env(&[(name, "0")])).unwrap_err();
            assert_eq!(
                err.to_string(),
                "scheduling.reminder_poll_secs: must be at least 1"
            );
        }
        let err = Config::load(
            None,
            env(&[("CAREBASE_SCHEDULING__WAITLIST_HOLD_MINUTES", "0")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("scheduling.waitlist_hold_minutes: "),
            "{err}"
        );
    }
}
