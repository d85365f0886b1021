//! Seed 000's `get_speed_to_lead_stats`: how long the leads created in a
//! range waited for their first contact, from the waits the database
//! groups by owner and source, with the percentiles computed here.

use std::collections::BTreeMap;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Func};
use sea_orm::{ConnectionTrait, DbBackend, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::leads;
use super::stats::{CreatedRange, in_range};
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// Seed 000's `get_speed_to_lead_stats`: how long the leads created in a
/// range waited for their first contact, overall, per owner and per source.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SpeedToLead {
    pub from: Timestamp,
    pub to: Timestamp,
    pub overall: Delays,
    /// Per owner, unassigned leads (`owner_id` null) last.
    pub owners: Vec<OwnerDelays>,
    /// Per source, by name.
    pub sources: Vec<SourceDelays>,
}

/// How long a group of leads waited from creation to first contact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Delays {
    pub leads: u64,
    /// Leads with a first contact.
    pub contacted: u64,
    /// Leads no one has contacted yet.
    pub not_contacted: u64,
    /// The median wait of the contacted leads, in seconds; null when none was contacted.
    pub median_seconds: Option<f64>,
    /// The 90th percentile wait of the contacted leads, in seconds.
    pub p90_seconds: Option<f64>,
}

/// The waits of one owner's leads.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OwnerDelays {
    pub owner_id: Option<Uuid>,
    #[serde(flatten)]
    pub delays: Delays,
}

/// The waits of one source's leads.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SourceDelays {
    pub source: String,
    #[serde(flatten)]
    pub delays: Delays,
}

/// The waits of the leads sharing an owner and a source: how many there
/// are, and the microseconds from creation to first contact of those
/// contacted (in no order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DelayGroup {
    pub owner_id: Option<Uuid>,
    pub source: String,
    pub leads: u64,
    pub delays: Vec<i64>,
}

/// The waits of the leads of the scope's facility created in `range`, by
/// owner and source.
///
/// Percentiles are computed here, in Rust, from every wait. PostgreSQL has
/// `percentile_cont` but SQLite has no percentile function; the portable
/// alternative in SQL (ROW_NUMBER and COUNT windows, once per grouping)
/// sorts the range three times. So the database groups the range by owner
/// and source (a few dozen groups) and joins each group's waits into one
/// text, which is parsed here: a year of leads crosses as a few dozen rows
/// instead of one row per lead, whose decoding was most of the time. Like
/// [`super::stats_pipeline::lead_groups`], it reads the covering index only.
pub async fn lead_delays(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    range: CreatedRange,
) -> Result<Vec<DelayGroup>, DbErr> {
    use leads::Column;
    let delay = Expr::col(Column::FirstContactedAt).sub(Expr::col(Column::CreatedAt));
    // Both skip the nulls of leads not contacted yet.
    let joined = match db.get_database_backend() {
        DbBackend::Postgres => Func::cust(Alias::new("string_agg"))
            .arg(delay.cast_as(Alias::new("text")))
            .arg(","),
        _ => Func::cust(Alias::new("group_concat")).arg(delay).arg(","),
    };
    let rows = in_range(scope, range)
        .select_only()
        .column(Column::OwnerId)
        .column(Column::Source)
        .column_as(Expr::col(Asterisk).count(), "leads")
        .column_as(Expr::from(joined), "delays")
        .group_by(Column::OwnerId)
        .group_by(Column::Source)
        .into_tuple::<(Option<Uuid>, String, i64, Option<String>)>()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(owner_id, source, leads, delays)| {
            Ok(DelayGroup {
                owner_id,
                source,
                leads: u64::try_from(leads).unwrap_or(0),
                delays: parsed(delays.as_deref().unwrap_or(""))?,
            })
        })
        .collect()
}

/// The waits of a group's joined text.
fn parsed(joined: &str) -> Result<Vec<i64>, DbErr> {
    joined
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.trim()
                .parse()
                .map_err(|_| DbErr::Type(format!("not a wait in microseconds: {d}")))
        })
        .collect()
}

/// `p` (0 to 1) of sorted values, interpolating linearly between the two
/// nearest ranks, as PostgreSQL's `percentile_cont` does.
pub fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p.clamp(0.0, 1.0) * last as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (low, high) = (*sorted.get(below)? as f64, *sorted.get(above)? as f64);
    Some(low + (high - low) * (rank - below as f64))
}

