//! A facility's own scheduling rules, kept in its settings object under
//! `scheduling` (`PATCH /facilities/{id}` with `{"settings": {"scheduling":
//! {…}}}`), checked whenever a facility's settings are written:
//!
//! - `status_flow`: `full` (default) or `simple` (see `status_flow`);
//! - `check_in_opens_minutes`: how long before its start an appointment can
//!   be checked in (or, in the simple flow, completed straight away);
//!   60 by default, 0 to 10080 (a week);
//! - `no_show_after_minutes`: how long after its start it can be marked a
//!   no-show; 0 (from the start) by default, 0 to 1440.
//!
//! A move made too early is a 409 `too-early` problem whose `reason` names
//! the rule (`check_in_window`, `no_show_window`).

use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use uuid::Uuid;

use super::appointments::{self, AppointmentStatus};
use super::status_flow::StatusFlow;
use crate::error::{ApiError, FieldError, Refusal};
use crate::time::Timestamp;

/// The key of the facility's settings object the rules are under.
pub const KEY: &str = "scheduling";
pub const DEFAULT_CHECK_IN_OPENS: i64 = 60;
pub const MAX_CHECK_IN_OPENS: i64 = 7 * 24 * 60;
pub const MAX_NO_SHOW_AFTER: i64 = 24 * 60;

/// The problem a move made before its window opens is answered with.
pub static TOO_EARLY: Refusal = Refusal {
    slug: "too-early",
    title: "Too early for this status",
    status: StatusCode::CONFLICT,
};

/// A facility's scheduling rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FacilityRules {
    pub status_flow: StatusFlow,
    pub check_in_opens_minutes: i64,
    pub no_show_after_minutes: i64,
}

impl Default for FacilityRules {
    fn default() -> Self {
        Self {
            status_flow: StatusFlow::Full,
            check_in_opens_minutes: DEFAULT_CHECK_IN_OPENS,
            no_show_after_minutes: 0,
        }
    }
}

fn field(name: &str) -> String {
    format!("settings.{KEY}.{name}")
}

fn minutes(value: &Value, name: &str, max: i64, errors: &mut Vec<FieldError>) -> Option<i64> {
    match value.as_i64() {
        Some(m) if (0..=max).contains(&m) => Some(m),
        _ => {
            errors.push(FieldError::new(
                field(name),
                format!("must be a whole number of minutes from 0 to {max}"),
            ));
            None
        }
    }
}

impl FacilityRules {
    /// The rules a facility's settings object sets, or every bad key named
    /// (`settings.scheduling.<key>`).
    pub fn parse(settings: &Value) -> Result<Self, Vec<FieldError>> {
        let mut rules = Self::default();
        let section = match settings.get(KEY) {
            None | Some(Value::Null) => return Ok(rules),
            Some(Value::Object(section)) => section,
            Some(_) => {
                let reason = "must be an object of scheduling rules";
                return Err(vec![FieldError::new(format!("settings.{KEY}"), reason)]);
            }
        };
        let mut errors = Vec::new();
        for (name, value) in section {
            match name.as_str() {
                "status_flow" => match value.as_str().and_then(StatusFlow::parse) {
                    Some(flow) => rules.status_flow = flow,
                    None => errors.push(FieldError::new(
                        field(name),
                        "must be `full` or `simple`",
                    )),
                },
                "check_in_opens_minutes" => {
                    if let Some(m) = minutes(value, name, MAX_CHECK_IN_OPENS, &mut errors) {
                        rules.check_in_opens_minutes = m;
                    }
                }
                "no_show_after_minutes" => {
                    if let Some(m) = minutes(value, name, MAX_NO_SHOW_AFTER, &mut errors) {
                        rules.no_show_after_minutes = m;
                    }
                }
                _ => errors.push(FieldError::new(
                    field(name),
                    "is not a scheduling setting; they are status_flow, check_in_opens_minutes, no_show_after_minutes",
                )),
            }
        }
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(errors)
        }
    }

    /// The rules of a facility as stored. Settings are checked when they
    /// are written; a value stored before that check that does not parse
    /// leaves the defaults, and is logged (it names no one).
    pub async fn of(db: &impl ConnectionTrait, facility_id: Uuid) -> Result<Self, ApiError> {
        let Some(facility) = crate::access::facilities::find(db, facility_id).await? else {
            return Ok(Self::default());
        };
        let settings: Value = serde_json::from_str(&facility.settings).unwrap_or(Value::Null);
        Ok(Self::parse(&settings).unwrap_or_else(|errors| {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            tracing::warn!(%facility_id, ?fields, "scheduling: facility settings do not parse; using the defaults");
            Self::default()
        }))
    }

    /// Refuses a move made before its time: a check-in (or, skipping it, a
    /// completion) before check-in opens, a no-show before its window.
    pub fn check_timing(
        &self,
        row: &appointments::Model,
        from: AppointmentStatus,
        to: AppointmentStatus,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let skips_check_in =
            to == AppointmentStatus::Completed && from != AppointmentStatus::InProgress;
        if to == AppointmentStatus::CheckedIn || skips_check_in {
            let opens = row.starts_at.plus_secs(-self.check_in_opens_minutes * 60);
            if now < opens {
                return Err(TOO_EARLY.because(
                    "check_in_window",
                    format!(
                        "an appointment is checked in or completed from {} minutes before its start \
                         (the facility's scheduling.check_in_opens_minutes), so from {opens}",
                        self.check_in_opens_minutes
                    ),
                ));
            }
        }
        if to == AppointmentStatus::NoShow {
            let opens = row.starts_at.plus_secs(self.no_show_after_minutes * 60);
            if now < opens {
                return Err(TOO_EARLY.because(
                    "no_show_window",
                    format!(
                        "an appointment is marked a no-show from {} minutes after its start \
                         (the facility's scheduling.no_show_after_minutes), so from {opens}",
                        self.no_show_after_minutes
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Checks the scheduling rules of a facility's settings as they are
/// written (a reaction to access's settings events).
pub fn validate(settings: &Value) -> Result<(), ApiError> {
    FacilityRules::parse(settings)
        .map(|_| ())
        .map_err(ApiError::Validation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_rules_are_the_defaults_and_bad_ones_are_named() {
        assert_eq!(
            FacilityRules::parse(&json!({})),
            Ok(FacilityRules::default())
        );
        let set = FacilityRules::parse(&json!({"scheduling": {
            "status_flow": "simple", "check_in_opens_minutes": 15, "no_show_after_minutes": 10
        }}))
        .unwrap();
        assert_eq!(set.status_flow, StatusFlow::Simple);
        assert_eq!(
            (set.check_in_opens_minutes, set.no_show_after_minutes),
            (15, 10)
        );
        let errors = FacilityRules::parse(&json!({"scheduling": {
            "status_flow": "quick", "check_in_opens_minutes": -1, "no_show_after_minutes": "soon", "colour": 1
        }}))
        .unwrap_err();
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "settings.scheduling.check_in_opens_minutes",
                "settings.scheduling.colour",
                "settings.scheduling.no_show_after_minutes",
                "settings.scheduling.status_flow",
            ]
        );
        assert!(FacilityRules::parse(&json!({"scheduling": 3})).is_err());
    }
}
