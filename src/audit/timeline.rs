//! Timelines: what happened to one lead or patient, newest first, read from
//! the audit log (seed 001's `activity_logs` per entity). A lead's timeline
//! is every event carrying its `lead_id` (the lead, its interests, tasks,
//! communications); a patient's is every event carrying its `patient_id`,
//! plus the events of the leads it was converted from, so the history a
//! patient had as a lead carries over.

use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::event::{ActorType, AuditAction};
use super::store::events;
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// Whose timeline.
#[derive(Clone, Debug)]
pub enum Subject {
    Lead(Uuid),
    /// A patient and the leads it was converted from.
    Patient {
        id: Uuid,
        leads: Vec<Uuid>,
    },
}

/// One thing that happened, as a timeline shows it: the audit event without
/// its chain fields. `changes` is the redacted record of what changed,
/// without the sealed values only auditors open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// The event's place in the audit log; pass the last one as `before`.
    pub seq: i64,
    pub occurred_at: Timestamp,
    pub action: AuditAction,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub actor_type: ActorType,
    pub actor_id: Option<Uuid>,
    pub actor_job: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
}

impl From<events::Model> for TimelineEntry {
    fn from(row: events::Model) -> Self {
        Self {
            seq: row.seq,
            occurred_at: row.occurred_at,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            actor_job: row.actor_job,
            changes: row.changes.map(|text| {
                serde_json::from_str(&text)
                    .map(super::changes::without_sealed)
                    .unwrap_or(Value::String(text))
            }),
        }
    }
}

/// A page of a timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub items: Vec<TimelineEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Which part of a timeline to return.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
    /// Entries per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// Also show reads (every view of the record, and every refused
    /// attempt at one); changes only when absent.
    pub include_reads: Option<bool>,
}

impl TimelineQuery {
    pub fn limit(&self) -> Result<u64, ApiError> {
        crate::http::extract::page_limit(self.limit)
    }
}

/// What a timeline shows only with `include_reads`: views, and refused
/// attempts at one.
const READS: [AuditAction; 3] = [
    AuditAction::Read,
    AuditAction::PatientAccess,
    AuditAction::PermissionDenied,
];

/// One page of `subject`'s timeline in the scope's facility (the caller
/// checked that the scope sees the subject), newest first. Each
/// column it is found by (`lead_id`, `patient_id`) is read as an index
/// range (`…_seq_idx`) and the ranges are merged.
pub async fn timeline(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    subject: &Subject,
    query: &TimelineQuery,
) -> Result<Timeline, ApiError> {
    let limit = query.limit()?;
    let ranges: Vec<(events::Column, Uuid)> = match subject {
        Subject::Lead(id) => vec![(events::Column::LeadId, *id)],
        Subject::Patient { id, leads } => std::iter::once((events::Column::PatientId, *id))
            .chain(leads.iter().map(|l| (events::Column::LeadId, *l)))
            .collect(),
    };
    let mut rows = Vec::new();
    for (column, id) in ranges {
        rows.extend(range(db, scope.facility_id(), column, id, query, limit).await?);
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.seq));
    rows.dedup_by_key(|row| row.seq);
    rows.truncate(limit as usize);
    let next_before = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(Timeline {
        items: rows.into_iter().map(TimelineEntry::from).collect(),
        next_before,
    })
}

async fn range(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    column: events::Column,
    id: Uuid,
    query: &TimelineQuery,
    limit: u64,
) -> Result<Vec<events::Model>, DbErr> {
    let mut condition = Condition::all()
        .add(column.eq(id))
        .add(events::Column::FacilityId.eq(facility_id));
    if !query.include_reads.unwrap_or(false) {
        condition = condition.add(events::Column::Action.is_not_in(READS));
    }
    if let Some(before) = query.before {
        condition = condition.add(events::Column::Seq.lt(before));
    }
    events::Entity::find()
        .filter(condition)
        .order_by_desc(events::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}
