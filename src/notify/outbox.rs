//! The outbox table and its queries.
//!
//! Recipient, subject and body are sealed under the installation data key,
//! bound to their row (`outbox.<column>:<id>`): they carry single-use tokens
//! and may carry PHI, and a database dump must show neither. `kind` and
//! `last_error` stay readable for operations and never hold either.

use std::fmt;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ActiveValue, Condition, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::NotifyError;
use crate::crypto::{DataKey, FieldRef, Keyring, Sealed};
use crate::db::Database;
use crate::time::Timestamp;

/// The table name, also the first part of every sealed field's place.
pub(super) const TABLE: &str = "outbox";

/// The longest page [`list`] returns.
pub const MAX_PAGE: u64 = 500;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub channel: Channel,
    pub recipient: Sealed,
    pub subject: Sealed,
    pub body: Sealed,
    pub kind: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    /// While `sending`: until when the server that claimed it owns it.
    pub claimed_until: Option<Timestamp>,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    /// The facility the message is about, whose administrators read it.
    pub facility_id: Option<Uuid>,
    /// Who caused it (the inviter of an invitation): the one reader who is
    /// shown its code.
    pub requested_by: Option<Uuid>,
    /// Whether the body carries a single-use code for its recipient.
    pub carries_code: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// How a message reaches its recipient.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[sea_orm(string_value = "email")]
    Email,
    /// A text message, sent through Twilio when an account is configured.
    #[sea_orm(string_value = "sms")]
    Sms,
}

/// Where a message is in its delivery.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for a delivery worker, at `next_attempt_at` or later.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Claimed by a worker until `claimed_until`.
    #[sea_orm(string_value = "sending")]
    Sending,
    /// Accepted by the mail server (or by Twilio, for a text).
    #[sea_orm(string_value = "sent")]
    Sent,
    /// Refused for good, or out of attempts; `last_error` says why.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// No transport for its channel was configured when it was written: it
    /// waits here for an administrator to read, and is never sent later.
    #[sea_orm(string_value = "held")]
    Held,
}

/// A message as an administrator reads it, opened.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub channel: Channel,
    /// An email address or a phone number.
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// What the message is for, such as `confirm_email` or `recovery`.
    pub kind: String,
    pub status: OutboxStatus,
    /// Delivery attempts made so far.
    pub attempts: i32,
    /// When a pending message is tried next.
    pub next_attempt_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    /// The last failure as an SMTP reply code, Twilio's status and error
    /// code (`twilio 400 21211`) or a class such as `timeout`; never the
    /// server's text.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    /// The facility the message is about, if any.
    pub facility_id: Option<Uuid>,
    /// Whether the body was withheld: it carries a single-use code (a
    /// recovery or sign-in code) meant for its recipient alone.
    pub code_withheld: bool,
}

impl fmt::Debug for OutboxMessage {
    /// Leaves out recipient, subject and body, which carry tokens and PHI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The plaintext of a stored message.
pub(super) struct Letter {
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

impl Letter {
    pub fn seal(&self, key: &DataKey, id: Uuid) -> (Sealed, Sealed, Sealed) {
        (
            key.seal_str(place("recipient", id), &self.recipient),
            key.seal_str(place("subject", id), &self.subject),
            key.seal_str(place("body", id), &self.body),
        )
    }

    pub fn open(key: &DataKey, row: &Model) -> Result<Self, NotifyError> {
        let open = |column, sealed| {
            key.open_string(place(column, row.id), sealed)
                .map_err(|source| NotifyError::Unreadable { id: row.id, source })
        };
        Ok(Self {
            recipient: open("recipient", &row.recipient)?,
            subject: open("subject", &row.subject)?,
            body: open("body", &row.body)?,
        })
    }
}

fn place(column: &str, id: Uuid) -> FieldRef<'_> {
    FieldRef::new(TABLE, column, id)
}

/// Who reads the outbox, which decides whether codes are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The operator on the server's own command line, who holds the master
    /// key anyway: sees everything.
    Operator,
    /// An account over the API: sees the codes only of messages it caused
    /// (an invitation it sent), never another person's recovery or sign-in
    /// code, so the outbox cannot be turned into someone else's session.
    Account(Uuid),
}

/// What a body that carries someone else's code reads as.
const WITHHELD: &str = "[withheld: this message carries a single-use code for its recipient alone]";

impl OutboxMessage {
    fn open(key: &DataKey, row: Model, reader: Reader) -> Result<Self, NotifyError> {
        let letter = Letter::open(key, &row)?;
        let withheld = row.carries_code
            && match reader {
                Reader::Operator => false,
                Reader::Account(id) => row.requested_by != Some(id),
            };
        Ok(Self {
            id: row.id,
            channel: row.channel,
            recipient: letter.recipient,
            subject: letter.subject,
            body: if withheld {
                WITHHELD.to_owned()
            } else {
                letter.body
            },
            facility_id: row.facility_id,
            code_withheld: withheld,
            kind: row.kind,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            sent_at: row.sent_at,
            last_error: row.last_error,
            created_at: row.created_at,
        })
    }
}

