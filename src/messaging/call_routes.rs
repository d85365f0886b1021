//! `/facilities/{facility_id}/conversations/{conversation_id}/calls`: video
//! calls of a conversation (seed 004). Starting and moving a call needs
//! `message:send` and taking part in the conversation; reading needs
//! `conversation:read`. The room is made at the video provider before the
//! call is written, outside the transaction, so a slow provider holds no
//! lock; a call whose write fails has its room deleted again.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::calls::{self, CallRoom, CallStatus, CallStatusChange, NewCall, PHI_FIELDS, VideoCall};
use super::conversations::{self, Access};
use super::message_routes::check_open;
use super::realtime::Notice;
use super::video::{self, RoomRequest};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;
use crate::validation::Checks;

const RESOURCE: &str = "video_call";
/// How long a room stays usable after the call's start (or now).
const ROOM_HOURS: i64 = 4;
/// How far ahead a call may be scheduled.
const MAX_AHEAD_DAYS: i64 = 366;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_call, list_calls))
        .routes(routes!(get_call))
        .routes(routes!(move_call_status))
}

fn call_event(actor: &Actor, action: AuditAction, access: &Access, call_id: Uuid) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(call_id)
        .facility(access.conversation.facility_id)
        .flag(ComplianceFlag::Phi)
        .concerning(access.conversation.patient_id, None)
}

/// The conversation, for a participant who may call in it now.
async fn callable(
    db: &impl ConnectionTrait,
    actor: &Actor,
    scope: &FacilityScope,
    conversation_id: Uuid,
) -> Result<Access, ApiError> {
    let access = conversations::reach(db, actor, scope, conversation_id).await?;
    access.require_speaker()?;
    check_open(db, &access).await?;
    Ok(access)
}

impl NewCall {
    fn validate(&self, now: Timestamp) -> Result<(), ApiError> {
        let mut checks = Checks::default();
        if let Some(at) = self.scheduled_for {
            if at <= now {
                checks.fail(
                    "scheduled_for",
                    "must be in the future; leave it out to ring now",
                );
            } else if at > now.plus_secs(MAX_AHEAD_DAYS * 86_400) {
                checks.fail("scheduled_for", "must be within a year");
            }
        }
        checks.done()
    }
}

