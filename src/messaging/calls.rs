//! Video calls (seed 004): a call belongs to a conversation, has a room at
//! a video provider (`daily`, or carebase's built-in rooms when no Daily key
//! is configured), who started it, an optional scheduled time, and a status
//! machine. A call left ringing longer than `call_ring_timeout_secs` is
//! marked missed by a background job on every server.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::settings::MessagingSettings;
use super::video::Room;
use crate::app::AppState;
use crate::crypto::{DataKey, RowSealer, Sealed};
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::transition::{StateMachine, UnknownStoredValue, string_enum};

pub const TABLE: &str = "video_calls";
pub const PHI_FIELDS: &[&str] = &["room_url", "recording_url"];
/// The name the missed-call sweep signs its audit events with.
pub const JOB: &str = "missed-calls";

string_enum! {
    /// Seed 004's call statuses.
    CallStatus {
        Scheduled => "scheduled",
        Ringing => "ringing",
        Active => "active",
        Ended => "ended",
        Missed => "missed",
        Canceled => "canceled",
        Failed => "failed",
    }
}

impl StateMachine for CallStatus {
    const ENTITY: &'static str = "video call";

    /// DOMAIN.md: scheduled → ringing → active → ended; ringing → missed;
    /// scheduled/ringing → canceled; any → failed (a final status stays).
    fn next(self) -> &'static [Self] {
        use CallStatus::*;
        match self {
            Scheduled => &[Ringing, Canceled, Failed],
            Ringing => &[Active, Missed, Canceled, Failed],
            Active => &[Ended, Failed],
            Ended | Missed | Canceled | Failed => &[],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "video_calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub conversation_id: Uuid,
    pub provider: String,
    pub room_name: String,
    pub room_url: Option<Sealed>,
    pub started_by: Uuid,
    pub status: String,
    pub scheduled_for: Option<Timestamp>,
    pub ringing_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub recording_enabled: bool,
    pub recording_url: Option<Sealed>,
    pub failure_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn call_status(&self) -> Result<CallStatus, UnknownStoredValue> {
        CallStatus::from_stored(&self.status, TABLE, "status", self.id)
    }
}

/// A call as the API shows it to the conversation's participants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VideoCall {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `daily` or `builtin`.
    pub provider: String,
    pub room_name: String,
    pub room_url: Option<String>,
    pub started_by: Uuid,
    pub status: CallStatus,
    pub scheduled_for: Option<Timestamp>,
    pub ringing_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub recording_enabled: bool,
    pub recording_url: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl VideoCall {
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        Ok(Self {
            id: row.id,
            conversation_id: row.conversation_id,
            provider: row.provider.clone(),
            room_name: row.room_name.clone(),
            room_url: seal.open_optional_text("room_url", &row.room_url)?,
            started_by: row.started_by,
            status: row.call_status()?,
            scheduled_for: row.scheduled_for,
            ringing_at: row.ringing_at,
            started_at: row.started_at,
            ended_at: row.ended_at,
            recording_enabled: row.recording_enabled,
            recording_url: seal.open_optional_text("recording_url", &row.recording_url)?,
            failure_reason: row.failure_reason.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A call to start now (it rings) or to schedule.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCall {
    /// When absent, the call rings now.
    pub scheduled_for: Option<Timestamp>,
    #[serde(default)]
    pub recording_enabled: bool,
}

/// A status move, with the reason of a failure or the recording's address.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallStatusChange {
    pub status: CallStatus,
    /// For `failed`: what went wrong (no patient data).
    pub failure_reason: Option<String>,
    /// For `ended`: where the recording is, when one was made.
    pub recording_url: Option<String>,
}

/// Where a new call takes place: its conversation, and the room the video
/// provider made for it.
pub struct CallRoom<'a> {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub provider: &'a str,
    pub room: &'a Room,
}

/// Writes a new call of the scope's facility, started by the scope's
/// account: ringing now, or scheduled when `new` says when.
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    place: CallRoom<'_>,
    new: &NewCall,
    now: Timestamp,
) -> Result<Model, DbErr> {
    let status = if new.scheduled_for.is_some() {
        CallStatus::Scheduled
    } else {
        CallStatus::Ringing
    };
    let seal = RowSealer::new(key, TABLE, place.id);
    ActiveModel {
        id: ActiveValue::Set(place.id),
        facility_id: ActiveValue::Set(scope.facility_id()),
        conversation_id: ActiveValue::Set(place.conversation_id),
        provider: ActiveValue::Set(place.provider.to_owned()),
        room_name: ActiveValue::Set(place.room.name.as_str().to_owned()),
        room_url: ActiveValue::Set(Some(seal.text("room_url", &place.room.url))),
        started_by: ActiveValue::Set(scope.account_id()),
        status: ActiveValue::Set(status.as_str().to_owned()),
        scheduled_for: ActiveValue::Set(new.scheduled_for),
        ringing_at: ActiveValue::Set((status == CallStatus::Ringing).then_some(now)),
        started_at: ActiveValue::Set(None),
        ended_at: ActiveValue::Set(None),
        recording_enabled: ActiveValue::Set(new.recording_enabled),
        recording_url: ActiveValue::Set(None),
        failure_reason: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(txn)
    .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    call_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(call_id)
        .filter(Column::ConversationId.eq(conversation_id))
        .one(db)
        .await
}

/// A conversation's calls, newest first.
pub async fn page(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::ConversationId.eq(conversation_id))
        .order_by_desc(Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query.all(db).await
}

/// Moves a call, stamping the time its new status began. A compare-and-set
/// on the status it was read with: of two moves at once, one wins.
pub async fn move_to(
    db: &impl ConnectionTrait,
    key: &DataKey,
    call: &Model,
    change: &CallStatusChange,
    now: Timestamp,
) -> Result<Model, ApiError> {
    let to = call.call_status()?.transition(change.status)?;
    let seal = RowSealer::new(key, TABLE, call.id);
    let mut active = ActiveModel {
        id: ActiveValue::Unchanged(call.id),
        status: ActiveValue::Set(to.as_str().to_owned()),
        updated_at: ActiveValue::Set(now),
        ..Default::default()
    };
    match to {
        CallStatus::Ringing => active.ringing_at = ActiveValue::Set(Some(now)),
        CallStatus::Active => active.started_at = ActiveValue::Set(Some(now)),
        CallStatus::Ended => {
            active.ended_at = ActiveValue::Set(Some(now));
            if let Some(url) = &change.recording_url {
                active.recording_url = ActiveValue::Set(Some(seal.text("recording_url", url)));
            }
        }
        CallStatus::Missed | CallStatus::Canceled => {
            active.ended_at = ActiveValue::Set(Some(now));
        }
        CallStatus::Failed => {
            active.ended_at = ActiveValue::Set(Some(now));
            active.failure_reason = ActiveValue::Set(change.failure_reason.clone());
        }
        CallStatus::Scheduled => {}
    }
    let updated = Entity::update_many()
        .set(active)
        .filter(Column::Id.eq(call.id))
        .filter(Column::Status.eq(call.status.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the call changed meanwhile; read it again".to_owned(),
        ));
    }
    Entity::find_by_id(call.id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The event sockets receive when a call changes.
pub async fn event(
    state: &AppState,
    facility_id: Uuid,
    conversation_id: Uuid,
    call_id: Uuid,
) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(row) = find(state.db.conn(), conversation_id, call_id).await? else {
        return Ok(None);
    };
    let key = state.keyring.facility(facility_id).await?;
    let call = VideoCall::open(&key, &row)?;
    Ok(Some(json!({
        "type": "call.updated", "conversation_id": conversation_id, "call": call,
    })))
}

/// How many ringing calls one sweep marks missed at most; the next sweep
/// takes the rest.
const SWEEP_BATCH: u64 = 100;

/// Marks missed every call left ringing longer than `ring_timeout_secs`:
/// each one a compare-and-set on `ringing` (a call answered meanwhile
/// stays answered), audited by the job, and announced to the sockets.
pub async fn mark_missed(state: &AppState, now: Timestamp) -> anyhow::Result<usize> {
    use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
    let cutoff = now.plus_secs(-(ring_timeout_secs(state) as i64));
    let txn = state.db.begin().await?;
    let due = Entity::find()
        .filter(Column::Status.eq(CallStatus::Ringing.as_str()))
        .filter(Column::RingingAt.lte(cutoff))
        .order_by_asc(Column::RingingAt)
        .limit(SWEEP_BATCH)
        .all(&*txn)
        .await?;
    let mut missed = Vec::new();
    let mut events = Vec::new();
    for call in due {
        let updated = Entity::update_many()
            .col_expr(Column::Status, Expr::value(CallStatus::Missed.as_str()))
            .col_expr(Column::EndedAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(call.id))
            .filter(Column::Status.eq(CallStatus::Ringing.as_str()))
            .exec(&*txn)
            .await?;
        if updated.rows_affected == 1 {
            events.push(
                AuditEvent::new(
                    AuditActor::System {
                        job: JOB.to_owned(),
                    },
                    AuditAction::Update,
                    "video_call",
                )
                .resource(call.id)
                .facility(call.facility_id)
                .changes(redact(
                    json!({ "status": { "from": "ringing", "to": "missed" } }),
                    &[],
                )),
            );
            missed.push(call);
        }
    }
    if missed.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    audit::commit(txn, events).await?;
    for call in &missed {
        super::state_of(state)
            .realtime
            .publish(super::realtime::Notice::Call {
                facility_id: call.facility_id,
                conversation_id: call.conversation_id,
                call_id: call.id,
            })
            .await;
    }
    Ok(missed.len())
}

/// Runs [`mark_missed`] on every server until `stop`, a few times per ring
/// timeout. Servers sharing a database may mark the same call at once; the
/// compare-and-set lets one of them.
pub fn spawn_missed_sweep(
    state: AppState,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let every = std::time::Duration::from_secs((ring_timeout_secs(&state) / 4).max(1));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            match mark_missed(&state, Timestamp::now()).await {
                Ok(0) => {}
                Ok(missed) => tracing::info!(missed, "unanswered video calls marked missed"),
                Err(e) => tracing::error!(error = %e, "marking missed video calls failed"),
            }
        }
    })
}

/// How long a call may ring unanswered, in seconds.
fn ring_timeout_secs(state: &AppState) -> u64 {
    state
        .config
        .section::<MessagingSettings>()
        .call_ring_timeout_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_domains() {
        use CallStatus::*;
        assert!(Scheduled.transition(Ringing).is_ok());
        assert!(Ringing.transition(Active).is_ok());
        assert!(Active.transition(Ended).is_ok());
        assert!(Ringing.transition(Missed).is_ok());
        assert!(Scheduled.transition(Canceled).is_ok());
        assert!(Ringing.transition(Canceled).is_ok());
        for from in [Scheduled, Ringing, Active] {
            assert!(from.transition(Failed).is_ok());
        }
        assert!(Scheduled.transition(Active).is_err());
        assert!(Active.transition(Canceled).is_err());
        assert!(Ended.transition(Failed).is_err());
    }
}
