//! Lead queries, always through a scope from the policy engine; the
//! changes of one lead are in [`writes`].

mod writes;

use std::collections::HashMap;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveValue, ConnectionTrait, IntoActiveModel, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::history;
use super::lead_sources;
use super::leads::{self, InterestPriority, LeadStatus, Readiness, ReviewStatus, interest};
use crate::crypto::{BlindIndex, DataKey};
use crate::pipelines::store as pipelines;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

pub(in crate::crm) use writes::rescore;
pub use writes::{
    ReviewChange, follow_status, insert, record_call, seal_imported, set_review, set_stage,
    set_status, update,
};

/// The leads of the scope's facility. Every role that reads leads reads all
/// of its facility's; what it may change is narrowed per lead by
/// [`FacilityScope::require_assigned`].
fn visible(scope: &FacilityScope) -> Select<leads::Entity> {
    leads::Entity::find().filter(leads::Column::FacilityId.eq(scope.facility_id()))
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<leads::Model>, DbErr> {
    visible(scope)
        .filter(leads::Column::Id.eq(id))
        .one(db)
        .await
}

/// Which leads a list returns. Seed 000's views are filters: `v_active_leads`
/// is `view=active`, `v_leads_pending_review` is `review=pending`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeadFilter {
    /// `active`: only leads still being worked, not converted (seed 000's
    /// `v_active_leads`).
    #[param(inline)]
    pub view: Option<LeadView>,
    pub status: Option<LeadStatus>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub source: Option<String>,
    pub readiness: Option<Readiness>,
    pub owner_id: Option<Uuid>,
    pub health_coach_id: Option<Uuid>,
    /// `pending`: seed 000's `v_leads_pending_review`.
    pub review: Option<ReviewStatus>,
    /// Leads scoring at least this.
    pub min_score: Option<i32>,
    /// Leads created at or after this instant (RFC 3339).
    pub created_from: Option<Timestamp>,
    /// Leads created before this instant (RFC 3339).
    pub created_to: Option<Timestamp>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// A named list of leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadView {
    /// Leads that are new, contacted, qualified or booked and not yet
    /// converted: a converted lead's life as a lead is over.
    Active,
}

impl LeadFilter {
    /// The filter with its source in the catalogue's spelling, when the
    /// catalogue has it (`" newsletter"` is `Newsletter`).
    pub fn in_catalogue_spelling(mut self, catalogue: &lead_sources::Catalogue) -> Self {
        if let Some(source) = &self.source
            && let Some(name) = catalogue.spelling(source)
        {
            self.source = Some(name.to_owned());
        }
        self
    }

    fn condition(&self, key: &DataKey) -> Condition {
        use leads::Column;
        let mut all = Condition::all();
        if self.view == Some(LeadView::Active) {
            all = all
                .add(Column::Status.is_in(LeadStatus::OPEN.map(LeadStatus::as_str)))
                .add(Column::PatientId.is_null());
        }
        if let Some(status) = self.status {
            all = all.add(Column::Status.eq(status.as_str()));
        }
        let equal_ids = [
            (Column::PipelineId, self.pipeline_id),
            (Column::StageId, self.stage_id),
            (Column::OwnerId, self.owner_id),
            (Column::HealthCoachId, self.health_coach_id),
        ];
        for (column, value) in equal_ids {
            if let Some(value) = value {
                all = all.add(column.eq(value));
            }
        }
        if let Some(source) = &self.source {
            // A catalogue source arrives in the catalogue's spelling
            // ([`LeadFilter::in_catalogue_spelling`]) and is in clear; free
            // text is found by the blind index of its canonical form, or by
            // the one it had before the catalogue.
            all = all.add(
                Condition::any()
                    .add(Column::Source.eq(source.as_str()))
                    .add(Column::SourceKey.eq(lead_sources::free_key(key, source)))
                    .add(Column::SourceIndex.eq(leads::source_index(key, source))),
            );
        }
        if let Some(readiness) = self.readiness {
            all = all.add(Column::Readiness.eq(readiness.as_str()));
        }
        if let Some(review) = self.review {
            all = all.add(Column::ReviewStatus.eq(review.as_str()));
        }
        if let Some(min) = self.min_score {
            all = all.add(Column::Score.gte(min));
        }
        if let Some(from) = self.created_from {
            all = all.add(Column::CreatedAt.gte(from));
        }
        if let Some(to) = self.created_to {
            all = all.add(Column::CreatedAt.lt(to));
        }
        all
    }
}

