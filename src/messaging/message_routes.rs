//! `/facilities/{facility_id}/conversations/{conversation_id}/messages`:
//! posting (`message:send`; the assistant's answers `message:assist`),
//! reading newest first or catching up after a cursor (`conversation:read`),
//! editing and deleting one's own messages, the edit history (facility
//! administrators), read markers and typing.
//!
//! Every read of messages is audited (one event per page, naming the
//! sequence numbers read), every change in its transaction; bodies are
//! sealed and never logged.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::attachments::{self, NewAttachment};
use super::conversations::{self, Access};
use super::direct;
use super::messages::{
    self, Envelope, Message, MessageEdit, MessagePage, MessageRevision, MessageWindow, NewMessage,
    PHI_FIELDS,
};
use super::participants;
use super::realtime::Notice;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

const RESOURCE: &str = "message";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_message, list_messages))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(message_edits))
        .routes(routes!(mark_read))
        .routes(routes!(signal_typing))
}

fn message_event(
    actor: &Actor,
    action: AuditAction,
    conversation: &conversations::Model,
    message_id: Uuid,
) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(message_id)
        .facility(conversation.facility_id)
        .flag(ComplianceFlag::Phi)
        .concerning(conversation.patient_id, None)
}

/// Why a conversation takes no message now, if it does not.
pub(super) async fn check_open(db: &impl ConnectionTrait, access: &Access) -> Result<(), ApiError> {
    let status = access.conversation.conversation_status()?;
    if !status.is_open() {
        return Err(ApiError::Conflict(format!(
            "the conversation is `{status}`; it takes no new messages"
        )));
    }
    if !direct::link_is_active(db, &access.conversation).await? {
        return Err(ApiError::Conflict(
            "the care-team link of this conversation is not active".to_owned(),
        ));
    }
    Ok(())
}

