//! Lead writes, given the scope. Each change takes a lead the caller read
//! in its scope and writes it with the scope's facility in the UPDATE, so
//! a lead from anywhere else is never changed.

use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, DbErr, TryIntoModel};
use uuid::Uuid;

use super::interest_priorities;
use crate::crm::leads::{
    self, LeadChanges, LeadStatus, NewLead, Placement, Readiness, ReviewStatus,
};
use crate::crm::score::ScoreInputs;
use crate::crypto::{DataKey, RowSealer};
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// Writes the changed columns of a lead of the scope's facility.
async fn save(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: leads::ActiveModel,
) -> Result<leads::Model, DbErr> {
    crate::db::update_in_facility(db, row, leads::Column::FacilityId, scope.facility_id()).await
}

/// The sealed, scored row of a new lead of the scope's facility, created
/// by the scope's account.
fn sealed_new(
    scope: &FacilityScope,
    key: &DataKey,
    id: Uuid,
    new: &NewLead,
    place: Placement,
    now: Timestamp,
) -> leads::ActiveModel {
    leads::seal_new(
        key,
        id,
        scope.facility_id(),
        new,
        place,
        scope.account_id(),
        now,
    )
}

/// Writes a new lead (without its interests and first moves).
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    id: Uuid,
    new: &NewLead,
    place: Placement,
    now: Timestamp,
) -> Result<leads::Model, DbErr> {
    sealed_new(scope, key, id, new, place, now)
        .insert(txn)
        .await
}

/// A new lead as [`super::insert_imported`] will write it: sealed now, so
/// that an import seals its rows before it takes the write lock.
pub fn seal_imported(
    scope: &FacilityScope,
    key: &DataKey,
    id: Uuid,
    new: &NewLead,
    place: Placement,
    now: Timestamp,
) -> Result<leads::Model, DbErr> {
    sealed_new(scope, key, id, new, place, now).try_into_model()
}

/// The lead's score from its row and interests, as of now.
pub(in crate::crm) async fn rescore(
    db: &impl ConnectionTrait,
    lead_id: Uuid,
    mut row: leads::ActiveModel,
) -> Result<leads::ActiveModel, DbErr> {
    let priorities = interest_priorities(db, lead_id).await?;
    let readiness =
        Readiness::from_stored(row.readiness.as_ref(), leads::TABLE, "readiness", lead_id)?;
    let source = row.source.as_ref().clone();
    let score = ScoreInputs {
        readiness,
        source: &source,
        interests: &priorities,
        calls: *row.number_of_calls.as_ref(),
        replies: *row.replies.as_ref(),
        chat_messages: *row.chat_messages.as_ref(),
        last_activity: *row.last_activity_at.as_ref(),
    }
    .score(Timestamp::now());
    row.score = ActiveValue::Set(score.total);
    row.score_factors = ActiveValue::Set(score.factors_json());
    Ok(row)
}

/// Applies a lead's sealed changes and rescores it (its interests, when
/// they change, are replaced first with [`super::replace_interests`]);
/// `source` is the changed source matched to the facility's catalogue.
pub async fn update(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    row: leads::Model,
    changes: &LeadChanges,
    source: Option<&leads::SourceChoice>,
    now: Timestamp,
) -> Result<leads::Model, DbErr> {
    let lead_id = row.id;
    let mut active = leads::seal_changes(key, row, changes, source);
    active.updated_at = ActiveValue::Set(now);
    save(txn, scope, rescore(txn, lead_id, active).await?).await
}

/// Moves a lead to `to` (the caller checked the move), with the outcome
/// when one is given. Moving to `contacted` is the lead's first contact if
/// it had none; moving to `qualified` puts it up for clinical review.
pub async fn set_status(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    row: leads::Model,
    to: LeadStatus,
    outcome: Option<&str>,
    now: Timestamp,
) -> Result<leads::Model, DbErr> {
    let first_contact = row.first_contacted_at.is_none() && to == LeadStatus::Contacted;
    let lead_id = row.id;
    let mut active: leads::ActiveModel = row.into();
    active.status = ActiveValue::Set(to.as_str().to_owned());
    if let Some(outcome) = outcome {
        active.outcome = ActiveValue::Set(None);
        active.sealed_outcome = ActiveValue::Set(Some(leads::seal_outcome(key, lead_id, outcome)));
    }
    if first_contact {
        active.first_contacted_at = ActiveValue::Set(Some(now));
        active.last_contacted_at = ActiveValue::Set(Some(now));
    }
    if to == LeadStatus::Qualified {
        active.review_status = ActiveValue::Set(ReviewStatus::Pending.as_str().to_owned());
    }
    active.updated_at = ActiveValue::Set(now);
    save(txn, scope, active).await
}

