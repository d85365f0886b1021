//! Conversation queries behind the handlers, through the caller's scope.
//! Reaching one conversation (as a participant or an overseer) is
//! `conversations::reach`; these list, start and change them.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;

use super::conversations::{
    self, ConversationKind, ConversationStatus, ConversationUpdate, NewConversation,
};
use super::participants;
use crate::crypto::{DataKey, RowSealer};
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// Which conversations a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub kind: Option<ConversationKind>,
    pub patient_id: Option<Uuid>,
    /// Facility administrators: every conversation of the facility instead
    /// of their own.
    #[serde(default)]
    pub all: bool,
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The conversations the scope's account takes part in now.
fn mine(scope: &FacilityScope) -> SelectStatement {
    Query::select()
        .column(participants::Column::ConversationId)
        .from(participants::Entity)
        .and_where(participants::Column::AccountId.eq(scope.account_id()))
        .and_where(participants::Column::LeftAt.is_null())
        .to_owned()
}

/// The facility's conversations matching `filter`, in the order they were
/// started: the scope's account's own, or (`filter.all`, which the caller
/// allowed) all of them.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &ConversationFilter,
    limit: u64,
) -> Result<Vec<conversations::Model>, DbErr> {
    use conversations::Column;
    let mut query = conversations::Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if !filter.all {
        query = query.filter(Column::Id.in_subquery(mine(scope)));
    }
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(Column::Kind.eq(kind.as_str()));
    }
    if let Some(patient) = filter.patient_id {
        query = query.filter(Column::PatientId.eq(patient));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// Starts a group conversation in the scope's facility, made by the
/// scope's account (who joins it separately).
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    new: &NewConversation,
    now: Timestamp,
) -> Result<conversations::Model, DbErr> {
    conversations::seal_new(key, scope.facility_id(), new, scope.account_id(), now)
        .insert(txn)
        .await
}

/// Changes the title (sealed), priority or tags `update` gives.
pub async fn update(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    row: &conversations::Model,
    update: &ConversationUpdate,
    now: Timestamp,
) -> Result<conversations::Model, DbErr> {
    let mut active: conversations::ActiveModel = row.clone().into();
    let seal = RowSealer::new(key, conversations::TABLE, row.id);
    if let Some(title) = &update.title {
        active.title = ActiveValue::Set(Some(seal.text("title", title)));
    }
    if let Some(priority) = update.priority {
        active.priority = ActiveValue::Set(priority.as_str().to_owned());
    }
    if let Some(tags) = &update.tags {
        active.tags = ActiveValue::Set(conversations::NO_CLEAR_TAGS.to_owned());
        active.sealed_tags = ActiveValue::Set(conversations::seal_tags(&seal, tags));
    }
    active.updated_at = ActiveValue::Set(now);
    active.update(txn).await
}

/// Moves a conversation to `to` (the caller checked the move), recording
/// who archived it.
pub async fn set_status(
    txn: &impl ConnectionTrait,
    row: &conversations::Model,
    to: ConversationStatus,
    by: Uuid,
    now: Timestamp,
) -> Result<conversations::Model, DbErr> {
    let mut active: conversations::ActiveModel = row.clone().into();
    active.status = ActiveValue::Set(to.as_str().to_owned());
    active.updated_at = ActiveValue::Set(now);
    if to == ConversationStatus::Archived {
        active.archived_by = ActiveValue::Set(Some(by));
        active.archived_at = ActiveValue::Set(Some(now));
    }
    active.update(txn).await
}