/// Posts a message. People post as themselves and must take part; the AI
/// assistant's `ai_response` and `query_result` need `message:assist` and
/// have no sender.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/messages",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body = NewMessage,
    responses((status = 201, description = "Posted", body = Message), Problems),
    security(("bearer" = []))
)]
async fn post_message(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(new): ApiJson<NewMessage>,
) -> Result<(StatusCode, ApiJson<Message>), ApiError> {
    let assistant = new.kind().is_assistant();
    let permission = if assistant {
        Permission::MESSAGE_ASSIST
    } else {
        Permission::MESSAGE_SEND
    };
    let scope = actor.facility(facility_id, permission)?;
    new.validate()?;
    let shown = post(&state, &actor, &scope, conversation_id, &new, None).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// Writes a validated message in one transaction: the conversation's next
/// sequence number under its lock, the files it names (`file`: one stored
/// just now for it, written first), the sender's read marker and the audit
/// event; then announces it. Shared by JSON posts and posts with a file.
pub(super) async fn post(
    state: &AppState,
    actor: &Actor,
    scope: &crate::policy::FacilityScope,
    conversation_id: Uuid,
    new: &NewMessage,
    file: Option<NewAttachment<'_>>,
) -> Result<Message, ApiError> {
    let facility_id = scope.facility_id();
    let assistant = new.kind().is_assistant();
    let now = Timestamp::now();
    let key = state.keyring.facility(facility_id).await?;
    let names_key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let access = conversations::reach_for_update(&*txn, actor, scope, conversation_id).await?;
    if !assistant {
        access.require_speaker()?;
    }
    check_open(&*txn, &access).await?;
    let parent = reply_parent(&*txn, conversation_id, new.parent_message_id).await?;
    if let Some(file) = file {
        attachments::insert(&*txn, scope, &key, file).await?;
    }
    let seq = messages::next_seq(&*txn, &access.conversation, now).await?;
    let envelope = Envelope {
        facility_id,
        conversation_id,
        seq,
        sender_id: (!assistant).then(|| actor.account_id()),
        parent,
        now,
    };
    let row = messages::insert(&*txn, &key, &envelope, new).await?;
    let files = attach(
        &*txn,
        &key,
        new,
        conversation_id,
        actor.account_id(),
        row.id,
    )
    .await?;
    if let Some(me) = &access.participant {
        participants::mark_read(&*txn, me.id, seq).await?;
    }
    let names = super::senders::names(&*txn, &names_key, std::slice::from_ref(&row)).await?;
    let sender_name = row
        .sender_id
        .and_then(|id| names.get(&id).cloned().flatten());
    let shown = Message::open(&key, &row, sender_name)?.with_attachments(Some(files));
    let event =
        message_event(actor, AuditAction::Create, &access.conversation, row.id).changes(redact(
            json!({ "after": serde_json::to_value(&shown).unwrap_or_default() }),
            &["body", "metadata", "sender_name", "file_name"],
        ));
    audit::commit(txn, vec![event]).await?;
    super::state_of(state)
        .realtime
        .publish(Notice::MessageCreated {
            facility_id,
            conversation_id,
            message_id: row.id,
        })
        .await;
    Ok(shown)
}

/// The message a reply answers, which must be of the conversation and not
/// deleted.
async fn reply_parent(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    parent_id: Option<Uuid>,
) -> Result<Option<messages::Model>, ApiError> {
    let Some(parent_id) = parent_id else {
        return Ok(None);
    };
    let parent = messages::find(db, conversation_id, parent_id)
        .await?
        .filter(|p| p.deleted_at.is_none())
        .ok_or_else(|| {
            ApiError::invalid(
                "parent_message_id",
                "no message with this id in this conversation",
            )
        })?;
    Ok(Some(parent))
}

/// A conversation's messages with their senders' names: the latest page
/// newest first, an older page with `before`, or what came after a cursor
/// (oldest first) with `after`.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/messages",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        MessageWindow,
    ),
    responses((status = 200, description = "A page of messages", body = MessagePage), Problems),
    security(("bearer" = []))
)]
async fn list_messages(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(window): ApiQuery<MessageWindow>,
) -> Result<ApiJson<MessagePage>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
    if window.before.is_some() && window.after.is_some() {
        return Err(ApiError::invalid(
            "after",
            "give `before` or `after`, not both",
        ));
    }
    let limit = crate::http::extract::page_limit(window.limit)?;
    let db = state.db.conn();
    let access = conversations::reach(db, &actor, &scope, conversation_id).await?;
    let rows = messages::window(db, conversation_id, &window, limit).await?;
    let names = super::senders::names(db, &*state.keyring.installation().await?, &rows).await?;
    let key = state.keyring.facility(facility_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut files = attachments::of_messages(db, &key, &ids).await?;
    let items = rows
        .iter()
        .map(|row| {
            let name = row
                .sender_id
                .and_then(|id| names.get(&id).cloned().flatten());
            Ok(Message::open(&key, row, name)?.with_attachments(files.remove(&row.id)))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    if !rows.is_empty() {
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let event = actor
            .event(AuditAction::Read, "messages")
            .resource(conversation_id)
            .facility(facility_id)
            .flag(ComplianceFlag::Phi)
            .concerning(access.conversation.patient_id, None)
            .changes(redact(json!({ "seq": seqs }), &[]));
        state.audit.record(vec![event]).await?;
    }
    let next_cursor = crate::http::extract::next_cursor(&items, limit, |m| m.seq);
    Ok(ApiJson(MessagePage { items, next_cursor }))
}

/// The caller's own message, still there, in a conversation they take part in.
async fn own_message(
    db: &impl ConnectionTrait,
    actor: &Actor,
    access: &Access,
    message_id: Uuid,
) -> Result<messages::Model, ApiError> {
    let row = messages::find(db, access.conversation.id, message_id)
        .await?
        .filter(|m| m.deleted_at.is_none())
        .ok_or(ApiError::NotFound)?;
    let mine = row.sender_id == Some(actor.account_id());
    if !mine && !conversations::oversees(actor, access.conversation.facility_id) {
        return Err(ApiError::Forbidden(
            "only its sender changes a message".to_owned(),
        ));
    }
    Ok(row)
}

/// Edits one's own message; the earlier body is kept for administrators.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/messages/{message_id}",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    request_body = MessageEdit,
    responses((status = 200, description = "Edited", body = Message), Problems),
    security(("bearer" = []))
)]
async fn edit_message(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id, message_id)): ApiPath<(Uuid, Uuid, Uuid)>,
    ApiJson(change): ApiJson<MessageEdit>,
) -> Result<ApiJson<Message>, ApiError> {
    let scope = actor.facility(facility_id, Permission::MESSAGE_SEND)?;
    change.validate()?;
    let now = Timestamp::now();
    let key = state.keyring.facility(facility_id).await?;
    let names_key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let access = conversations::reach_for_update(&*txn, &actor, &scope, conversation_id).await?;
    let row = own_message(&*txn, &actor, &access, message_id).await?;
    if row.sender_id != Some(actor.account_id()) {
        return Err(ApiError::Forbidden(
            "only its sender edits a message".to_owned(),
        ));
    }
    access.require_speaker()?;
    check_open(&*txn, &access).await?;
    let row = messages::edit(
        &*txn,
        &key,
        &row,
        Some(&change.body),
        actor.account_id(),
        now,
    )
    .await?;
    let names = super::senders::names(&*txn, &names_key, std::slice::from_ref(&row)).await?;
    let shown = Message::open(
        &key,
        &row,
        row.sender_id
            .and_then(|id| names.get(&id).cloned().flatten()),
    )?;
    let event = message_event(&actor, AuditAction::Update, &access.conversation, row.id).changes(
        redact(json!({ "body": "changed", "edited_at": now }), PHI_FIELDS),
    );
    audit::commit(txn, vec![event]).await?;
    super::state_of(&state)
        .realtime
        .publish(Notice::MessageEdited {
            facility_id,
            conversation_id,
            message_id,
        })
        .await;
    Ok(ApiJson(shown))
}

