//! Recomputing the score of every lead of a facility.
//!
//! A score is computed when a lead is written, but its recency factor
//! decays with time (see [`super::score`]): a lead nobody touched for a
//! month still shows the points it had on the day it last replied. A rescore
//! brings every lead up to date, so lists sorted or filtered by score are
//! right again.
//!
//! It walks the facility's leads in id order, a batch at a time, reading
//! only the columns a score needs and the batch's interest priorities with
//! one query. Each batch is its own transaction: one UPDATE per lead whose
//! score changed, and one audit event for the batch, never one per lead. A
//! rescore cut short leaves whole batches done and is safe to run again.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::leads::{self, Readiness};
use super::score::ScoreInputs;
use super::store;
use crate::audit::{self, AuditEvent, redact};
use crate::db::Database;
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// Leads per batch: enough to amortize a transaction and its audit event,
/// few enough that a batch holds SQLite's write lock for milliseconds.
pub const BATCH: u64 = 500;

/// What a rescore did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rescored {
    /// Leads whose score was recomputed: all of the facility's.
    pub rescored: u64,
    /// Of those, the leads whose score or its explanation changed (and
    /// were written).
    pub changed: u64,
}

/// Recomputes the score of every lead of the scope's facility as of `now`.
/// `event` is the audit event each batch that changes a score appends,
/// given its actor and facility by the caller; the batch adds how many
/// leads it rescored and changed, and its id range.
pub async fn rescore_facility(
    db: &Database,
    scope: &FacilityScope,
    event: &AuditEvent,
    now: Timestamp,
) -> Result<Rescored, ApiError> {
    let mut done = Rescored::default();
    let mut after: Option<Uuid> = None;
    loop {
        let txn = db.begin().await?;
        let rows = store::scored_page(&*txn, scope, after, BATCH).await?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            break;
        };
        let (first, last) = (first.id, last.id);
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut priorities = store::interest_priorities_of(&*txn, &ids).await?;
        let mut changed = 0;
        for row in &rows {
            let interests = priorities.remove(&row.id).unwrap_or_default();
            let score = ScoreInputs {
                readiness: Readiness::from_stored(
                    &row.readiness,
                    leads::TABLE,
                    "readiness",
                    row.id,
                )?,
                source: &row.source,
                interests: &interests,
                calls: row.number_of_calls,
                replies: row.replies,
                chat_messages: row.chat_messages,
                last_activity: row.last_activity_at,
            }
            .score(now);
            let factors = score.factors_json();
            if score.total != row.score || factors != row.score_factors {
                store::set_score(&*txn, scope, row.id, score.total, factors).await?;
                changed += 1;
            }
        }
        let batch = rows.len() as u64;
        if changed > 0 {
            let event = event.clone().changes(redact(
                json!({ "rescored": batch, "changed": changed, "from_id": first, "to_id": last }),
                &[],
            ));
            audit::commit(txn, vec![event]).await?;
        } else {
            // Nothing was written: nothing to audit or commit.
            txn.rollback().await?;
        }
        done.rescored += batch;
        done.changed += changed;
        if batch < BATCH {
            break;
        }
        after = Some(last);
    }
    Ok(done)
}
