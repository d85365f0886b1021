//! Pipeline and speed-to-lead statistics (seed 000's
//! `get_lead_pipeline_stats(start_date, end_date)` and
//! `get_speed_to_lead_stats(start_date)`), over the leads created in a
//! range of time.
//!
//! The statistics are aggregates: counts, rates and delays, with no
//! contact details, so reading them is not a read of anyone's PHI and
//! writes no audit event. They are computed in the database with GROUP BY
//! (the pipeline) or from three narrow columns per lead (the delays), never
//! by loading leads; the range bounds the work: at most [`MAX_RANGE_DAYS`]
//! of leads, read from one index range (see
//! [`super::migration::LEAD_STATS_INDEX`]).

use sea_orm::entity::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::leads;
pub use super::stats_pipeline::{
    LeadGroup, PipelineStats, PipelineStatsQuery, SourceStats, StageStats, StatusCount, lead_groups,
};
pub use super::stats_speed_to_lead::{
    DelayGroup, Delays, OwnerDelays, SourceDelays, SpeedToLead, lead_delays, percentile,
};
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::validation::Checks;

/// The longest range the statistics cover: a year, leap day included.
pub const MAX_RANGE_DAYS: i64 = 366;

const DAY_MICROS: i64 = 86_400_000_000;

/// The leads created in `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedRange {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl CreatedRange {
    /// Checks a range as given in a query: both ends present and RFC 3339,
    /// `to` after `from`, at most [`MAX_RANGE_DAYS`] apart. Every problem
    /// names its parameter.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, ApiError> {
        Self::parse_until(from, to, None)
    }

    /// As [`Self::parse`], with `to` defaulting to `now` when absent.
    pub fn parse_until_now(
        from: Option<&str>,
        to: Option<&str>,
        now: Timestamp,
    ) -> Result<Self, ApiError> {
        Self::parse_until(from, to, Some(now))
    }

    fn parse_until(
        from: Option<&str>,
        to: Option<&str>,
        default_to: Option<Timestamp>,
    ) -> Result<Self, ApiError> {
        let mut c = Checks::default();
        let from = instant(&mut c, "from", from);
        let to = match (to, default_to) {
            (None, Some(now)) => Some(now),
            (to, _) => instant(&mut c, "to", to),
        };
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                c.fail("to", "must be after `from`");
            } else if to.as_micros() - from.as_micros() > MAX_RANGE_DAYS * DAY_MICROS {
                c.fail(
                    "to",
                    &format!("must be at most {MAX_RANGE_DAYS} days after `from`"),
                );
            }
        }
        c.done()?;
        match (from, to) {
            (Some(from), Some(to)) => Ok(Self { from, to }),
            _ => Err(ApiError::invalid("from", "is required")),
        }
    }
}

fn instant(c: &mut Checks, field: &str, value: Option<&str>) -> Option<Timestamp> {
    match value.map(str::parse::<Timestamp>) {
        None => {
            c.fail(field, "is required");
            None
        }
        Some(Err(reason)) => {
            c.fail(field, &reason);
            None
        }
        Some(Ok(t)) => Some(t),
    }
}

/// The range of a speed-to-lead request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Leads created at or after this instant (RFC 3339, required).
    #[param(required = true, value_type = String, format = DateTime)]
    pub from: Option<String>,
    /// Leads created before this instant (RFC 3339); now when absent.
    /// After `from`, at most 366 days later.
    #[param(value_type = String, format = DateTime)]
    pub to: Option<String>,
}

pub(super) fn in_range(scope: &FacilityScope, range: CreatedRange) -> Select<leads::Entity> {
    leads::Entity::find()
        .filter(leads::Column::FacilityId.eq(scope.facility_id()))
        .filter(leads::Column::CreatedAt.gte(range.from))
        .filter(leads::Column::CreatedAt.lt(range.to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn fields(result: Result<CreatedRange, ApiError>) -> Vec<(String, String)> {
        match result {
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| (e.field, e.reason)).collect()
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn a_range_needs_both_ends_in_order_and_at_most_a_year_apart() {
        let ok = CreatedRange::parse(Some("2026-01-01T00:00:00Z"), Some("2027-01-02T00:00:00Z"));
        assert_eq!(ok.unwrap().to, at("2027-01-02T00:00:00Z"));
        let missing = fields(CreatedRange::parse(None, Some("2026-01-01T00:00:00Z")));
        assert_eq!(missing, [("from".to_owned(), "is required".to_owned())]);
        let bad = fields(CreatedRange::parse(Some("yesterday"), None));
        assert_eq!(bad[0].0, "from");
        assert!(bad[0].1.contains("RFC 3339"));
        assert_eq!(bad[1], ("to".to_owned(), "is required".to_owned()));
        let now = at("2026-03-01T00:00:00Z");
        let until_now = CreatedRange::parse_until_now(Some("2026-02-01T00:00:00Z"), None, now);
        assert_eq!(until_now.unwrap().to, now);
        let future = fields(CreatedRange::parse_until_now(
            Some("2026-04-01T00:00:00Z"),
            None,
            now,
        ));
        assert_eq!(
            future,
            [("to".to_owned(), "must be after `from`".to_owned())]
        );
        let backwards = fields(CreatedRange::parse(
            Some("2026-02-01T00:00:00Z"),
            Some("2026-02-01T00:00:00Z"),
        ));
        assert_eq!(backwards[0].0, "to");
        let long = fields(CreatedRange::parse(
            Some("2026-01-01T00:00:00Z"),
            Some("2027-01-02T00:00:01Z"),
        ));
        assert!(long[0].1.contains("366 days"));
    }
}