/// Deletes a message (its sender, or a facility administrator). It keeps
/// its place with no body; the body stays in the edit history.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/messages/{message_id}",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    responses((status = 204, description = "Deleted"), Problems),
    security(("bearer" = []))
)]
async fn delete_message(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id, message_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = actor.facility(facility_id, Permission::MESSAGE_SEND)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let access = conversations::reach_for_update(&*txn, &actor, &scope, conversation_id).await?;
    let row = own_message(&*txn, &actor, &access, message_id).await?;
    messages::delete(&*txn, &key, &row, actor.account_id(), Timestamp::now()).await?;
    let event = message_event(&actor, AuditAction::Delete, &access.conversation, row.id)
        .changes(redact(json!({ "seq": row.seq }), &[]));
    audit::commit(txn, vec![event]).await?;
    super::state_of(&state)
        .realtime
        .publish(Notice::MessageDeleted {
            facility_id,
            conversation_id,
            message_id,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A message's earlier bodies (edits and deletion), oldest first. Facility
/// administrators only.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/messages/{message_id}/edits",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    responses((status = 200, description = "The earlier bodies", body = Vec<MessageRevision>), Problems),
    security(("bearer" = []))
)]
async fn message_edits(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id, message_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<ApiJson<Vec<MessageRevision>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::FACILITY_MANAGE)?;
    let db = state.db.conn();
    let access = conversations::reach(db, &actor, &scope, conversation_id).await?;
    messages::find(db, conversation_id, message_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let revisions = messages::revisions(db, &key, message_id).await?;
    state
        .audit
        .record(vec![
            message_event(&actor, AuditAction::Read, &access.conversation, message_id)
                .changes(redact(json!({ "edit_history": revisions.len() }), &[])),
        ])
        .await?;
    Ok(ApiJson(revisions))
}

/// How far the caller has read.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMarker {
    /// The sequence number of the last message read.
    pub seq: i64,
}

/// Moves the caller's read marker (never backwards); the other
/// participants receive a read receipt.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/read",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body = ReadMarker,
    responses((status = 200, description = "The marker now", body = ReadMarker), Problems),
    security(("bearer" = []))
)]
async fn mark_read(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(marker): ApiJson<ReadMarker>,
) -> Result<ApiJson<ReadMarker>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
    let txn = state.db.begin().await?;
    let access = conversations::reach(&*txn, &actor, &scope, conversation_id).await?;
    let me = access.require_participant()?;
    if marker.seq < 0 || marker.seq > access.conversation.last_seq {
        return Err(ApiError::invalid(
            "seq",
            format!(
                "must be between 0 and the newest message's ({})",
                access.conversation.last_seq
            ),
        ));
    }
    participants::mark_read(&*txn, me.id, marker.seq).await?;
    let now_at = marker.seq.max(me.last_read_seq);
    let event = actor
        .event(AuditAction::Update, "read_marker")
        .resource(conversation_id)
        .facility(facility_id)
        .changes(redact(json!({ "seq": now_at }), &[]));
    audit::commit(txn, vec![event]).await?;
    if now_at > me.last_read_seq {
        super::state_of(&state)
            .realtime
            .publish(Notice::Read {
                conversation_id,
                account_id: actor.account_id(),
                seq: now_at,
            })
            .await;
    }
    Ok(ApiJson(ReadMarker { seq: now_at }))
}

/// Tells the other participants the caller is typing. Nothing is stored.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/typing",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    responses((status = 202, description = "Sent to the other participants"), Problems),
    security(("bearer" = []))
)]
async fn signal_typing(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = actor.facility(facility_id, Permission::MESSAGE_SEND)?;
    let access = conversations::reach(state.db.conn(), &actor, &scope, conversation_id).await?;
    access.require_speaker()?;
    super::state_of(&state)
        .realtime
        .publish(Notice::Typing {
            conversation_id,
            account_id: actor.account_id(),
        })
        .await;
    Ok(StatusCode::ACCEPTED)
}

/// Puts the sender's uploaded files named in `new` on the message `message_id`.
async fn attach(
    db: &impl ConnectionTrait,
    key: &crate::crypto::DataKey,
    new: &NewMessage,
    conversation_id: Uuid,
    sender: Uuid,
    message_id: Uuid,
) -> Result<Vec<attachments::Attachment>, ApiError> {
    if new.attachment_ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = attachments::unattached(db, conversation_id, sender, &new.attachment_ids).await?;
    if let Some((i, _)) = new
        .attachment_ids
        .iter()
        .enumerate()
        .find(|(_, id)| !found.iter().any(|f| f.id == **id))
    {
        return Err(ApiError::invalid(
            format!("attachment_ids[{i}]"),
            "no file you uploaded to this conversation with this id that is stored and not on a message",
        ));
    }
    attachments::attach(db, message_id, &new.attachment_ids).await?;
    let mut shown = found
        .iter()
        .map(|row| attachments::Attachment::open(key, row))
        .collect::<Result<Vec<_>, _>>()?;
    shown.sort_by_key(|a| a.id);
    Ok(shown)
}
