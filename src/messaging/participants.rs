//! Who takes part in a conversation (seed 004's
//! `conversation_participants`): their role, when they joined and left, and
//! how far they have read. A participation ends rather than being deleted,
//! so a conversation's history still names everyone who was in it, and
//! joining again brings the same row back.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::conversations;
use crate::db::new_id;
use crate::time::Timestamp;
use crate::transition::{UnknownStoredValue, string_enum};

string_enum! {
    /// A participant's part in a conversation.
    ParticipantRole {
        Owner => "owner",
        Member => "member",
        Observer => "observer",
        Patient => "patient",
        Provider => "provider",
    }
}

pub const TABLE: &str = "conversation_participants";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_participants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub account_id: Uuid,
    pub role: String,
    pub joined_at: Timestamp,
    pub left_at: Option<Timestamp>,
    pub last_read_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A participant as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Participant {
    pub account_id: Uuid,
    pub role: ParticipantRole,
    pub joined_at: Timestamp,
    pub left_at: Option<Timestamp>,
    /// The sequence number of the last message they have read.
    pub last_read_seq: i64,
}

impl TryFrom<&Model> for Participant {
    type Error = UnknownStoredValue;

    fn try_from(row: &Model) -> Result<Self, UnknownStoredValue> {
        Ok(Self {
            account_id: row.account_id,
            role: ParticipantRole::from_stored(&row.role, TABLE, "role", row.id)?,
            joined_at: row.joined_at,
            left_at: row.left_at,
            last_read_seq: row.last_read_seq,
        })
    }
}

/// Someone to add to a conversation.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewParticipant {
    pub account_id: Uuid,
    /// `member` when absent.
    pub role: Option<ParticipantRole>,
}

/// A new, current participation.
fn new_row(
    conversation_id: Uuid,
    account_id: Uuid,
    role: ParticipantRole,
    now: Timestamp,
) -> ActiveModel {
    ActiveModel {
        id: ActiveValue::Set(new_id()),
        conversation_id: ActiveValue::Set(conversation_id),
        account_id: ActiveValue::Set(account_id),
        role: ActiveValue::Set(role.as_str().to_owned()),
        joined_at: ActiveValue::Set(now),
        left_at: ActiveValue::Set(None),
        last_read_seq: ActiveValue::Set(0),
    }
}

/// `account_id`'s participation in the conversation, while current.
pub async fn current(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    account_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::ConversationId.eq(conversation_id))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::LeftAt.is_null())
        .one(db)
        .await
}

/// The conversations among `ids` that `account_id` currently takes part
/// in, with their facilities.
pub async fn participating(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    conversations::Entity::find()
        .select_only()
        .column(conversations::Column::Id)
        .column(conversations::Column::FacilityId)
        .filter(conversations::Column::Id.is_in(ids.iter().copied()))
        .filter(
            conversations::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(Column::ConversationId)
                    .from(Entity)
                    .and_where(Column::AccountId.eq(account_id))
                    .and_where(Column::LeftAt.is_null())
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await
}

/// Every participant (past ones included) of the conversations `ids`.
pub async fn of_conversations(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::ConversationId.is_in(ids.iter().copied()))
        .order_by_asc(Column::JoinedAt)
        .all(db)
        .await
}

/// Adds `account_id`, or brings a past participant back.
pub async fn join(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    account_id: Uuid,
    role: ParticipantRole,
    now: Timestamp,
) -> Result<(), DbErr> {
    let existing = Entity::find()
        .filter(Column::ConversationId.eq(conversation_id))
        .filter(Column::AccountId.eq(account_id))
        .one(db)
        .await?;
    match existing {
        Some(row) if row.left_at.is_none() => Ok(()),
        Some(row) => {
            Entity::update_many()
                .col_expr(Column::LeftAt, Expr::value(None::<i64>))
                .col_expr(Column::JoinedAt, Expr::value(now))
                .col_expr(Column::Role, Expr::value(role.as_str()))
                .filter(Column::Id.eq(row.id))
                .exec(db)
                .await?;
            Ok(())
        }
        None => {
            new_row(conversation_id, account_id, role, now)
                .insert(db)
                .await?;
            Ok(())
        }
    }
}

/// Ends `account_id`'s participation; whether they were a participant.
pub async fn leave(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    account_id: Uuid,
    now: Timestamp,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::LeftAt, Expr::value(now))
        .filter(Column::ConversationId.eq(conversation_id))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::LeftAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Moves the caller's read marker forward to `seq` (never back).
pub async fn mark_read(
    db: &impl ConnectionTrait,
    participant_id: Uuid,
    seq: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::LastReadSeq, Expr::value(seq))
        .filter(Column::Id.eq(participant_id))
        .filter(Column::LastReadSeq.lt(seq))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_participant_with_an_unknown_role_is_an_error_not_a_member() {
        let row = Model {
            id: Uuid::from_u128(9),
            conversation_id: Uuid::from_u128(2),
            account_id: Uuid::from_u128(3),
            role: "member".to_owned(),
            joined_at: Timestamp::now(),
            left_at: None,
            last_read_seq: 0,
        };
        let shown = Participant::try_from(&row).unwrap();
        assert_eq!(shown.role, ParticipantRole::Member);
        let bad = Model {
            role: "owner?".to_owned(),
            ..row
        };
        let error = Participant::try_from(&bad).unwrap_err();
        assert_eq!(
            (error.table, error.column, error.row),
            (TABLE, "role", bad.id)
        );
    }
}
