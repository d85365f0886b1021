//! A message's earlier bodies: an edit or a soft deletion first keeps the
//! current body, sealed, as a revision that admins can read.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::messages::{ActiveModel, EDITS_TABLE, Model, TABLE};
use crate::crypto::{DataKey, RowSealer};
use crate::db::new_id;
use crate::error::ApiError;
use crate::time::Timestamp;

/// The table of earlier bodies.
pub mod edit {
    use sea_orm::entity::prelude::*;

    use crate::crypto::Sealed;
    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_edits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub message_id: Uuid,
        pub body: Option<Sealed>,
        pub edited_by: Uuid,
        pub edited_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An earlier body of a message (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageRevision {
    /// The body as it was before `edited_at` (absent: it had none).
    pub body: Option<String>,
    pub edited_by: Uuid,
    pub edited_at: Timestamp,
}

/// Keeps a message's current body as a revision, then writes the new one.
pub async fn edit(
    db: &impl ConnectionTrait,
    key: &DataKey,
    row: &Model,
    body: Option<&str>,
    by: Uuid,
    now: Timestamp,
) -> Result<Model, DbErr> {
    keep_revision(db, key, row, by, now).await?;
    let seal = RowSealer::new(key, TABLE, row.id);
    let mut active: ActiveModel = row.clone().into();
    active.body = ActiveValue::Set(seal.optional_text("body", body));
    active.edited_at = ActiveValue::Set(Some(now));
    active.update(db).await
}

/// Soft-deletes a message: its body moves to the edit history (admins can
/// still read it there) and the message keeps its place with none.
pub async fn delete(
    db: &impl ConnectionTrait,
    key: &DataKey,
    row: &Model,
    by: Uuid,
    now: Timestamp,
) -> Result<Model, DbErr> {
    keep_revision(db, key, row, by, now).await?;
    let mut active: ActiveModel = row.clone().into();
    active.body = ActiveValue::Set(None);
    active.metadata = ActiveValue::Set(None);
    active.deleted_at = ActiveValue::Set(Some(now));
    active.deleted_by = ActiveValue::Set(Some(by));
    active.update(db).await
}

async fn keep_revision(
    db: &impl ConnectionTrait,
    key: &DataKey,
    row: &Model,
    by: Uuid,
    now: Timestamp,
) -> Result<(), DbErr> {
    let body = RowSealer::new(key, TABLE, row.id)
        .open_optional_text("body", &row.body)
        .map_err(|_| DbErr::Custom("a message body could not be opened".to_owned()))?;
    let id = new_id();
    edit::ActiveModel {
        id: ActiveValue::Set(id),
        message_id: ActiveValue::Set(row.id),
        body: ActiveValue::Set(
            RowSealer::new(key, EDITS_TABLE, id).optional_text("body", body.as_deref()),
        ),
        edited_by: ActiveValue::Set(by),
        edited_at: ActiveValue::Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A message's earlier bodies, oldest first.
pub async fn revisions(
    db: &impl ConnectionTrait,
    key: &DataKey,
    message_id: Uuid,
) -> Result<Vec<MessageRevision>, ApiError> {
    let rows = edit::Entity::find()
        .filter(edit::Column::MessageId.eq(message_id))
        .order_by_asc(edit::Column::EditedAt)
        .order_by_asc(edit::Column::Id)
        .limit(500)
        .all(db)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(MessageRevision {
                body: RowSealer::new(key, EDITS_TABLE, row.id)
                    .open_optional_text("body", &row.body)?,
                edited_by: row.edited_by,
                edited_at: row.edited_at,
            })
        })
        .collect()
}
