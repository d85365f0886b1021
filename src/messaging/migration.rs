//! The messaging tables (seeds 002 and 004): conversations (direct per
//! care-team link, or facility group conversations), their participants
//! with read state, messages with their edit history, attachments and
//! video calls.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema::{self, col, optional_uuid, sealed, uuid};

// The allowed values as they were when this migration was written; a test
// keeps them equal to the types. A later value needs a later migration.
pub(super) const CONVERSATION_KINDS: [&str; 2] = ["direct", "group"];
pub(super) const CONVERSATION_TYPES: [&str; 3] = ["general", "patient_specific", "administrative"];
pub(super) const CONVERSATION_STATUSES: [&str; 4] =
    ["active", "escalated", "completed", "archived"];
pub(super) const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
pub(super) const PARTICIPANT_ROLES: [&str; 5] =
    ["owner", "member", "observer", "patient", "provider"];
pub(super) const MESSAGE_TYPES: [&str; 8] = [
    "text",
    "file",
    "mixed",
    "system",
    "document_upload",
    "system_notification",
    "ai_response",
    "query_result",
];
pub(super) const ATTACHMENT_STATUSES: [&str; 2] = ["pending", "stored"];
pub(super) const CALL_STATUSES: [&str; 7] = [
    "scheduled",
    "ringing",
    "active",
    "ended",
    "missed",
    "canceled",
    "failed",
];

fn counter(name: &str) -> ColumnDef {
    ColumnDef::new(col(name))
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn flag(name: &str) -> ColumnDef {
    ColumnDef::new(col(name))
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

fn text(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).string().not_null().to_owned()
}

fn optional_text(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).string().to_owned()
}

pub struct CreateMessaging;

impl MigrationName for CreateMessaging {
    fn name(&self) -> &str {
        "m20261126_000140_messaging"
    }
}

/// A participant's conversations are found by account; a conversation's
/// messages by sequence (the cursor); calls by conversation, and ringing
/// calls by when they started ringing (the missed-call sweep).
const INDEXES: [(&str, &[&str]); 6] = [
    ("conversations", &["facility_id", "last_message_at"]),
    (
        "conversation_participants",
        &["account_id", "conversation_id"],
    ),
    ("message_edits", &["message_id"]),
    ("message_attachments", &["message_id"]),
    ("video_calls", &["conversation_id", "created_at"]),
    ("video_calls", &["status", "ringing_at"]),
];

const UNIQUE: [(&str, &[&str]); 4] = [
    // One direct conversation per care-team link, so per pair (seed 004).
    ("conversations", &["care_team_link_id"]),
    (
        "conversation_participants",
        &["conversation_id", "account_id"],
    ),
    ("messages", &["conversation_id", "seq"]),
    ("message_attachments", &["upload_token_hash"]),
];

/// Dropped in this order (children first).
const TABLES: [&str; 6] = [
    "video_calls",
    "message_attachments",
    "message_edits",
    "messages",
    "conversation_participants",
    "conversations",
];

#[async_trait::async_trait]
impl MigrationTrait for CreateMessaging {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            conversations(),
            participants(),
            messages(),
            message_edits(),
            attachments(),
            video_calls(),
        ];
        schema::create_all(manager, tables, &INDEXES, &UNIQUE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_all(manager, &TABLES).await
    }
}

fn conversations() -> TableCreateStatement {
    let t = "conversations";
    Table::create()
        .table(col(t))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(schema::enumeration(t, "kind", &CONVERSATION_KINDS))
        .col(sealed("title"))
        .col(schema::enumeration(
            t,
            "conversation_type",
            &CONVERSATION_TYPES,
        ))
        .col(optional_uuid("patient_id"))
        // Direct conversations: the provider and the link they belong to.
        .col(optional_uuid("provider_id"))
        .col(optional_uuid("care_team_link_id"))
        .col(schema::enumeration(t, "status", &CONVERSATION_STATUSES))
        .col(schema::enumeration(t, "priority", &PRIORITIES))
        // A JSON array of strings.
        .col(text("tags"))
        .col(sealed("metadata"))
        .col(uuid("created_by"))
        .col(optional_uuid("archived_by"))
        .col(schema::optional_timestamp(col("archived_at")))
        // Bumped by every message: its sequence number, and the row lock
        // that orders a conversation's messages (see `messages::next_seq`).
        .col(counter("last_seq"))
        .col(schema::optional_timestamp(col("last_message_at")))
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(t, "facility_id", "facilities"))
        .foreign_key(&mut schema::foreign_key(t, "patient_id", "patients"))
        .foreign_key(&mut schema::foreign_key(t, "provider_id", "accounts"))
        .foreign_key(&mut schema::foreign_key(
            t,
            "care_team_link_id",
            "care_team_links",
        ))
        .to_owned()
}