/// A page of the visible leads matching `filter`, oldest first.
pub async fn page(
    db: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    filter: &LeadFilter,
    limit: u64,
) -> Result<Vec<leads::Model>, DbErr> {
    let mut query = visible(scope)
        .filter(filter.condition(key))
        .order_by_asc(leads::Column::Id)
        .limit(limit);
    if let Some(after) = filter.after {
        query = query.filter(leads::Column::Id.gt(after));
    }
    query.all(db).await
}

/// Visible leads (other than `except`) with this email or phone: the
/// duplicates of a lead about to be written.
pub async fn duplicates(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    email: Option<&BlindIndex>,
    phone: Option<&BlindIndex>,
    except: Option<Uuid>,
) -> Result<Vec<leads::Model>, DbErr> {
    let mut any = Condition::any();
    if let Some(email) = email {
        any = any.add(leads::Column::EmailIndex.eq(email.clone()));
    }
    if let Some(phone) = phone {
        any = any.add(leads::Column::PhoneIndex.eq(phone.clone()));
    }
    if any.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = visible(scope).filter(any).limit(10);
    if let Some(except) = except {
        query = query.filter(leads::Column::Id.ne(except));
    }
    query.all(db).await
}

/// The visible leads with exactly this email or phone index, oldest first.
pub async fn look_up(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    email: Option<&BlindIndex>,
    phone: Option<&BlindIndex>,
    limit: u64,
) -> Result<Vec<leads::Model>, DbErr> {
    let condition = match (email, phone) {
        (Some(email), _) => leads::Column::EmailIndex.eq(email.clone()),
        (None, Some(phone)) => leads::Column::PhoneIndex.eq(phone.clone()),
        (None, None) => return Ok(Vec::new()),
    };
    visible(scope)
        .filter(condition)
        .order_by_asc(leads::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The interests of `leads`, by lead, with one query.
pub async fn interests_of(
    db: &impl ConnectionTrait,
    leads: &[leads::Model],
) -> Result<HashMap<Uuid, Vec<interest::Model>>, DbErr> {
    let mut by_lead: HashMap<Uuid, Vec<interest::Model>> = HashMap::new();
    if leads.is_empty() {
        return Ok(by_lead);
    }
    let rows = interest::Entity::find()
        .filter(interest::Column::LeadId.is_in(leads.iter().map(|l| l.id)))
        .order_by_asc(interest::Column::Id)
        .all(db)
        .await?;
    for row in rows {
        by_lead.entry(row.lead_id).or_default().push(row);
    }
    Ok(by_lead)
}

/// The priorities of a lead's interests, for its score.
pub async fn interest_priorities(
    db: &impl ConnectionTrait,
    lead_id: Uuid,
) -> Result<Vec<InterestPriority>, DbErr> {
    let rows = interest::Entity::find()
        .select_only()
        .column(interest::Column::Id)
        .column(interest::Column::Priority)
        .filter(interest::Column::LeadId.eq(lead_id))
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?;
    let mut priorities = Vec::with_capacity(rows.len());
    for (id, priority) in rows {
        priorities.push(stored_priority(&priority, id)?);
    }
    Ok(priorities)
}

/// The names of the stages `leads` are at, with one query.
pub async fn stage_names(
    db: &impl ConnectionTrait,
    leads: &[leads::Model],
) -> Result<HashMap<Uuid, String>, DbErr> {
    if leads.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids: Vec<Uuid> = leads.iter().map(|l| l.stage_id).collect();
    ids.sort();
    ids.dedup();
    pipelines::stage_names(db, ids).await
}

/// Replaces a lead's interests.
pub async fn replace_interests(
    db: &impl ConnectionTrait,
    lead_id: Uuid,
    rows: Vec<interest::ActiveModel>,
) -> Result<(), DbErr> {
    interest::Entity::delete_many()
        .filter(interest::Column::LeadId.eq(lead_id))
        .exec(db)
        .await?;
    if !rows.is_empty() {
        interest::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Records a move of a lead's status or stage.
pub async fn record_move(
    db: &impl ConnectionTrait,
    lead_id: Uuid,
    change: history::Move,
    actor_id: Option<Uuid>,
    at: Timestamp,
) -> Result<(), DbErr> {
    history::ActiveModel {
        id: ActiveValue::Set(crate::db::new_id()),
        lead_id: ActiveValue::Set(lead_id),
        from_status: ActiveValue::Set(change.from_status.map(|s| s.as_str().to_owned())),
        to_status: ActiveValue::Set(change.to_status.map(|s| s.as_str().to_owned())),
        from_stage_id: ActiveValue::Set(change.from_stage),
        to_stage_id: ActiveValue::Set(change.to_stage),
        actor_id: ActiveValue::Set(actor_id),
        occurred_at: ActiveValue::Set(at),
        cause: ActiveValue::Set(change.cause.map(|c| c.as_str().to_owned())),
        cause_id: ActiveValue::Set(change.cause_id),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A page of a visible lead's moves, newest first.
pub async fn history(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    lead_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Option<Vec<history::Model>>, DbErr> {
    if find(db, scope, lead_id).await?.is_none() {
        return Ok(None);
    }
    let mut query = history::Entity::find()
        .filter(history::Column::LeadId.eq(lead_id))
        .order_by_desc(history::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(history::Column::Id.lt(before));
    }
    Ok(Some(query.all(db).await?))
}

/// The leads converted into (or linked to) a patient: at most a handful,
/// for the patient's timeline (a scope that reads the patient).
pub async fn leads_converted_to(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    patient_id: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    leads::Entity::find()
        .select_only()
        .column(leads::Column::Id)
        .filter(leads::Column::FacilityId.eq(scope.facility_id()))
        .filter(leads::Column::PatientId.eq(patient_id))
        .limit(20)
        .into_tuple()
        .all(db)
        .await
}

/// Parameters per statement of the import's queries and inserts: within
/// SQLite's limit of 32766 at the leads table's 38 columns a row.
const IMPORT_CHUNK: usize = 500;

/// The visible leads with any of these emails or phones, as (id, email
/// index, phone index): the stored duplicates of an import, found with a
/// few queries however long the file.
pub async fn with_contacts(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    emails: &[BlindIndex],
    phones: &[BlindIndex],
) -> Result<Vec<(Uuid, Option<BlindIndex>, Option<BlindIndex>)>, DbErr> {
    let mut found = Vec::new();
    let searches = [
        (leads::Column::EmailIndex, emails),
        (leads::Column::PhoneIndex, phones),
    ];
    for (column, values) in searches {
        for chunk in values.chunks(IMPORT_CHUNK) {
            found.extend(
                visible(scope)
                    .select_only()
                    .column(leads::Column::Id)
                    .column(leads::Column::EmailIndex)
                    .column(leads::Column::PhoneIndex)
                    .filter(column.is_in(chunk.iter().cloned()))
                    .into_tuple::<(Uuid, Option<BlindIndex>, Option<BlindIndex>)>()
                    .all(db)
                    .await?,
            );
        }
    }
    Ok(found)
}

/// Writes imported leads of the scope's facility (from [`seal_imported`]),
/// a few hundred per statement, each with its first move into `stage_id`
/// as `new` by the scope's account.
pub async fn insert_imported(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    rows: Vec<leads::Model>,
    stage_id: Uuid,
    at: Timestamp,
) -> Result<(), DbErr> {
    if let Some(other) = rows.iter().find(|r| r.facility_id != scope.facility_id()) {
        return Err(DbErr::Custom(format!(
            "lead {} is not of the importing facility",
            other.id
        )));
    }
    let actor_id = scope.account_id();
    let moves: Vec<history::ActiveModel> = rows
        .iter()
        .map(|row| history::ActiveModel {
            id: ActiveValue::Set(crate::db::new_id()),
            lead_id: ActiveValue::Set(row.id),
            from_status: ActiveValue::Set(None),
            to_status: ActiveValue::Set(Some(LeadStatus::New.as_str().to_owned())),
            from_stage_id: ActiveValue::Set(None),
            to_stage_id: ActiveValue::Set(Some(stage_id)),
            actor_id: ActiveValue::Set(Some(actor_id)),
            occurred_at: ActiveValue::Set(at),
            cause: ActiveValue::Set(None),
            cause_id: ActiveValue::Set(None),
        })
        .collect();
    let mut rows = rows
        .into_iter()
        .map(|row| row.into_active_model().reset_all())
        .peekable();
    while rows.peek().is_some() {
        leads::Entity::insert_many(rows.by_ref().take(IMPORT_CHUNK).collect::<Vec<_>>())
            .exec_without_returning(db)
            .await?;
    }
    for chunk in moves.chunks(IMPORT_CHUNK) {
        history::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// What a lead's score is computed from, and the score it has: the columns
/// a rescore reads, without the sealed contact details it does not need.
#[derive(Clone, Debug, sea_orm::FromQueryResult)]
pub struct ScoredLead {
    pub id: Uuid,
    pub readiness: String,
    pub source: String,
    pub number_of_calls: i32,
    pub replies: i32,
    pub chat_messages: i32,
    pub last_activity_at: Option<Timestamp>,
    pub score: i32,
    pub score_factors: String,
}

/// A page of the visible leads' score inputs, in id order after `after`.
pub async fn scored_page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ScoredLead>, DbErr> {
    use leads::Column;
    let mut query = visible(scope)
        .select_only()
        .columns([
            Column::Id,
            Column::Readiness,
            Column::Source,
            Column::NumberOfCalls,
            Column::Replies,
            Column::ChatMessages,
            Column::LastActivityAt,
            Column::Score,
            Column::ScoreFactors,
        ])
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.into_model::<ScoredLead>().all(db).await
}

/// The priorities of the interests of `lead_ids`, by lead, with one query
/// (the priority column only: a score needs nothing sealed).
pub async fn interest_priorities_of(
    db: &impl ConnectionTrait,
    lead_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<InterestPriority>>, DbErr> {
    let mut by_lead: HashMap<Uuid, Vec<InterestPriority>> = HashMap::new();
    if lead_ids.is_empty() {
        return Ok(by_lead);
    }
    let rows = interest::Entity::find()
        .select_only()
        .column(interest::Column::Id)
        .column(interest::Column::LeadId)
        .column(interest::Column::Priority)
        .filter(interest::Column::LeadId.is_in(lead_ids.iter().copied()))
        .into_tuple::<(Uuid, Uuid, String)>()
        .all(db)
        .await?;
    for (id, lead_id, priority) in rows {
        let priority = stored_priority(&priority, id)?;
        by_lead.entry(lead_id).or_default().push(priority);
    }
    Ok(by_lead)
}

fn stored_priority(priority: &str, interest_id: Uuid) -> Result<InterestPriority, DbErr> {
    Ok(InterestPriority::from_stored(
        priority,
        leads::INTERESTS_TABLE,
        "priority",
        interest_id,
    )?)
}

/// Stores a recomputed score of a visible lead. `updated_at` stays: it
/// records changes to the lead, and a score fading with time is not one.
pub async fn set_score(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    lead_id: Uuid,
    score: i32,
    factors: String,
) -> Result<(), DbErr> {
    leads::Entity::update_many()
        .col_expr(leads::Column::Score, Expr::value(score))
        .col_expr(leads::Column::ScoreFactors, Expr::value(factors))
        .filter(leads::Column::FacilityId.eq(scope.facility_id()))
        .filter(leads::Column::Id.eq(lead_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Rows per INSERT when writing many: the widest row (a lead, 37 columns)
/// times this stays far below SQLite's 32 766 bind parameters.
const ROWS_PER_INSERT: usize = 500;

/// Writes many sealed leads, their interests and their moves, as loading
/// a whole facility at once needs (`carebase demo`). The caller gives rows
/// of its own facility and runs this in its transaction.
pub async fn insert_many(
    db: &impl ConnectionTrait,
    rows: Vec<leads::ActiveModel>,
    interests: Vec<interest::ActiveModel>,
    moves: Vec<history::ActiveModel>,
) -> Result<(), DbErr> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        leads::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    for chunk in interests.chunks(ROWS_PER_INSERT) {
        interest::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    for chunk in moves.chunks(ROWS_PER_INSERT) {
        history::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
