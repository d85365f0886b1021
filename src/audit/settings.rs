//! The audit context's settings section, `[audit]`.

use serde::{Deserialize, Serialize};

use crate::config::{Invalid, Settings};

/// How often the chain head is checkpointed outside the database.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AuditSettings {
    /// Seconds between two signed checkpoints of the chain head (written to
    /// the log and the object store) while the chain grows; one more is
    /// written when the server stops.
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 300,
        }
    }
}

impl Settings for AuditSettings {
    const SECTION: &'static str = "audit";

    fn validate(&self) -> Result<(), Invalid> {
        if !(1..=24 * 60 * 60).contains(&self.checkpoint_interval_secs) {
            return Err(Invalid::new(
                "checkpoint_interval_secs",
                "must be from 1 second to 1 day",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_interval_comes_from_the_section_and_is_checked() {
        let config = Config::load(None, Vec::new()).unwrap();
        assert_eq!(
            config.section::<AuditSettings>().checkpoint_interval_secs,
            300
        );
        let env = |v: &str| {
            vec![(
                "CAREBASE_AUDIT__CHECKPOINT_INTERVAL_SECS".to_owned(),
                v.to_owned(),
            )]
        };
        let config = Config::load(None, env("60")).unwrap();
        assert_eq!(
            config.section::<AuditSettings>().checkpoint_interval_secs,
            60
        );
        let err = Config::load(None, env("0")).unwrap_err().to_string();
        assert!(err.contains("audit.checkpoint_interval_secs"), "{err}");
    }
}