fn participants() -> TableCreateStatement {
    let t = "conversation_participants";
    Table::create()
        .table(col(t))
        .col(schema::id(col("id")))
        .col(uuid("conversation_id"))
        .col(uuid("account_id"))
        .col(schema::enumeration(t, "role", &PARTICIPANT_ROLES))
        .col(schema::timestamp(col("joined_at")))
        .col(schema::optional_timestamp(col("left_at")))
        // The sequence number of the last message the participant has read.
        .col(counter("last_read_seq"))
        .foreign_key(&mut schema::foreign_key(
            t,
            "conversation_id",
            "conversations",
        ))
        .foreign_key(&mut schema::foreign_key(t, "account_id", "accounts"))
        .to_owned()
}

fn messages() -> TableCreateStatement {
    let t = "messages";
    Table::create()
        .table(col(t))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(uuid("conversation_id"))
        .col(
            ColumnDef::new(col("seq"))
                .big_integer()
                .not_null()
                .to_owned(),
        )
        // None: the AI assistant (seed 002).
        .col(optional_uuid("sender_id"))
        .col(schema::enumeration(t, "message_type", &MESSAGE_TYPES))
        .col(sealed("body"))
        .col(optional_text("ai_model"))
        .col(ColumnDef::new(col("ai_confidence")).double().to_owned())
        .col(flag("is_sensitive"))
        .col(optional_uuid("parent_message_id"))
        .col(optional_uuid("thread_id"))
        .col(sealed("metadata"))
        .col(schema::timestamp(col("created_at")))
        .col(schema::optional_timestamp(col("edited_at")))
        .col(schema::optional_timestamp(col("deleted_at")))
        .col(optional_uuid("deleted_by"))
        .foreign_key(&mut schema::foreign_key(
            t,
            "conversation_id",
            "conversations",
        ))
        .foreign_key(&mut schema::foreign_key(t, "sender_id", "accounts"))
        .foreign_key(&mut schema::foreign_key(t, "parent_message_id", "messages"))
        .to_owned()
}

fn message_edits() -> TableCreateStatement {
    let t = "message_edits";
    Table::create()
        .table(col(t))
        .col(schema::id(col("id")))
        .col(uuid("message_id"))
        // The body as it was before this edit.
        .col(sealed("body"))
        .col(uuid("edited_by"))
        .col(schema::timestamp(col("edited_at")))
        .foreign_key(&mut schema::foreign_key(t, "message_id", "messages"))
        .to_owned()
}

fn attachments() -> TableCreateStatement {
    let t = "message_attachments";
    Table::create()
        .table(col(t))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(uuid("conversation_id"))
        .col(optional_uuid("message_id"))
        .col(text("bucket"))
        .col(text("object_path"))
        .col(sealed("file_name"))
        .col(optional_text("mime_type"))
        .col(ColumnDef::new(col("file_size")).big_integer().to_owned())
        .col(optional_text("sha256"))
        .col(schema::enumeration(t, "status", &ATTACHMENT_STATUSES))
        .col(optional_text("upload_token_hash"))
        .col(schema::optional_timestamp(col("upload_expires_at")))
        .col(uuid("uploaded_by"))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            t,
            "conversation_id",
            "conversations",
        ))
        .foreign_key(&mut schema::foreign_key(t, "message_id", "messages"))
        .to_owned()
}

fn video_calls() -> TableCreateStatement {
    let t = "video_calls";
    Table::create()
        .table(col(t))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(uuid("conversation_id"))
        .col(text("provider"))
        .col(text("room_name"))
        // A room URL lets whoever holds it join the call: sealed like an
        // appointment's meeting link.
        .col(sealed("room_url"))
        .col(uuid("started_by"))
        .col(schema::enumeration(t, "status", &CALL_STATUSES))
        .col(schema::optional_timestamp(col("scheduled_for")))
        .col(schema::optional_timestamp(col("ringing_at")))
        .col(schema::optional_timestamp(col("started_at")))
        .col(schema::optional_timestamp(col("ended_at")))
        .col(flag("recording_enabled"))
        .col(sealed("recording_url"))
        .col(optional_text("failure_reason"))
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(
            t,
            "conversation_id",
            "conversations",
        ))
        .foreign_key(&mut schema::foreign_key(t, "started_by", "accounts"))
        .to_owned()
}

/// Single-use tickets that open the realtime socket from a browser, which
/// cannot set `Authorization` on a WebSocket. Only a hash of each is kept.
pub struct CreateRealtimeTickets;

impl MigrationName for CreateRealtimeTickets {
    fn name(&self) -> &str {
        "m20261207_000160_realtime_tickets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRealtimeTickets {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(col("realtime_tickets"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("secret_hash")).binary().not_null())
                    .col(optional_uuid("session_id"))
                    .col(optional_uuid("api_key_id"))
                    .col(ColumnDef::new(col("token_expires_at")).big_integer())
                    .col(schema::timestamp(col("created_at")))
                    .col(schema::timestamp(col("expires_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::unique_index("realtime_tickets", &["secret_hash"]))
            .await?;
        manager
            .create_index(schema::index("realtime_tickets", &["expires_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(col("realtime_tickets")).to_owned())
            .await
    }
}
