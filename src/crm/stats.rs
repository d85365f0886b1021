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

use std::collections::{BTreeMap, HashMap};

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait};
use sea_orm::{ConnectionTrait, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::leads::{self, LeadStatus};
use super::pipelines::Pipeline;
use crate::access::FacilityScope;
use crate::error::ApiError;
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
        let mut c = Checks::default();
        let from = instant(&mut c, "from", from);
        let to = instant(&mut c, "to", to);
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

/// The range of a statistics request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Leads created at or after this instant (RFC 3339, required).
    #[param(required = true, value_type = String, format = DateTime)]
    pub from: Option<String>,
    /// Leads created before this instant (RFC 3339, required): after
    /// `from`, at most 366 days later.
    #[param(required = true, value_type = String, format = DateTime)]
    pub to: Option<String>,
}

/// The range and pipeline of a pipeline statistics request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineStatsQuery {
    /// Leads created at or after this instant (RFC 3339, required).
    #[param(required = true, value_type = String, format = DateTime)]
    pub from: Option<String>,
    /// Leads created before this instant (RFC 3339, required): after
    /// `from`, at most 366 days later.
    #[param(required = true, value_type = String, format = DateTime)]
    pub to: Option<String>,
    /// A lead pipeline of the facility; its default lead pipeline when absent.
    pub pipeline_id: Option<Uuid>,
}

/// Seed 000's `get_lead_pipeline_stats`: where the leads created in a range
/// stand, in their lifecycle, in one pipeline's stages, and by source.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PipelineStats {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Leads created in the range, in any pipeline.
    pub total: u64,
    /// Every lifecycle status, in lifecycle order, with its count (zero too).
    pub statuses: Vec<StatusCount>,
    pub pipeline_id: Uuid,
    pub pipeline: String,
    /// Leads created in the range that are in this pipeline.
    pub in_pipeline: u64,
    /// The pipeline's stages, first to last.
    pub stages: Vec<StageStats>,
    /// Every source a lead in the range came from, most leads first.
    pub sources: Vec<SourceStats>,
}

/// How many leads are at one lifecycle status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: LeadStatus,
    pub count: u64,
}

/// One stage of the pipeline.
///
/// Leads move through stages forward and back and the stages a lead
/// skipped are not recorded as passed, so "reached" is defined by where
/// leads are now: a lead reached a stage when its current stage is that
/// stage or a later one (its position is at least the stage's). The first
/// stage is therefore reached by every lead of the pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct StageStats {
    pub stage_id: Uuid,
    pub name: String,
    /// 1 for the first stage.
    pub position: i32,
    /// Leads at this stage now.
    pub current: u64,
    /// Leads at this stage or a later one.
    pub reached: u64,
    /// `reached` of the next stage over `reached` of this one, 0 to 1;
    /// null for the last stage and when no lead reached this one.
    pub conversion_to_next: Option<f64>,
}

/// The leads of one source.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SourceStats {
    pub source: String,
    pub count: u64,
    /// Leads that converted: booked, completed, or made a patient.
    pub converted: u64,
    /// `converted` over `count`, 0 to 1.
    pub conversion_rate: f64,
}

/// One group of the pipeline query: the leads sharing a status, a source
/// and a stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadGroup {
    pub status: String,
    pub source: String,
    pub stage_id: Uuid,
    pub leads: i64,
    /// Of those, the leads converted into a patient.
    pub with_patient: i64,
}

/// The leads of the scope's facility created in `range`, counted by status,
/// source and stage in one GROUP BY: a few dozen rows however many leads
/// there are. It reads only columns of the covering index of
/// [`super::migration::LEAD_STATS_INDEX`] (hence `COUNT(*)`, not of the
/// id), so the database never visits the lead rows themselves.
pub async fn lead_groups(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    range: CreatedRange,
) -> Result<Vec<LeadGroup>, DbErr> {
    use leads::Column;
    let rows = in_range(scope, range)
        .select_only()
        .column(Column::Status)
        .column(Column::Source)
        .column(Column::StageId)
        .column_as(Expr::col(Asterisk).count(), "leads")
        .column_as(Expr::col(Column::PatientId).count(), "with_patient")
        .group_by(Column::Status)
        .group_by(Column::Source)
        .group_by(Column::StageId)
        .into_tuple::<(String, String, Uuid, i64, i64)>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(status, source, stage_id, leads, with_patient)| LeadGroup {
                status,
                source,
                stage_id,
                leads,
                with_patient,
            },
        )
        .collect())
}