/// The waits of one group while it is being counted.
#[derive(Default)]
struct Waits {
    micros: Vec<i64>,
    not_contacted: u64,
}

impl Waits {
    fn add(&mut self, group: &DelayGroup) {
        self.micros.extend_from_slice(&group.delays);
        self.not_contacted += group.leads.saturating_sub(group.delays.len() as u64);
    }

    fn delays(mut self) -> Delays {
        self.micros.sort_unstable();
        let seconds = |p| percentile(&self.micros, p).map(|micros| micros / 1e6);
        let contacted = self.micros.len() as u64;
        Delays {
            leads: contacted + self.not_contacted,
            contacted,
            not_contacted: self.not_contacted,
            median_seconds: seconds(0.5),
            p90_seconds: seconds(0.9),
        }
    }
}

impl SpeedToLead {
    pub fn assemble(range: CreatedRange, groups: Vec<DelayGroup>) -> Self {
        let mut overall = Waits::default();
        let mut owners: BTreeMap<(bool, Option<Uuid>), Waits> = BTreeMap::new();
        let mut sources: BTreeMap<String, Waits> = BTreeMap::new();
        for group in groups {
            overall.add(&group);
            let owner = group.owner_id;
            owners
                .entry((owner.is_none(), owner))
                .or_default()
                .add(&group);
            sources.entry(group.source.clone()).or_default().add(&group);
        }
        Self {
            from: range.from,
            to: range.to,
            overall: overall.delays(),
            owners: owners
                .into_iter()
                .map(|((_, owner_id), waits)| OwnerDelays {
                    owner_id,
                    delays: waits.delays(),
                })
                .collect(),
            sources: sources
                .into_iter()
                .map(|(source, waits)| SourceDelays {
                    source,
                    delays: waits.delays(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn percentiles_interpolate_like_percentile_cont() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7], 0.9), Some(7.0));
        assert_eq!(percentile(&[10, 20], 0.5), Some(15.0));
        let values: Vec<i64> = (1..=10).map(|v| v * 10).collect();
        assert_eq!(percentile(&values, 0.5), Some(55.0));
        // rank 0.9 × 9 = 8.1: 90 + 0.1 × (100 − 90).
        let p90 = percentile(&values, 0.9).unwrap();
        assert!((p90 - 91.0).abs() < 1e-9, "{p90}");
    }

    #[test]
    fn joined_waits_read_back_and_a_stray_value_is_an_error() {
        assert_eq!(parsed("30000000,-5,120").unwrap(), [30_000_000, -5, 120]);
        assert!(parsed("").unwrap().is_empty());
        assert!(parsed("12,abc").is_err());
    }

    #[test]
    fn delays_group_by_owner_with_the_unassigned_last() {
        let range = CreatedRange {
            from: at("2026-01-01T00:00:00Z"),
            to: at("2026-02-01T00:00:00Z"),
        };
        let (a, b) = (Some(Uuid::from_u128(5)), Some(Uuid::from_u128(3)));
        let group = |owner_id, source: &str, leads, delays: &[i64]| DelayGroup {
            owner_id,
            source: source.to_owned(),
            leads,
            delays: delays.iter().map(|secs| secs * 1_000_000).collect(),
        };
        let speed = SpeedToLead::assemble(
            range,
            vec![
                group(None, "Web Chat", 1, &[60]),
                group(a, "Web Chat", 1, &[30]),
                group(a, "Newsletter", 1, &[90]),
                group(b, "Newsletter", 1, &[]),
            ],
        );
        assert_eq!(speed.overall.leads, 4);
        assert_eq!(speed.overall.contacted, 3);
        assert_eq!(speed.overall.median_seconds, Some(60.0));
        let owners: Vec<Option<Uuid>> = speed.owners.iter().map(|o| o.owner_id).collect();
        assert_eq!(owners, [b, a, None]);
        assert_eq!(speed.owners[1].delays.median_seconds, Some(60.0));
        assert_eq!(speed.owners[0].delays.median_seconds, None);
        assert_eq!(speed.sources[0].source, "Newsletter");
        assert_eq!(speed.sources[0].delays.not_contacted, 1);
    }
}
