//! Messages (seeds 002 and 004): a body sealed under the facility's key,
//! a type, the AI model and confidence of the assistant's answers, a
//! sensitive flag, replies and threads, edits that keep the earlier body,
//! and soft deletion.
//!
//! Each message takes the next sequence number of its conversation while
//! holding the conversation's row lock, so numbers follow commit order with
//! no gaps between committed messages: a client that has seen `seq` n
//! catches up with `after=n` and misses nothing.

use std::collections::HashMap;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::conversations;
pub use super::message_history::{MessageRevision, delete, edit, revisions};
pub use super::message_input::{MessageEdit, NewMessage};
use super::participants;
use crate::crypto::{DataKey, RowSealer, Sealed};
use crate::db::new_id;
use crate::error::ApiError;
use crate::time::Timestamp;
use crate::transition::{UnknownStoredValue, string_enum};

pub const TABLE: &str = "messages";
pub const EDITS_TABLE: &str = "message_edits";
pub const PHI_FIELDS: &[&str] = &["body", "metadata"];
/// The longest body, in characters.
pub const MAX_BODY: usize = 10_000;

string_enum! {
    /// Seed 004's types (text, file, mixed, system) and seed 002's
    /// (document_upload, system_notification, ai_response, query_result).
    MessageType {
        Text => "text",
        File => "file",
        Mixed => "mixed",
        System => "system",
        DocumentUpload => "document_upload",
        SystemNotification => "system_notification",
        AiResponse => "ai_response",
        QueryResult => "query_result",
    }
}

impl MessageType {
    /// Written by carebase itself, never through the API.
    pub fn is_system(self) -> bool {
        matches!(self, MessageType::System | MessageType::SystemNotification)
    }

    /// Written by the AI assistant (no sender).
    pub fn is_assistant(self) -> bool {
        matches!(self, MessageType::AiResponse | MessageType::QueryResult)
    }
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub sender_id: Option<Uuid>,
    pub message_type: String,
    pub body: Option<Sealed>,
    pub ai_model: Option<String>,
    pub ai_confidence: Option<f64>,
    pub is_sensitive: bool,
    pub parent_message_id: Option<Uuid>,
    pub thread_id: Option<Uuid>,
    pub metadata: Option<Sealed>,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub deleted_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn kind(&self) -> Result<MessageType, UnknownStoredValue> {
        MessageType::from_stored(&self.message_type, TABLE, "message_type", self.id)
    }
}

/// A message as the API shows it. A deleted message keeps its place (its
/// `seq`) with no body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// Its place in the conversation: 1, 2, 3, … in commit order.
    pub seq: i64,
    /// Absent for the AI assistant.
    pub sender_id: Option<Uuid>,
    pub sender_name: Option<String>,
    pub message_type: MessageType,
    pub body: Option<String>,
    pub ai_model: Option<String>,
    pub ai_confidence: Option<f64>,
    pub is_sensitive: bool,
    pub parent_message_id: Option<Uuid>,
    pub thread_id: Option<Uuid>,
    pub metadata: Option<serde_json::Value>,
    /// Its files (absent once the message is deleted).
    #[serde(default)]
    pub attachments: Vec<super::attachments::Attachment>,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl Message {
    /// With its files, unless it was deleted.
    pub fn with_attachments(mut self, files: Option<Vec<super::attachments::Attachment>>) -> Self {
        if self.deleted_at.is_none() {
            self.attachments = files.unwrap_or_default();
        }
        self
    }

    pub fn open(key: &DataKey, row: &Model, sender_name: Option<String>) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        let deleted = row.deleted_at.is_some();
        let body = if deleted {
            None
        } else {
            seal.open_optional_text("body", &row.body)?
        };
        let metadata = match (&row.metadata, deleted) {
            (Some(sealed), false) => Some(seal.open_json("metadata", sealed)?),
            _ => None,
        };
        Ok(Self {
            id: row.id,
            conversation_id: row.conversation_id,
            seq: row.seq,
            sender_id: row.sender_id,
            sender_name,
            message_type: row.kind()?,
            body,
            ai_model: row.ai_model.clone(),
            ai_confidence: row.ai_confidence,
            is_sensitive: row.is_sensitive,
            parent_message_id: row.parent_message_id,
            thread_id: row.thread_id,
            metadata,
            attachments: Vec::new(),
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted_at: row.deleted_at,
        })
    }
}

/// Which messages a list returns: newest first before a cursor (the
/// default: the latest page), or oldest first after one (catching up).
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageWindow {
    /// Messages with a smaller `seq`, newest first.
    pub before: Option<i64>,
    /// Messages with a greater `seq`, oldest first (what a reconnecting
    /// client missed).
    pub after: Option<i64>,
    /// Only this thread.
    pub thread_id: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// A page of messages.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<Message>,
    /// Pass as `before` (newest-first pages) or `after` (catching up) for
    /// the next page; absent on the last one.
    pub next_cursor: Option<i64>,
}

