//! Reading the log back: the admin API's search, newest first, a page at a
//! time.

use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::chain::hex;
use super::event::{ActorType, AuditAction};
use super::store::events;
use crate::db::Database;
use crate::time::Timestamp;

/// The most events one page returns, whatever the caller asks for.
pub const MAX_PAGE: u64 = 1000;

/// Which events to return. Every field narrows the search; the default
/// matches every event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The facilities the reader may see: `None` for all (a system-wide
    /// administrator), `Some` for a facility administrator, whose search
    /// then never returns events of other facilities or of none.
    pub facility_ids: Option<Vec<Uuid>>,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub action: Option<AuditAction>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    /// Events that occurred at or after this instant.
    pub from: Option<Timestamp>,
    /// Events that occurred before this instant.
    pub to: Option<Timestamp>,
}

/// An event as stored, for reading and export. `changes` is the redacted
/// JSON that was recorded; hashes are lower-case hex.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredEvent {
    pub id: Uuid,
    /// The event's place in the chain: 1, 2, 3, … without gaps.
    pub seq: i64,
    pub occurred_at: Timestamp,
    pub actor_type: ActorType,
    pub actor_id: Option<Uuid>,
    /// The job, for events of the system.
    pub actor_job: Option<String>,
    pub session_id: Option<Uuid>,
    pub action: AuditAction,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub facility_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub compliance_flags: Vec<String>,
    pub prev_hash: String,
    pub hash: String,
    /// The before and after values that `changes` holds only sealed (PHI),
    /// opened for the auditor reading the log through the API; absent
    /// when there are none. Not part of the hashed event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub phi_changes: Option<Value>,
}

impl From<events::Model> for StoredEvent {
    fn from(row: events::Model) -> Self {
        Self {
            id: row.id,
            seq: row.seq,
            occurred_at: row.occurred_at,
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            actor_job: row.actor_job,
            session_id: row.session_id,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            facility_id: row.facility_id,
            patient_id: row.patient_id,
            lead_id: row.lead_id,
            changes: row.changes.map(|text| parse_json(&text)),
            client_addr: row.client_addr,
            user_agent: row.user_agent,
            request_id: row.request_id,
            compliance_flags: parse_flags(&row.compliance_flags),
            prev_hash: hex(&row.prev_hash),
            hash: hex(&row.hash),
            phi_changes: None,
        }
    }
}

/// The stored JSON, or the text itself if it is not JSON (it always is when
/// written by carebase; [`super::verify`] is what tells a tampered row).
fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn parse_flags(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|_| vec![text.to_owned()])
}

/// Events matching `filter`, newest first (descending `seq`), at most
/// `limit` (capped at [`MAX_PAGE`]). For the next page pass the `seq` of
/// the last event returned as `before`: the page then starts just below it.
/// A cursor by `seq` stays stable while new events arrive, as they only
/// ever get higher numbers.
pub async fn search(
    db: &Database,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<StoredEvent>, DbErr> {
    if filter.facility_ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let mut condition = conditions(filter);
    if let Some(before) = before {
        condition = condition.add(events::Column::Seq.lt(before));
    }
    let rows = events::Entity::find()
        .filter(condition)
        .order_by_desc(events::Column::Seq)
        .limit(limit.min(MAX_PAGE))
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(StoredEvent::from).collect())
}

fn conditions(filter: &AuditFilter) -> Condition {
    use events::Column;
    let mut all = Condition::all();
    if let Some(ids) = &filter.facility_ids {
        all = all.add(Column::FacilityId.is_in(ids.iter().copied()));
    }
    let equal_to = [
        (Column::PatientId, filter.patient_id),
        (Column::LeadId, filter.lead_id),
        (Column::ActorId, filter.actor_id),
        (Column::ResourceId, filter.resource_id),
    ];
    for (column, value) in equal_to {
        if let Some(value) = value {
            all = all.add(column.eq(value));
        }
    }
    if let Some(action) = filter.action {
        all = all.add(Column::Action.eq(action));
    }
    if let Some(resource_type) = &filter.resource_type {
        all = all.add(Column::ResourceType.eq(resource_type.as_str()));
    }
    if let Some(from) = filter.from {
        all = all.add(Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.to {
        all = all.add(Column::OccurredAt.lt(to));
    }
    all
}
