//! Seed 001's four appointment statuses as its users work with them.
//!
//! Seed 001 knows `Scheduled`, `Completed`, `Cancelled` and `No Show`; an
//! SDR marks a call `Completed` or `No Show` straight from `Scheduled`. A
//! facility that works that way sets its flow to `simple`
//! (`settings.scheduling.status_flow`): then every status shown as
//! Scheduled but not yet in progress may also move to `completed` or
//! `no_show` in one step. The `full` flow (the default) is the machine of
//! DOMAIN.md, where completion follows check-in and start.
//!
//! A list filtered by a status shown by seed 001 (`?status=Scheduled`)
//! returns every appointment shown so: `Scheduled` is pending, confirmed,
//! reminded, checked in or in progress; `Cancelled` is cancelled or
//! rescheduled. Seed 000's names filter by that one status.

use serde::Deserialize;
use utoipa::ToSchema;

use super::appointments::AppointmentStatus;
use crate::transition::{StateMachine, TransitionError, string_enum};

string_enum! {
    /// How a facility moves its appointments: `full` (DOMAIN.md's machine,
    /// completion after check-in and start) or `simple` (seed 001: from
    /// Scheduled straight to Completed or No Show as well).
    StatusFlow {
        Full => "full",
        Simple => "simple",
    }
}

/// The statuses seed 001 shows as Scheduled from which the simple flow
/// also moves straight to `completed` and `no_show`.
const NOT_STARTED: [AppointmentStatus; 4] = [
    AppointmentStatus::Pending,
    AppointmentStatus::Confirmed,
    AppointmentStatus::Reminded,
    AppointmentStatus::CheckedIn,
];

impl StatusFlow {
    /// The statuses `from` may move to in this flow, the machine's first.
    pub fn next(self, from: AppointmentStatus) -> Vec<AppointmentStatus> {
        let mut next = from.next().to_vec();
        if self == StatusFlow::Simple && NOT_STARTED.contains(&from) {
            for direct in [AppointmentStatus::Completed, AppointmentStatus::NoShow] {
                if !next.contains(&direct) {
                    next.push(direct);
                }
            }
        }
        next
    }

    /// `to`, when `from` may move to it in this flow; else the refusal
    /// naming the moves it may make.
    pub fn transition(
        self,
        from: AppointmentStatus,
        to: AppointmentStatus,
    ) -> Result<AppointmentStatus, TransitionError> {
        let next = self.next(from);
        if next.contains(&to) {
            return Ok(to);
        }
        Err(TransitionError {
            entity: AppointmentStatus::ENTITY,
            from: from.to_string(),
            to: to.to_string(),
            allowed: next.iter().map(ToString::to_string).collect(),
        })
    }
}

/// Seed 001's status names, and the statuses each one shows.
pub const SEED_001_NAMES: [&str; 4] = ["Scheduled", "Completed", "Cancelled", "No Show"];

/// The statuses a list is filtered by: seed 001's name (every status it
/// shows) or seed 000's (that status).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, example = "Scheduled")]
pub struct StatusShown(pub Vec<AppointmentStatus>);

impl TryFrom<String> for StatusShown {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if SEED_001_NAMES.contains(&name.as_str()) {
            let shown = AppointmentStatus::ALL
                .into_iter()
                .filter(|s| s.seed_001_name() == name)
                .collect();
            return Ok(StatusShown(shown));
        }
        AppointmentStatus::parse(&name)
            .map(|s| StatusShown(vec![s]))
            .ok_or_else(|| {
                format!(
                    "`{name}` is not an appointment status; use one of {} or seed 001's {}",
                    AppointmentStatus::ALL
                        .map(AppointmentStatus::as_str)
                        .join(", "),
                    SEED_001_NAMES.join(", ")
                )
            })
    }
}

impl StatusShown {
    pub fn as_strs(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppointmentStatus::*;

    #[test]
    fn the_simple_flow_adds_the_direct_moves_and_only_those() {
        for from in AppointmentStatus::ALL {
            let full = StatusFlow::Full.next(from);
            assert_eq!(full, from.next(), "{from}");
            let simple = StatusFlow::Simple.next(from);
            let added: Vec<_> = simple.iter().filter(|s| !full.contains(s)).collect();
            let expected: &[AppointmentStatus] = match from {
                Pending => &[Completed, NoShow],
                Confirmed | Reminded => &[Completed],
                CheckedIn => &[Completed],
                _ => &[],
            };
            assert_eq!(added, expected.iter().collect::<Vec<_>>(), "{from}");
        }
        assert_eq!(
            StatusFlow::Simple.transition(Confirmed, Completed),
            Ok(Completed)
        );
        let refused = StatusFlow::Full
            .transition(Confirmed, Completed)
            .unwrap_err();
        assert!(!refused.allowed.contains(&"completed".to_owned()));
        assert!(StatusFlow::Simple.transition(InProgress, NoShow).is_err());
    }

    #[test]
    fn a_seed_001_name_filters_by_every_status_it_shows() {
        let shown = |s: &str| StatusShown::try_from(s.to_owned()).map(|s| s.0);
        assert_eq!(
            shown("Scheduled"),
            Ok(vec![Pending, Confirmed, Reminded, CheckedIn, InProgress])
        );
        assert_eq!(shown("Cancelled"), Ok(vec![Cancelled, Rescheduled]));
        assert_eq!(shown("No Show"), Ok(vec![NoShow]));
        assert_eq!(shown("cancelled"), Ok(vec![Cancelled]));
        assert!(shown("Booked").unwrap_err().contains("Scheduled"));
    }
}
