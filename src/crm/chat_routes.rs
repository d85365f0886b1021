//! `/facilities/{facility_id}/chat-sessions`: web chat sessions, for a
//! known lead or an anonymous visitor. Linking a session or recording its
//! messages changes the lead it concerns in the same transaction and
//! appends its audit event there; every read is in the audit log before the
//! response leaves.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::activity::{self, LeadActivity};
use super::chat::{self, ChatActivity, ChatFilter, ChatLink, ChatSession, NewChatSession};
use super::routes::writable_lead;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, redact};
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

const CHAT_RESOURCE: &str = "chat_session";
/// A chat widget's visitor id may be a cookie that follows a person around.
const CHAT_PHI_FIELDS: &[&str] = &["visitor_ref"];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_chat_session, list_chat_sessions))
        .routes(routes!(link_chat_session))
        .routes(routes!(record_chat_messages))
}

/// An event about a chat session by `actor`.
fn chat_event(actor: &Actor, action: AuditAction, session: &chat::Model) -> AuditEvent {
    let event = actor
        .event(action, CHAT_RESOURCE)
        .resource(session.id)
        .facility(session.facility_id);
    match session.lead_id {
        Some(lead_id) => event.lead(lead_id),
        None => event,
    }
}

/// Opens a chat session, for a known lead or an anonymous visitor.
/// Linking a lead changes that lead's engagement, so staff may link only
/// the leads assigned to them.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/chat-sessions",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewChatSession,
    responses((status = 201, description = "Opened", body = ChatSession), Problems),
    security(("bearer" = []))
)]
async fn create_chat_session(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewChatSession>,
) -> Result<(StatusCode, ApiJson<ChatSession>), ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    let now = Timestamp::now();
    new.validate(now)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    if let Some(lead_id) = new.lead_id {
        writable_lead(&txn, &scope, lead_id).await?;
    }
    let row = chat::insert(&*txn, &key, &scope, new_id(), &new, now).await?;
    let event = chat_event(&actor, AuditAction::Create, &row).changes(redact(
        json!({
            "channel": row.channel,
            "lead_id": row.lead_id,
            "visitor_ref": row.sealed_visitor_ref.is_some(),
            "started_at": row.started_at,
        }),
        CHAT_PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(ChatSession::open(&key, &row)?)))
}

/// The facility's chat sessions, oldest first; `active=true` for the open
/// ones only.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/chat-sessions",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility"), ChatFilter),
    responses((status = 200, description = "A page of sessions", body = Page<ChatSession>), Problems),
    security(("bearer" = []))
)]
async fn list_chat_sessions(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<ChatFilter>,
) -> Result<ApiJson<Page<ChatSession>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let rows = chat::page(state.db.conn(), &scope, &filter, limit).await?;
    let events = rows
        .iter()
        .map(|row| chat_event(&actor, AuditAction::Read, row))
        .collect();
    state.audit.record(events).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = rows
        .iter()
        .map(|row| ChatSession::open(&key, row))
        .collect::<Result<_, _>>()?;
    Ok(ApiJson(Page::new(items, limit, |s| s.id)))
}

/// Links a session to the lead the visitor turned out to be; the messages
/// so far then count towards the lead. A session is linked once: linking
/// it to its own lead again changes nothing, to another lead is refused.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/chat-sessions/{session_id}",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("session_id" = Uuid, Path, description = "The chat session"),
    ),
    request_body = ChatLink,
    responses((status = 200, description = "The linked session", body = ChatSession), Problems),
    security(("bearer" = []))
)]
async fn link_chat_session(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, session_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(link): ApiJson<ChatLink>,
) -> Result<ApiJson<ChatSession>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let session = chat::find(&*txn, &scope, session_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Whether the caller may change the lead comes first, so that asking
    // for a link that already holds does not answer 200 to someone who may
    // not make it.
    writable_lead(&txn, &scope, link.lead_id).await?;
    match session.lead_id {
        Some(linked) if linked == link.lead_id => {
            return Ok(ApiJson(ChatSession::open(&key, &session)?));
        }
        Some(linked) => {
            return Err(ApiError::Conflict(format!(
                "the chat session is already linked to lead {linked}"
            )));
        }
        None => {}
    }
    if !chat::link(&*txn, session_id, link.lead_id).await? {
        return Err(ApiError::Conflict(
            "the chat session was linked to a lead meanwhile".to_owned(),
        ));
    }
    let session = chat::find(&*txn, &scope, session_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if session.message_count > 0 {
        let counted = LeadActivity {
            chat_messages: session.message_count,
            active_at: Some(session.last_message_at),
            ..LeadActivity::default()
        };
        activity::record(&*txn, link.lead_id, counted).await?;
    }
    let event = chat_event(&actor, AuditAction::Update, &session).changes(redact(
        json!({ "lead_id": link.lead_id, "messages_counted": session.message_count }),
        CHAT_PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(ChatSession::open(&key, &session)?))
}

/// Records messages exchanged in an open session: its count and last
/// message time, and for a linked lead its chat messages, last activity and
/// score. A closed session takes no more messages (409): a visitor coming
/// back starts a new one.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/chat-sessions/{session_id}/messages",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("session_id" = Uuid, Path, description = "The chat session"),
    ),
    request_body = ChatActivity,
    responses((status = 200, description = "The session with the messages counted", body = ChatSession), Problems),
    security(("bearer" = []))
)]
async fn record_chat_messages(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, session_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(report): ApiJson<ChatActivity>,
) -> Result<ApiJson<ChatSession>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let session = chat::find(&*txn, &scope, session_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = Timestamp::now();
    report.validate(&session, now)?;
    let closed = || {
        ApiError::Conflict(
            "the chat session is closed; new messages belong in a new session".to_owned(),
        )
    };
    if !session.is_active {
        return Err(closed());
    }
    if let Some(lead_id) = session.lead_id {
        writable_lead(&txn, &scope, lead_id).await?;
    }
    let count = i32::try_from(report.count)
        .map_err(|_| ApiError::invalid("count", "must be between 1 and 1000"))?;
    let at = report.at.unwrap_or(now);
    if !chat::add_messages(&*txn, session_id, count, at).await? {
        return Err(closed());
    }
    if let Some(lead_id) = session.lead_id {
        let chatted = LeadActivity {
            chat_messages: count,
            active_at: Some(at),
            ..LeadActivity::default()
        };
        activity::record(&*txn, lead_id, chatted).await?;
    }
    let session = chat::find(&*txn, &scope, session_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let event = chat_event(&actor, AuditAction::Update, &session).changes(redact(
        json!({ "messages": count, "message_count": session.message_count, "at": at }),
        CHAT_PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(ChatSession::open(&key, &session)?))
}