/// Moves a lead to another stage of its pipeline.
pub async fn set_stage(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: leads::Model,
    stage_id: Uuid,
    now: Timestamp,
) -> Result<leads::Model, DbErr> {
    let mut active: leads::ActiveModel = row.into();
    active.stage_id = ActiveValue::Set(stage_id);
    active.updated_at = ActiveValue::Set(now);
    save(txn, scope, active).await
}

/// Counts a call made to a lead now: it was contacted (first contacted now
/// if never before), with the outcome when one is given; then rescores it.
pub async fn record_call(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    row: leads::Model,
    outcome: Option<&str>,
    now: Timestamp,
) -> Result<leads::Model, DbErr> {
    let lead_id = row.id;
    let calls = row.number_of_calls.saturating_add(1);
    let first = row.first_contacted_at.unwrap_or(now);
    let mut active: leads::ActiveModel = row.into();
    active.number_of_calls = ActiveValue::Set(calls);
    active.first_contacted_at = ActiveValue::Set(Some(first));
    active.last_contacted_at = ActiveValue::Set(Some(now));
    if let Some(outcome) = outcome {
        active.outcome = ActiveValue::Set(None);
        active.sealed_outcome = ActiveValue::Set(Some(leads::seal_outcome(key, lead_id, outcome)));
    }
    active.updated_at = ActiveValue::Set(now);
    save(txn, scope, rescore(txn, lead_id, active).await?).await
}

/// Where a lead's clinical review goes.
pub enum ReviewChange<'a> {
    /// Up for review: a decision taken before is cleared from the lead
    /// (the audit log keeps it).
    Pending,
    /// Decided by the scope's account, with its reason (sealed here).
    Decided {
        status: ReviewStatus,
        reason: Option<&'a str>,
    },
}

/// Stores a change of a lead's clinical review.
pub async fn set_review(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    row: leads::Model,
    change: ReviewChange<'_>,
    now: Timestamp,
) -> Result<leads::Model, DbErr> {
    let seal = RowSealer::new(key, leads::TABLE, row.id);
    let mut active: leads::ActiveModel = row.into();
    let (status, reason, by, at) = match change {
        ReviewChange::Pending => (ReviewStatus::Pending, None, None, None),
        ReviewChange::Decided { status, reason } => (
            status,
            seal.optional_text("review_reason", reason),
            Some(scope.account_id()),
            Some(now),
        ),
    };
    active.review_status = ActiveValue::Set(status.as_str().to_owned());
    active.review_reason = ActiveValue::Set(reason);
    active.reviewed_by = ActiveValue::Set(by);
    active.reviewed_at = ActiveValue::Set(at);
    active.updated_at = ActiveValue::Set(now);
    save(txn, scope, active).await
}

/// Moves a lead of the scope's facility from `from` to `to` (the caller
/// checked the move), only if it is still `from`: the move an event makes
/// by itself ([`crate::crm::lifecycle`]). Contact times are the event's
/// own business, not the move's. Returns the moved lead, or `None` when it
/// had moved meanwhile.
pub async fn follow_status(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: &leads::Model,
    from: LeadStatus,
    to: LeadStatus,
    now: Timestamp,
) -> Result<Option<leads::Model>, DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut update = leads::Entity::update_many()
        .col_expr(leads::Column::Status, Expr::value(to.as_str()))
        .col_expr(leads::Column::UpdatedAt, Expr::value(now));
    if to == LeadStatus::Qualified {
        update = update.col_expr(
            leads::Column::ReviewStatus,
            Expr::value(ReviewStatus::Pending.as_str()),
        );
    }
    let done = update
        .filter(leads::Column::FacilityId.eq(scope.facility_id()))
        .filter(leads::Column::Id.eq(row.id))
        .filter(leads::Column::Status.eq(from.as_str()))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Ok(None);
    }
    super::find(txn, scope, row.id).await
}