/// Starts a call: it rings now, or is scheduled for `scheduled_for`. The
/// room comes from Daily when an API key is configured, otherwise from
/// carebase's built-in rooms.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/calls",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body = NewCall,
    responses((status = 201, description = "Ringing or scheduled", body = VideoCall), Problems),
    security(("bearer" = []))
)]
async fn start_call(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(new): ApiJson<NewCall>,
) -> Result<(StatusCode, ApiJson<VideoCall>), ApiError> {
    let scope = actor.facility(facility_id, Permission::MESSAGE_SEND)?;
    let now = Timestamp::now();
    new.validate(now)?;
    callable(state.db.conn(), &actor, &scope, conversation_id).await?;
    let id = new_id();
    let request = RoomRequest {
        room_name: video::room_name_for(id),
        expires_at: new
            .scheduled_for
            .unwrap_or(now)
            .plus_secs(ROOM_HOURS * 3600),
        recording: new.recording_enabled,
    };
    let room = super::state_of(&state).video.create_room(&request).await.map_err(|error| {
        tracing::warn!(%error, provider = super::state_of(&state).video.provider(), "could not create a video room");
        ApiError::Unavailable("the video provider could not make a room; try again".to_owned())
    })?;
    match write_call(
        &state,
        &actor,
        &scope,
        conversation_id,
        id,
        &new,
        &room,
        now,
    )
    .await
    {
        Ok(shown) => Ok((StatusCode::CREATED, ApiJson(shown))),
        Err(error) => {
            if let Err(cleanup) = super::state_of(&state).video.delete_room(&room.name).await {
                tracing::warn!(error = %cleanup, "could not delete the room of a call not written");
            }
            Err(error)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_call(
    state: &AppState,
    actor: &Actor,
    scope: &FacilityScope,
    conversation_id: Uuid,
    id: Uuid,
    new: &NewCall,
    room: &video::Room,
    now: Timestamp,
) -> Result<VideoCall, ApiError> {
    let facility_id = scope.facility_id();
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    // Checked again in the transaction: the link may have ended meanwhile.
    let access = callable(&*txn, actor, scope, conversation_id).await?;
    let place = CallRoom {
        id,
        conversation_id,
        provider: super::state_of(state).video.provider(),
        room,
    };
    let row = calls::insert(&*txn, scope, &key, place, new, now).await?;
    let shown = VideoCall::open(&key, &row)?;
    let event = call_event(actor, AuditAction::Create, &access, row.id).changes(redact(
        json!({ "after": serde_json::to_value(&shown).unwrap_or_default() }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    super::state_of(state)
        .realtime
        .publish(Notice::Call {
            facility_id,
            conversation_id,
            call_id: row.id,
        })
        .await;
    Ok(shown)
}

/// Which calls a list returns: newest first, before a cursor.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallWindow {
    /// The `next_cursor` of the previous page.
    pub before: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// A page of calls.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CallPage {
    pub items: Vec<VideoCall>,
    /// Pass as `before` for the next page; absent on the last one.
    pub next_cursor: Option<Uuid>,
}

/// A conversation's calls, newest first.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/calls",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        CallWindow,
    ),
    responses((status = 200, description = "A page of calls", body = CallPage), Problems),
    security(("bearer" = []))
)]
async fn list_calls(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(window): ApiQuery<CallWindow>,
) -> Result<ApiJson<CallPage>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
    let limit = crate::http::extract::page_limit(window.limit)?;
    let db = state.db.conn();
    let access = conversations::reach(db, &actor, &scope, conversation_id).await?;
    let rows = calls::page(db, conversation_id, window.before, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = rows
        .iter()
        .map(|row| VideoCall::open(&key, row))
        .collect::<Result<Vec<_>, _>>()?;
    state
        .audit
        .record(
            rows.iter()
                .map(|row| call_event(&actor, AuditAction::Read, &access, row.id))
                .collect(),
        )
        .await?;
    let next_cursor = crate::http::extract::next_cursor(&items, limit, |c| c.id);
    Ok(ApiJson(CallPage { items, next_cursor }))
}

/// One call.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/calls/{call_id}",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("call_id" = Uuid, Path, description = "The call"),
    ),
    responses((status = 200, description = "The call", body = VideoCall), Problems),
    security(("bearer" = []))
)]
async fn get_call(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id, call_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<ApiJson<VideoCall>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
    let db = state.db.conn();
    let access = conversations::reach(db, &actor, &scope, conversation_id).await?;
    let row = calls::find(db, conversation_id, call_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let shown = VideoCall::open(&key, &row)?;
    state
        .audit
        .record(vec![call_event(&actor, AuditAction::Read, &access, row.id)])
        .await?;
    Ok(ApiJson(shown))
}

impl CallStatusChange {
    fn validate(&self, call: &calls::Model) -> Result<(), ApiError> {
        let mut checks = Checks::default();
        match (&self.failure_reason, self.status) {
            (Some(reason), CallStatus::Failed) => checks.text("failure_reason", reason, 500),
            (Some(_), _) => checks.fail("failure_reason", "only a `failed` call has one"),
            (None, _) => {}
        }
        match (&self.recording_url, self.status) {
            (Some(_), CallStatus::Ended) if !call.recording_enabled => {
                checks.fail("recording_url", "the call was not recorded")
            }
            (Some(url), CallStatus::Ended) => {
                if url::Url::parse(url).is_err() {
                    checks.fail("recording_url", "must be an absolute URL");
                }
            }
            (Some(_), _) => checks.fail("recording_url", "only an `ended` call has one"),
            (None, _) => {}
        }
        checks.done()
    }
}

/// Moves a call: `ringing` (a scheduled call starts), `active` (answered),
/// `ended`, `missed`, `canceled` or `failed`, as seed 004's machine allows.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/calls/{call_id}/status",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("call_id" = Uuid, Path, description = "The call"),
    ),
    request_body = CallStatusChange,
    responses((status = 200, description = "Moved", body = VideoCall), Problems),
    security(("bearer" = []))
)]
async fn move_call_status(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id, call_id)): ApiPath<(Uuid, Uuid, Uuid)>,
    ApiJson(change): ApiJson<CallStatusChange>,
) -> Result<ApiJson<VideoCall>, ApiError> {
    let scope = actor.facility(facility_id, Permission::MESSAGE_SEND)?;
    let key = state.keyring.facility(facility_id).await?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let access = conversations::reach(&*txn, &actor, &scope, conversation_id).await?;
    access.require_speaker()?;
    let call = calls::find(&*txn, conversation_id, call_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    change.validate(&call)?;
    let row = calls::move_to(&*txn, &key, &call, &change, now).await?;
    let shown = VideoCall::open(&key, &row)?;
    let event = call_event(&actor, AuditAction::Update, &access, row.id).changes(redact(
        json!({ "status": { "from": call.call_status()?, "to": row.call_status()? } }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    super::state_of(&state)
        .realtime
        .publish(Notice::Call {
            facility_id,
            conversation_id,
            call_id,
        })
        .await;
    Ok(ApiJson(shown))
}