fn in_range(scope: &FacilityScope, range: CreatedRange) -> Select<leads::Entity> {
    leads::Entity::find()
        .filter(leads::Column::FacilityId.eq(scope.facility_id()))
        .filter(leads::Column::CreatedAt.gte(range.from))
        .filter(leads::Column::CreatedAt.lt(range.to))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A lead counts as converted once booked or completed, or once it became
/// a patient whatever its status says.
fn converts(status: LeadStatus) -> bool {
    matches!(status, LeadStatus::Booked | LeadStatus::Completed)
}

impl PipelineStats {
    /// The statistics of `pipeline` from the groups of [`lead_groups`].
    pub fn assemble(range: CreatedRange, pipeline: &Pipeline, groups: &[LeadGroup]) -> Self {
        let mut statuses: HashMap<LeadStatus, u64> = HashMap::new();
        let mut at_stage: HashMap<Uuid, u64> = HashMap::new();
        let mut sources: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut total = 0;
        for group in groups {
            let leads = count(group.leads);
            total += leads;
            let status = LeadStatus::parse(&group.status);
            if let Some(status) = status {
                *statuses.entry(status).or_default() += leads;
            }
            *at_stage.entry(group.stage_id).or_default() += leads;
            let converted = if status.is_some_and(converts) {
                leads
            } else {
                count(group.with_patient)
            };
            let source = sources.entry(group.source.as_str()).or_default();
            source.0 += leads;
            source.1 += converted;
        }
        let current: Vec<u64> = pipeline
            .stages
            .iter()
            .map(|s| at_stage.get(&s.id).copied().unwrap_or(0))
            .collect();
        // Stages are in position order: reached(i) = the leads at i or later.
        let mut reached = current.clone();
        for i in (0..reached.len().saturating_sub(1)).rev() {
            reached[i] += reached[i + 1];
        }
        let stages = pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(i, stage)| StageStats {
                stage_id: stage.id,
                name: stage.name.clone(),
                position: stage.position,
                current: current[i],
                reached: reached[i],
                conversion_to_next: reached.get(i + 1).and_then(|next| ratio(*next, reached[i])),
            })
            .collect();
        let mut sources: Vec<SourceStats> = sources
            .into_iter()
            .map(|(source, (count, converted))| SourceStats {
                source: source.to_owned(),
                count,
                converted,
                conversion_rate: ratio(converted, count).unwrap_or(0.0),
            })
            .collect();
        sources.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.source.cmp(&b.source)));
        Self {
            from: range.from,
            to: range.to,
            total,
            statuses: LeadStatus::ALL
                .into_iter()
                .map(|status| StatusCount {
                    status,
                    count: statuses.get(&status).copied().unwrap_or(0),
                })
                .collect(),
            pipeline_id: pipeline.id,
            pipeline: pipeline.name.clone(),
            in_pipeline: reached.first().copied().unwrap_or(0),
            stages,
            sources,
        }
    }
}

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

/// One lead's wait: its owner, source, and microseconds from creation to
/// first contact (`None` when not contacted yet).
pub type LeadDelay = (Option<Uuid>, String, Option<i64>);