/// Messages newest first, `limit` at most (capped at [`MAX_PAGE`]), those
/// older than the message `after` when given (the last id of the previous
/// page), only those in `status` when given, as the operator sees them.
pub async fn list(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    after: Option<Uuid>,
    limit: u64,
    status: Option<OutboxStatus>,
) -> Result<Vec<OutboxMessage>, NotifyError> {
    let view = OutboxView {
        reader: Reader::Operator,
        facility_id: None,
    };
    page(db, keyring, view, after, limit, status).await
}

/// Whose outbox, read by whom.
#[derive(Clone, Copy, Debug)]
pub struct OutboxView {
    pub reader: Reader,
    /// Only the messages about this facility; every message when none.
    pub facility_id: Option<Uuid>,
}

/// As [`list`], for `view`: its facility's messages only, and codes
/// withheld from readers they are not for.
pub async fn page(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    view: OutboxView,
    after: Option<Uuid>,
    limit: u64,
    status: Option<OutboxStatus>,
) -> Result<Vec<OutboxMessage>, NotifyError> {
    let key = keyring.installation().await?;
    let mut query = Entity::find();
    if let Some(facility_id) = view.facility_id {
        query = query.filter(Column::FacilityId.eq(facility_id));
    }
    if let Some(status) = status {
        query = query.filter(Column::Status.eq(status));
    }
    if let Some(after) = after {
        query = query.filter(older_than(db, after).await?);
    }
    query
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(limit.min(MAX_PAGE))
        .all(db)
        .await?
        .into_iter()
        .map(|row| OutboxMessage::open(&key, row, view.reader))
        .collect()
}

/// One message, opened.
pub async fn get(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    id: Uuid,
) -> Result<Option<OutboxMessage>, NotifyError> {
    let key = keyring.installation().await?;
    match Entity::find_by_id(id).one(db).await? {
        Some(row) => OutboxMessage::open(&key, row, Reader::Operator).map(Some),
        None => Ok(None),
    }
}

/// One message as `view` reads it: `None` when there is no such message
/// or it is not about `view`'s facility.
pub async fn find(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    view: OutboxView,
    id: Uuid,
) -> Result<Option<OutboxMessage>, NotifyError> {
    let mut query = Entity::find_by_id(id);
    if let Some(facility_id) = view.facility_id {
        query = query.filter(Column::FacilityId.eq(facility_id));
    }
    let Some(row) = query.one(db).await? else {
        return Ok(None);
    };
    let key = keyring.installation().await?;
    OutboxMessage::open(&key, row, view.reader).map(Some)
}

/// Rows after the cursor `after` in (created_at, id) descending order. Ids
/// alone nearly sort by time (UUID v7), but two servers' clocks may disagree;
/// created_at is the order the listing promises.
async fn older_than(db: &impl ConnectionTrait, after: Uuid) -> Result<Condition, NotifyError> {
    let created_at: Timestamp = Entity::find_by_id(after)
        .select_only()
        .column(Column::CreatedAt)
        .into_tuple()
        .one(db)
        .await?
        .ok_or(NotifyError::UnknownCursor(after))?;
    Ok(Condition::any().add(Column::CreatedAt.lt(created_at)).add(
        Condition::all()
            .add(Column::CreatedAt.eq(created_at))
            .add(Column::Id.lt(after)),
    ))
}

/// A new row, before it is sealed and inserted.
pub(super) struct NewMessage {
    pub id: Uuid,
    pub channel: Channel,
    pub kind: &'static str,
    pub status: OutboxStatus,
    pub now: Timestamp,
    pub facility_id: Option<Uuid>,
    pub requested_by: Option<Uuid>,
    pub carries_code: bool,
}

