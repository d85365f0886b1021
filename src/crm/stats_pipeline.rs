//! Seed 000's `get_lead_pipeline_stats`: the leads created in a range,
//! counted by status, source and stage in the database, then assembled
//! into a pipeline's funnel.

use std::collections::HashMap;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait};
use sea_orm::{ConnectionTrait, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::leads::{self, LeadStatus};
use super::stats::{CreatedRange, in_range};
use crate::pipelines::store::Pipeline;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::stats_speed_to_lead::{Delays, SpeedToLead};
    use crate::pipelines::store::{PipelineKind, Stage};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
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
}
