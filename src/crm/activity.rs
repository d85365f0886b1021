//! What a lead's conversations add to it: replies, chat messages, when we
//! last heard from it and when we last reached out. Communications and chat
//! activity arrive from integrations, often several at once for one lead,
//! so counters are incremented by the database (`replies = replies + 1`),
//! never read, changed and written back, and times only ever move towards
//! "earlier first contact, later last activity" whatever order events
//! arrive in. The score is then recomputed from the row as it now stands.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait};

use super::leads::{self, Column};
use super::store::rescore;
use crate::time::Timestamp;

/// What happened with a lead, to be added to its row.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeadActivity {
    /// Inbound communications from the lead.
    pub replies: i32,
    /// Messages in its web chats.
    pub chat_messages: i32,
    /// When the lead itself was last active (a reply, a chat message).
    pub active_at: Option<Timestamp>,
    /// When we reached out to the lead.
    pub contacted_at: Option<Timestamp>,
}

impl LeadActivity {
    fn is_empty(&self) -> bool {
        self.replies == 0
            && self.chat_messages == 0
            && self.active_at.is_none()
            && self.contacted_at.is_none()
    }
}

/// `column` set to `at` when it is empty or earlier than `at`.
fn later(column: Column, at: Timestamp) -> Expr {
    Expr::case(
        Condition::any().add(column.is_null()).add(column.lt(at)),
        Expr::value(at),
    )
    .finally(Expr::col(column))
    .into()
}

/// `column` set to `at` when it is empty or later than `at`.
fn earlier(column: Column, at: Timestamp) -> Expr {
    Expr::case(
        Condition::any().add(column.is_null()).add(column.gt(at)),
        Expr::value(at),
    )
    .finally(Expr::col(column))
    .into()
}

/// Adds `activity` to the lead and rescores it, in the caller's
/// transaction; returns the lead as it now is. The lead must exist (the
/// caller found it in its scope).
pub async fn record(
    txn: &impl ConnectionTrait,
    lead_id: Uuid,
    activity: LeadActivity,
) -> Result<leads::Model, DbErr> {
    let now = Timestamp::now();
    if !activity.is_empty() {
        let mut update = leads::Entity::update_many()
            .filter(Column::Id.eq(lead_id))
            .col_expr(Column::UpdatedAt, Expr::value(now));
        if activity.replies != 0 {
            update = update.col_expr(
                Column::Replies,
                Expr::col(Column::Replies).add(activity.replies),
            );
        }
        if activity.chat_messages != 0 {
            update = update.col_expr(
                Column::ChatMessages,
                Expr::col(Column::ChatMessages).add(activity.chat_messages),
            );
        }
        if let Some(at) = activity.active_at {
            update = update.col_expr(Column::LastActivityAt, later(Column::LastActivityAt, at));
        }
        if let Some(at) = activity.contacted_at {
            update = update
                .col_expr(
                    Column::FirstContactedAt,
                    earlier(Column::FirstContactedAt, at),
                )
                .col_expr(Column::LastContactedAt, later(Column::LastContactedAt, at));
        }
        update.exec(txn).await?;
    }
    let row = leads::Entity::find_by_id(lead_id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("lead {lead_id}")))?;
    let mut active = rescore(txn, lead_id, row.into()).await?;
    active.updated_at = ActiveValue::Set(now);
    active.update(txn).await
}