/// The wait of every lead of the scope's facility created in `range`.
///
/// Percentiles are computed here, in Rust, from these tuples. PostgreSQL has
/// `percentile_cont` but SQLite has no percentile function; the portable
/// alternative in SQL (ROW_NUMBER and COUNT windows, once per grouping) sorts
/// the range three times and is harder to read. The range bounds the rows
/// to a year of leads, and each row is three narrow columns, so one scan and
/// a sort in memory is both simpler and cheaper. Like [`lead_groups`], it
/// reads the covering index only.
pub async fn lead_delays(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    range: CreatedRange,
) -> Result<Vec<LeadDelay>, DbErr> {
    use leads::Column;
    in_range(scope, range)
        .select_only()
        .column(Column::OwnerId)
        .column(Column::Source)
        .column_as(
            Expr::col(Column::FirstContactedAt).sub(Expr::col(Column::CreatedAt)),
            "delay",
        )
        .into_tuple::<LeadDelay>()
        .all(db)
        .await
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
    fn add(&mut self, delay: Option<i64>) {
        match delay {
            Some(d) => self.micros.push(d),
            None => self.not_contacted += 1,
        }
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
    pub fn assemble(range: CreatedRange, leads: Vec<LeadDelay>) -> Self {
        let mut overall = Waits::default();
        let mut owners: BTreeMap<(bool, Option<Uuid>), Waits> = BTreeMap::new();
        let mut sources: BTreeMap<String, Waits> = BTreeMap::new();
        for (owner, source, delay) in leads {
            overall.add(delay);
            owners
                .entry((owner.is_none(), owner))
                .or_default()
                .add(delay);
            sources.entry(source).or_default().add(delay);
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
    use crate::crm::pipelines::{PipelineKind, Stage};

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

    fn pipeline() -> Pipeline {
        Pipeline {
            id: Uuid::from_u128(1),
            facility_id: Uuid::from_u128(2),
            kind: PipelineKind::Lead,
            name: "Lead pipeline".to_owned(),
            is_default: true,
            stages: (1..=3)
                .map(|position| Stage {
                    id: Uuid::from_u128(10 + position as u128),
                    name: format!("Stage {position}"),
                    position,
                })
                .collect(),
        }
    }

    fn group(status: &str, source: &str, stage: u128, leads: i64, with_patient: i64) -> LeadGroup {
        LeadGroup {
            status: status.to_owned(),
            source: source.to_owned(),
            stage_id: Uuid::from_u128(stage),
            leads,
            with_patient,
        }
    }

    #[test]
    fn stages_count_who_is_there_and_who_got_that_far() {
        let range = CreatedRange {
            from: at("2026-01-01T00:00:00Z"),
            to: at("2026-02-01T00:00:00Z"),
        };
        let groups = [
            group("new", "Newsletter", 11, 4, 0),
            group("contacted", "Newsletter", 12, 3, 0),
            group("completed", "Referral", 13, 1, 1),
            group("archived", "Referral", 13, 2, 1),
            // A lead of another pipeline counts in the totals only.
            group("booked", "Referral", 99, 5, 0),
        ];
        let stats = PipelineStats::assemble(range, &pipeline(), &groups);
        assert_eq!(stats.total, 15);
        assert_eq!(stats.in_pipeline, 10);
        let counts: Vec<(u64, u64, Option<f64>)> = stats
            .stages
            .iter()
            .map(|s| (s.current, s.reached, s.conversion_to_next))
            .collect();
        assert_eq!(
            counts,
            [(4, 10, Some(0.6)), (3, 6, Some(0.5)), (3, 3, None)]
        );
        let statuses: Vec<u64> = stats.statuses.iter().map(|s| s.count).collect();
        assert_eq!(statuses, [4, 3, 0, 5, 1, 0, 2, 0]);
        let sources: Vec<(&str, u64, u64)> = stats
            .sources
            .iter()
            .map(|s| (s.source.as_str(), s.count, s.converted))
            .collect();
        // Referral: 5 booked + 1 completed + 1 archived patient.
        assert_eq!(sources, [("Referral", 8, 7), ("Newsletter", 7, 0)]);
        assert_eq!(stats.sources[0].conversion_rate, 7.0 / 8.0);
    }

    #[test]
    fn no_leads_means_null_rates_not_division_by_zero() {
        let range = CreatedRange {
            from: at("2026-01-01T00:00:00Z"),
            to: at("2026-02-01T00:00:00Z"),
        };
        let stats = PipelineStats::assemble(range, &pipeline(), &[]);
        assert!(stats.stages.iter().all(|s| s.conversion_to_next.is_none()));
        assert!(stats.sources.is_empty());
        let speed = SpeedToLead::assemble(range, Vec::new());
        assert_eq!(speed.overall, Delays::default());
    }

    #[test]
    fn delays_group_by_owner_with_the_unassigned_last() {
        let range = CreatedRange {
            from: at("2026-01-01T00:00:00Z"),
            to: at("2026-02-01T00:00:00Z"),
        };
        let (a, b) = (Some(Uuid::from_u128(5)), Some(Uuid::from_u128(3)));
        let s = |secs: i64| Some(secs * 1_000_000);
        let speed = SpeedToLead::assemble(
            range,
            vec![
                (None, "Web Chat".to_owned(), s(60)),
                (a, "Web Chat".to_owned(), s(30)),
                (a, "Newsletter".to_owned(), s(90)),
                (b, "Newsletter".to_owned(), None),
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