pub(super) async fn insert(
    db: &impl ConnectionTrait,
    key: &DataKey,
    new: NewMessage,
    letter: &Letter,
) -> Result<(), DbErr> {
    let (recipient, subject, body) = letter.seal(key, new.id);
    Entity::insert(ActiveModel {
        id: ActiveValue::Set(new.id),
        channel: ActiveValue::Set(new.channel),
        recipient: ActiveValue::Set(recipient),
        subject: ActiveValue::Set(subject),
        body: ActiveValue::Set(body),
        kind: ActiveValue::Set(new.kind.to_owned()),
        status: ActiveValue::Set(new.status),
        attempts: ActiveValue::Set(0),
        next_attempt_at: ActiveValue::Set(new.now),
        claimed_until: ActiveValue::Set(None),
        sent_at: ActiveValue::Set(None),
        last_error: ActiveValue::Set(None),
        created_at: ActiveValue::Set(new.now),
        facility_id: ActiveValue::Set(new.facility_id),
        requested_by: ActiveValue::Set(new.requested_by),
        carries_code: ActiveValue::Set(new.carries_code),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Messages on `channels` (those this server can deliver) a worker may
/// claim at `now`: pending and due, or claimed by a worker whose lease ran
/// out (it crashed or lost its database).
fn claimable(now: Timestamp, channels: &[Channel]) -> Condition {
    Condition::all()
        .add(Column::Channel.is_in(channels.iter().copied()))
        .add(
            Condition::any()
                .add(
                    Condition::all()
                        .add(Column::Status.eq(OutboxStatus::Pending))
                        .add(Column::NextAttemptAt.lte(now)),
                )
                .add(
                    Condition::all()
                        .add(Column::Status.eq(OutboxStatus::Sending))
                        .add(Column::ClaimedUntil.lt(now)),
                ),
        )
}

/// Whether anything is claimable, read without taking SQLite's write lock,
/// so an idle server's polling does not hold up writers.
pub(super) async fn any_claimable(
    db: &Database,
    now: Timestamp,
    channels: &[Channel],
) -> Result<bool, DbErr> {
    let found: Option<Uuid> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(claimable(now, channels))
        .limit(1)
        .into_tuple()
        .one(db.conn())
        .await?;
    Ok(found.is_some())
}

/// Claims up to `limit` claimable messages until `lease_end`, oldest due
/// first. On PostgreSQL the rows are locked with `SKIP LOCKED`, so workers
/// claiming at once take disjoint rows without waiting on each other; on
/// SQLite the transaction holds the one write lock (`BEGIN IMMEDIATE`),
/// which serializes claims outright. Either way the select and the update
/// are one transaction, and a row is claimed by one worker only.
pub(super) async fn claim(
    db: &Database,
    now: Timestamp,
    lease_end: Timestamp,
    limit: u64,
    channels: &[Channel],
) -> Result<Vec<Model>, DbErr> {
    let txn = db.begin().await?;
    let rows = claimable_rows(now, limit, channels).all(&txn).await?;
    if !rows.is_empty() {
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(OutboxStatus::Sending))
            .col_expr(Column::ClaimedUntil, Expr::value(lease_end))
            .filter(Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(rows)
}

/// What became of one delivery attempt.
pub(super) enum Outcome {
    Sent,
    /// Try again at `at`.
    Retry {
        at: Timestamp,
        error: String,
    },
    Failed {
        error: String,
    },
}

/// The select of [`claim`]: the lock clause is rendered on PostgreSQL and
/// left out on SQLite, which has no row locks.
fn claimable_rows(now: Timestamp, limit: u64, channels: &[Channel]) -> Select<Entity> {
    Entity::find()
        .filter(claimable(now, channels))
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
}

/// Records the outcome of an attempt on a message this worker claimed until
/// `lease_end`. The lease end fences the write: if the lease ran out and
/// another worker claimed the message, nothing is changed and `false` is
/// returned.
pub(super) async fn record_attempt(
    db: &Database,
    row: &Model,
    lease_end: Timestamp,
    outcome: Outcome,
    now: Timestamp,
) -> Result<bool, DbErr> {
    let attempts = row.attempts.saturating_add(1);
    let (status, next_attempt_at, sent_at, error) = match outcome {
        Outcome::Sent => (OutboxStatus::Sent, row.next_attempt_at, Some(now), None),
        Outcome::Retry { at, error } => (OutboxStatus::Pending, at, None, Some(error)),
        Outcome::Failed { error } => (OutboxStatus::Failed, row.next_attempt_at, None, Some(error)),
    };
    let updated = Entity::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(Column::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(Column::ClaimedUntil, Expr::value(None::<Timestamp>))
        .col_expr(Column::SentAt, Expr::value(sent_at))
        .col_expr(Column::LastError, Expr::value(error))
        .filter(claimed_by(row.id, lease_end))
        .exec(db.conn())
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Hands claimed messages that were not tried back to the queue, as they
/// were, so a server shutting down does not leave them to wait out its lease.
pub(super) async fn release(
    db: &Database,
    rows: &[Model],
    lease_end: Timestamp,
) -> Result<(), DbErr> {
    for row in rows {
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(OutboxStatus::Pending))
            .col_expr(Column::ClaimedUntil, Expr::value(None::<Timestamp>))
            .filter(claimed_by(row.id, lease_end))
            .exec(db.conn())
            .await?;
    }
    Ok(())
}

fn claimed_by(id: Uuid, lease_end: Timestamp) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id))
        .add(Column::Status.eq(OutboxStatus::Sending))
        .add(Column::ClaimedUntil.eq(lease_end))
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QueryTrait};

    use super::*;

    #[test]
    fn claims_skip_rows_locked_by_other_workers_on_postgres() {
        let query = claimable_rows(Timestamp::now(), 10, &[Channel::Email, Channel::Sms]);
        let postgres = query.build(DbBackend::Postgres).to_string();
        assert!(postgres.ends_with("FOR UPDATE SKIP LOCKED"), "{postgres}");
        let sqlite = query.build(DbBackend::Sqlite).to_string();
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");
    }
}
