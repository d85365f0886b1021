//! Seed 000's `chat_sessions`: the web chats on a facility's site, counted
//! rather than transcribed (the AI qualifier's exchanges are kept in
//! [`super::ai`]). A session may be linked to the lead the visitor turns
//! out to be, and then its messages count towards that lead's engagement.
//!
//! A session nobody wrote in for [`IDLE_DAYS`] is closed by a job every
//! server runs ([`spawn_idle_sweep`]); seed 000 archived them with a manual
//! query. A closed session stays closed: new activity from the visitor is a
//! new session.

use std::time::Duration;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::crypto::{CryptoError, DataKey, RowSealer, Sealed};
use crate::db::Database;
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::validation::Checks;

pub const TABLE: &str = "chat_sessions";

/// A session with no message for this long is closed.
pub const IDLE_DAYS: i64 = 30;
/// The name the idle sweep signs its audit events with.
pub const IDLE_JOB: &str = "chat-sessions-idle";
/// How often each server sweeps.
const SWEEP_EVERY: Duration = Duration::from_secs(60 * 60);
/// The first sweep waits this long after start, so starting is not slowed.
const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(60);

/// The label a session gets when none is given.
pub const DEFAULT_CHANNEL: &str = "web chat";
/// The most messages one activity report may add.
pub const MAX_MESSAGES_PER_REPORT: i64 = 1000;
/// How far ahead of this server's clock a reported time may be.
pub const CLOCK_SKEW_SECS: i64 = 300;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub channel: String,
    /// Written before visitor refs were sealed; empty once they are.
    pub visitor_ref: Option<String>,
    pub started_at: Timestamp,
    /// The start, until the first message: an empty session goes idle too.
    pub last_message_at: Timestamp,
    pub message_count: i32,
    pub is_active: bool,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    /// The widget's visitor id, sealed: a cookie id follows a person around.
    pub sealed_visitor_ref: Option<Sealed>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A chat session as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatSession {
    pub id: Uuid,
    pub facility_id: Uuid,
    /// The lead the visitor is, once known.
    pub lead_id: Option<Uuid>,
    /// Where the chat happens, e.g. `web chat` or `instagram`.
    pub channel: String,
    /// The chat widget's own id for the visitor; opaque to carebase.
    pub visitor_ref: Option<String>,
    pub started_at: Timestamp,
    pub last_message_at: Timestamp,
    pub message_count: i32,
    /// False once closed for being idle; a closed session takes no messages.
    pub is_active: bool,
    pub created_by: Uuid,
    pub created_at: Timestamp,
}

impl ChatSession {
    /// The session as shown, its visitor ref opened (or as written in
    /// clear before it was sealed).
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, CryptoError> {
        let visitor_ref = match &row.sealed_visitor_ref {
            Some(sealed) => {
                Some(RowSealer::new(key, TABLE, row.id).open_text("visitor_ref", sealed)?)
            }
            None => row.visitor_ref.clone(),
        };
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            lead_id: row.lead_id,
            channel: row.channel.clone(),
            visitor_ref,
            started_at: row.started_at,
            last_message_at: row.last_message_at,
            message_count: row.message_count,
            is_active: row.is_active,
            created_by: row.created_by,
            created_at: row.created_at,
        })
    }
}

/// A chat that started.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChatSession {
    /// `web chat` when absent.
    pub channel: Option<String>,
    /// A lead of the facility, when the visitor is already known.
    pub lead_id: Option<Uuid>,
    pub visitor_ref: Option<String>,
    /// When the chat started; now when absent (give it when importing).
    pub started_at: Option<Timestamp>,
}

/// Refuses a reported time ahead of this server's clock (beyond skew).
fn check_not_future(c: &mut Checks, field: &str, at: Option<Timestamp>, now: Timestamp) {
    if at.is_some_and(|at| at > now.plus_secs(CLOCK_SKEW_SECS)) {
        c.fail(field, "must not be in the future");
    }
}

impl NewChatSession {
    pub fn validate(&self, now: Timestamp) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.optional_text("channel", self.channel.as_deref(), 100);
        c.optional_text("visitor_ref", self.visitor_ref.as_deref(), 200);
        check_not_future(&mut c, "started_at", self.started_at, now);
        c.done()
    }
}

/// Messages exchanged in a session since the last report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatActivity {
    /// How many messages, 1 to 1000.
    pub count: i64,
    /// When the last of them was sent; now when absent.
    pub at: Option<Timestamp>,
}

impl ChatActivity {
    pub fn validate(&self, session: &Model, now: Timestamp) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.within("count", self.count, 1..=MAX_MESSAGES_PER_REPORT);
        check_not_future(&mut c, "at", self.at, now);
        if self.at.is_some_and(|at| at < session.started_at) {
            c.fail("at", "must not be before the session started");
        }
        c.done()
    }
}

/// Links a session to the lead the visitor turned out to be.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatLink {
    pub lead_id: Uuid,
}

/// Which sessions to list.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChatFilter {
    /// `true` for open sessions only, `false` for closed ones only.
    pub active: Option<bool>,
    pub lead_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The row of a new session: active, no messages yet.