/// Takes the next sequence number of `conversation`, read after its row
/// lock was taken in this transaction (`conversations::reach_for_update`),
/// and stamps its last message time. Holding the lock, the number read is
/// the current one; the update checks it all the same.
pub async fn next_seq(
    db: &impl ConnectionTrait,
    conversation: &conversations::Model,
    now: Timestamp,
) -> Result<i64, DbErr> {
    use conversations::Column;
    let seq = conversation.last_seq + 1;
    let updated = conversations::Entity::update_many()
        .col_expr(Column::LastSeq, Expr::value(seq))
        .col_expr(Column::LastMessageAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(conversation.id))
        .filter(Column::LastSeq.eq(conversation.last_seq))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(seq)
}

/// What a new message row holds besides its body.
pub struct Envelope {
    pub facility_id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub sender_id: Option<Uuid>,
    pub parent: Option<Model>,
    pub now: Timestamp,
}

fn seal_new(key: &DataKey, envelope: &Envelope, new: &NewMessage) -> ActiveModel {
    let id = new_id();
    let seal = RowSealer::new(key, TABLE, id);
    let thread_id = envelope
        .parent
        .as_ref()
        .map(|parent| parent.thread_id.unwrap_or(parent.id));
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(envelope.facility_id),
        conversation_id: ActiveValue::Set(envelope.conversation_id),
        seq: ActiveValue::Set(envelope.seq),
        sender_id: ActiveValue::Set(envelope.sender_id),
        message_type: ActiveValue::Set(new.kind().as_str().to_owned()),
        body: ActiveValue::Set(seal.optional_text("body", new.body.as_deref())),
        ai_model: ActiveValue::Set(new.ai_model.clone()),
        ai_confidence: ActiveValue::Set(new.ai_confidence.map(|c| (c * 100.0).round() / 100.0)),
        is_sensitive: ActiveValue::Set(new.is_sensitive),
        parent_message_id: ActiveValue::Set(envelope.parent.as_ref().map(|p| p.id)),
        thread_id: ActiveValue::Set(thread_id),
        metadata: ActiveValue::Set(new.metadata.as_ref().map(|m| seal.json("metadata", m))),
        created_at: ActiveValue::Set(envelope.now),
        edited_at: ActiveValue::Set(None),
        deleted_at: ActiveValue::Set(None),
        deleted_by: ActiveValue::Set(None),
    }
}

/// Writes a new message (the envelope's sequence number taken with
/// [`next_seq`]).
pub async fn insert(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    envelope: &Envelope,
    new: &NewMessage,
) -> Result<Model, DbErr> {
    seal_new(key, envelope, new).insert(txn).await
}

/// Seals a system message of carebase's own (a call missed, a link ended).
pub fn seal_system(key: &DataKey, envelope: &Envelope, text: &str) -> ActiveModel {
    let new = NewMessage {
        body: Some(text.to_owned()),
        message_type: Some(MessageType::System),
        parent_message_id: None,
        is_sensitive: false,
        metadata: None,
        ai_model: None,
        ai_confidence: None,
        attachment_ids: Vec::new(),
    };
    seal_new(key, envelope, &new)
}

pub async fn find(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    message_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(message_id)
        .filter(Column::ConversationId.eq(conversation_id))
        .one(db)
        .await
}

/// A window of a conversation's messages.
pub async fn window(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    window: &MessageWindow,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::ConversationId.eq(conversation_id))
        .limit(limit);
    if let Some(thread) = window.thread_id {
        query = query.filter(Column::ThreadId.eq(thread));
    }
    query = match (window.after, window.before) {
        (Some(after), _) => query
            .filter(Column::Seq.gt(after))
            .order_by_asc(Column::Seq),
        (None, Some(before)) => query
            .filter(Column::Seq.lt(before))
            .order_by_desc(Column::Seq),
        (None, None) => query.order_by_desc(Column::Seq),
    };
    query.all(db).await
}

/// How many messages from others each of `conversation_ids` holds after
/// `account_id`'s read marker: one grouped query for a whole page.
pub async fn unread_counts(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    conversation_ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>, DbErr> {
    if conversation_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let (m, p) = (Alias::new("m"), Alias::new("p"));
    let query = Query::select()
        .expr_as(
            Expr::col((m.clone(), Column::ConversationId)),
            Alias::new("conversation_id"),
        )
        .expr_as(
            Func::count(Expr::col((m.clone(), Column::Id))),
            Alias::new("unread"),
        )
        .from_as(Entity, m.clone())
        .join_as(
            sea_orm::JoinType::InnerJoin,
            participants::Entity,
            p.clone(),
            Expr::col((p.clone(), participants::Column::ConversationId))
                .equals((m.clone(), Column::ConversationId)),
        )
        .and_where(Expr::col((p.clone(), participants::Column::AccountId)).eq(account_id))
        .and_where(Expr::col((m.clone(), Column::ConversationId)).is_in(conversation_ids.to_vec()))
        .and_where(
            Expr::col((m.clone(), Column::Seq))
                .gt(Expr::col((p.clone(), participants::Column::LastReadSeq))),
        )
        .and_where(
            Expr::col((m.clone(), Column::SenderId))
                .is_null()
                .or(Expr::col((m.clone(), Column::SenderId)).ne(account_id)),
        )
        .and_where(Expr::col((m.clone(), Column::DeletedAt)).is_null())
        .group_by_col((m, Column::ConversationId))
        .to_owned();
    let rows = db.query_all(&query).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<Uuid>("", "conversation_id")?,
                row.try_get::<i64>("", "unread")?,
            ))
        })
        .collect()
}
