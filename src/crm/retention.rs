//! Retention that acts: a logged communication's content (its sealed
//! summary) is purged once its retention category's period has passed
//! since it happened. Purging replaces the summary with the sealing of
//! nothing, so the words are gone from the database, while the record (who,
//! when, channel, direction, category, `contains_phi`) and its audit trail
//! stay; each purge is recorded in `communication_purges` and audited as a
//! `delete` of the content in the same transaction. The audit log itself is
//! never touched. A category with a period of 0 days (by default `legal`,
//! which is under a hold) is never purged.
//!
//! A job on every server purges every `purge_interval_secs`; batches are
//! claimed in one transaction each, so two servers purging at once do the
//! same work at most once (the purge row's primary key stops a second).
//! `carebase retention purge --dry-run` and `GET
//! /facilities/{facility_id}/retention` report what is due, per category,
//! without changing anything.

use std::collections::BTreeMap;
use std::time::Duration;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use super::communications::{self, RetentionCategory};
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::config::{Invalid, Secret, Settings};
use crate::crypto::{Keyring, RowSealer};
use crate::db::Database;
use crate::time::Timestamp;

/// The name the purge signs its audit events with.
pub const JOB: &str = "retention-purge";
/// The table of purges.
pub const PURGES: &str = "communication_purges";
/// Communications purged per transaction.
const BATCH: u64 = 200;

/// `[retention]`: how long each category's content is kept, and how often
/// the purge runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RetentionSettings {
    pub purge_interval_secs: u64,
    pub clinical_days: u32,
    pub marketing_days: u32,
    pub operational_days: u32,
    /// 0: kept until the hold is lifted (never purged by the job).
    pub legal_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            purge_interval_secs: 24 * 3600,
            // Medical records: ten years, beyond HIPAA's six for its
            // documentation and most states' minimums for adults.
            clinical_days: 3650,
            marketing_days: 730,
            operational_days: 1095,
            legal_days: 0,
        }
    }
}

impl Settings for RetentionSettings {
    const SECTION: &'static str = "retention";
    const SECRETS: &'static [Secret] = &[];
    const FLAT_ALIASES: &'static [&'static str] = &[];

    fn validate(&self) -> Result<(), Invalid> {
        if self.purge_interval_secs < 60 {
            return Err(Invalid::new("purge_interval_secs", "must be at least 60"));
        }
        Ok(())
    }
}

impl RetentionSettings {
    /// How long `category`'s content is kept; `None` when it is kept for good.
    pub fn period_days(&self, category: RetentionCategory) -> Option<u32> {
        let days = match category {
            RetentionCategory::Clinical => self.clinical_days,
            RetentionCategory::Marketing => self.marketing_days,
            RetentionCategory::Operational => self.operational_days,
            RetentionCategory::Legal => self.legal_days,
        };
        (days > 0).then_some(days)
    }
}