fn new_row(
    key: &DataKey,
    id: Uuid,
    scope: &FacilityScope,
    new: &NewChatSession,
    now: Timestamp,
) -> ActiveModel {
    let started_at = new.started_at.unwrap_or(now);
    let seal = RowSealer::new(key, TABLE, id);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(scope.facility_id()),
        lead_id: ActiveValue::Set(new.lead_id),
        channel: ActiveValue::Set(
            new.channel
                .as_deref()
                .map(str::trim)
                .unwrap_or(DEFAULT_CHANNEL)
                .to_owned(),
        ),
        visitor_ref: ActiveValue::Set(None),
        sealed_visitor_ref: ActiveValue::Set(
            seal.optional_text("visitor_ref", new.visitor_ref.as_deref().map(str::trim)),
        ),
        started_at: ActiveValue::Set(started_at),
        last_message_at: ActiveValue::Set(started_at),
        message_count: ActiveValue::Set(0),
        is_active: ActiveValue::Set(true),
        created_by: ActiveValue::Set(scope.account_id()),
        created_at: ActiveValue::Set(now),
    }
}

/// Opens a session in the scope's facility, by the scope's account.
pub async fn insert(
    txn: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    id: Uuid,
    new: &NewChatSession,
    now: Timestamp,
) -> Result<Model, DbErr> {
    new_row(key, id, scope, new, now).insert(txn).await
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::Id.eq(id))
        .one(db)
        .await
}

/// A page of the facility's sessions matching `filter`, oldest first.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &ChatFilter,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(active) = filter.active {
        query = query.filter(Column::IsActive.eq(active));
    }
    if let Some(lead_id) = filter.lead_id {
        query = query.filter(Column::LeadId.eq(lead_id));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// Adds `count` messages, the last at `at`, to a session that is still
/// active. False when it is not (closed meanwhile by the idle sweep): the
/// condition is part of the update, so a sweep and a report never both win.
pub async fn add_messages(
    db: &impl ConnectionTrait,
    id: Uuid,
    count: i32,
    at: Timestamp,
) -> Result<bool, DbErr> {
    let last = Expr::case(Column::LastMessageAt.lt(at), Expr::value(at))
        .finally(Expr::col(Column::LastMessageAt));
    let updated = Entity::update_many()
        .col_expr(
            Column::MessageCount,
            Expr::col(Column::MessageCount).add(count),
        )
        .col_expr(Column::LastMessageAt, last.into())
        .filter(Column::Id.eq(id))
        .filter(Column::IsActive.eq(true))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Links an unlinked session to a lead. False when it was linked meanwhile.
pub async fn link(db: &impl ConnectionTrait, id: Uuid, lead_id: Uuid) -> Result<bool, DbErr> {
    let updated = Entity::update_many()
        .col_expr(Column::LeadId, Expr::value(lead_id))
        .filter(Column::Id.eq(id))
        .filter(Column::LeadId.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Closes every active session whose last message is older than
/// [`IDLE_DAYS`] before `now`, with one UPDATE, and records how many in the
/// audit log as the system. Several servers may run it at once: a session
/// is closed by whichever gets there first and counted once.
pub async fn deactivate_idle(db: &Database, now: Timestamp) -> Result<u64, DbErr> {
    let cutoff = now.plus_secs(-IDLE_DAYS * 24 * 60 * 60);
    let txn = db.begin().await?;
    let closed = Entity::update_many()
        .col_expr(Column::IsActive, Expr::value(false))
        .filter(
            Condition::all()
                .add(Column::IsActive.eq(true))
                .add(Column::LastMessageAt.lt(cutoff)),
        )
        .exec(&*txn)
        .await?
        .rows_affected;
    if closed == 0 {
        txn.rollback().await?;
        return Ok(0);
    }
    let event = AuditEvent::new(
        AuditActor::System {
            job: IDLE_JOB.to_owned(),
        },
        AuditAction::Update,
        "chat_session",
    )
    .changes(redact(
        json!({
            "deactivated": closed,
            "idle_days": IDLE_DAYS,
            "last_message_before": cutoff,
        }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(closed)
}

/// Runs [`deactivate_idle`] every hour until `stop` is cancelled. A failed
/// sweep is logged and tried again at the next one.
pub fn spawn_idle_sweep(db: Database, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = FIRST_SWEEP_AFTER;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
            wait = SWEEP_EVERY;
            match deactivate_idle(&db, Timestamp::now()).await {
                Ok(0) => {}
                Ok(closed) => tracing::info!(closed, "closed idle chat sessions"),
                Err(e) => tracing::error!(error = %e, "closing idle chat sessions failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(started_at: Timestamp) -> Model {
        Model {
            id: Uuid::now_v7(),
            facility_id: Uuid::now_v7(),
            lead_id: None,
            channel: DEFAULT_CHANNEL.to_owned(),
            visitor_ref: None,
            started_at,
            last_message_at: started_at,
            message_count: 0,
            is_active: true,
            created_by: Uuid::now_v7(),
            created_at: started_at,
            sealed_visitor_ref: None,
        }
    }

    fn fields(result: Result<(), ApiError>) -> Vec<String> {
        match result {
            Ok(()) => Vec::new(),
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn activity_is_between_1_and_1000_messages_within_the_session() {
        let now = Timestamp::now();
        let s = session(now.plus_secs(-3600));
        let report = |count, at| ChatActivity { count, at }.validate(&s, now);
        assert!(fields(report(1, None)).is_empty());
        assert!(fields(report(1000, Some(now.plus_secs(-60)))).is_empty());
        assert_eq!(fields(report(0, None)), ["count"]);
        assert_eq!(fields(report(1001, None)), ["count"]);
        assert_eq!(fields(report(5, Some(now.plus_secs(-7200)))), ["at"]);
        assert_eq!(fields(report(5, Some(now.plus_secs(3600)))), ["at"]);
    }
}