/// A purge: which communication's content went, and when.
pub mod purge {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "communication_purges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub communication_id: Uuid,
        pub facility_id: Uuid,
        pub retention_category: String,
        pub purged_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What is (or was) purged, per category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionReport {
    /// Communications whose content is past its period, per category.
    pub communications: BTreeMap<String, u64>,
    /// Whether this is what a purge would do (`true`) or what it did.
    pub dry_run: bool,
}

/// The communications of `category` (of `facility_id`, or all) whose
/// content is past its period at `now` and not yet purged.
fn due(
    category: RetentionCategory,
    days: u32,
    facility_id: Option<Uuid>,
    now: Timestamp,
) -> Select<communications::Entity> {
    use communications::Column;
    let cutoff = now.plus_secs(-i64::from(days) * 24 * 3600);
    let purged = Query::select()
        .column(Alias::new("communication_id"))
        .from(Alias::new(PURGES))
        .to_owned();
    let mut query = communications::Entity::find()
        .filter(Column::RetentionCategory.eq(category.as_str()))
        .filter(Column::OccurredAt.lt(cutoff))
        .filter(Column::Id.not_in_subquery(purged));
    if let Some(facility_id) = facility_id {
        query = query.filter(Column::FacilityId.eq(facility_id));
    }
    query
}

/// What a purge at `now` would do, changing nothing.
pub async fn report(
    db: &impl ConnectionTrait,
    settings: &RetentionSettings,
    facility_id: Option<Uuid>,
    now: Timestamp,
) -> Result<RetentionReport, DbErr> {
    let mut counts = BTreeMap::new();
    for category in RetentionCategory::ALL {
        let count = match settings.period_days(category) {
            Some(days) => due(category, days, facility_id, now).count(db).await?,
            None => 0,
        };
        counts.insert(category.as_str().to_owned(), count);
    }
    Ok(RetentionReport {
        communications: counts,
        dry_run: true,
    })
}

/// Purges everything due at `now`, batch by batch; returns what it did.
pub async fn purge(
    db: &Database,
    keyring: &Keyring,
    settings: &RetentionSettings,
    now: Timestamp,
) -> anyhow::Result<RetentionReport> {
    let mut done = RetentionReport::default();
    for category in RetentionCategory::ALL {
        let Some(days) = settings.period_days(category) else {
            done.communications.insert(category.as_str().to_owned(), 0);
            continue;
        };
        let mut total = 0;
        loop {
            let purged = purge_batch(db, keyring, category, days, now).await?;
            total += purged;
            if purged < BATCH {
                break;
            }
        }
        done.communications
            .insert(category.as_str().to_owned(), total);
    }
    Ok(done)
}

/// Purges one batch of `category` in one transaction, with its audit events.
async fn purge_batch(
    db: &Database,
    keyring: &Keyring,
    category: RetentionCategory,
    days: u32,
    now: Timestamp,
) -> anyhow::Result<u64> {
    let txn = db.begin().await?;
    let rows = due(category, days, None, now)
        .order_by_asc(communications::Column::OccurredAt)
        .limit(BATCH)
        .all(&*txn)
        .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = keyring.facility(row.facility_id).await?;
        let blank = RowSealer::new(&key, communications::TABLE, row.id).text("summary", "");
        let mut active: communications::ActiveModel = row.clone().into();
        active.summary = ActiveValue::Set(blank);
        active.update(&*txn).await?;
        purge::ActiveModel {
            communication_id: ActiveValue::Set(row.id),
            facility_id: ActiveValue::Set(row.facility_id),
            retention_category: ActiveValue::Set(category.as_str().to_owned()),
            purged_at: ActiveValue::Set(now),
        }
        .insert(&*txn)
        .await?;
        events.push(purged_event(row, category, days));
    }
    let count = rows.len() as u64;
    audit::commit(txn, events).await?;
    Ok(count)
}

fn purged_event(row: &communications::Model, category: RetentionCategory, days: u32) -> AuditEvent {
    AuditEvent::new(
        AuditActor::System {
            job: JOB.to_owned(),
        },
        AuditAction::Delete,
        "communication_content",
    )
    .resource(row.id)
    .facility(row.facility_id)
    .flag(ComplianceFlag::Phi)
    .changes(redact(
        json!({ "fields": ["summary"], "retention_category": category, "period_days": days }),
        &[],
    ))
    .concerning(row.patient_id, row.lead_id)
}

/// This server's purge, every `purge_interval_secs` until `stop`.
pub fn spawn_purge(
    db: Database,
    keyring: Keyring,
    settings: RetentionSettings,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let every = Duration::from_secs(settings.purge_interval_secs);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            match purge(&db, &keyring, &settings, Timestamp::now()).await {
                Ok(done) => {
                    let purged: u64 = done.communications.values().sum();
                    if purged > 0 {
                        tracing::info!(purged, counts = ?done.communications, "retention purge");
                    }
                }
                Err(e) => tracing::error!(error = %e, "the retention purge failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_of_zero_keeps_for_good() {
        let settings = RetentionSettings::default();
        assert_eq!(settings.period_days(RetentionCategory::Legal), None);
        assert_eq!(
            settings.period_days(RetentionCategory::Marketing),
            Some(730)
        );
    }
}
