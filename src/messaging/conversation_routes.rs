//! `/facilities/{facility_id}/conversations`: the caller's conversations
//! with unread counts, starting a facility conversation, its status
//! (seed 002's machine), its details and its participants.
//!
//! Starting and changing a conversation needs `conversation:manage` and,
//! except for facility administrators, taking part in it. Direct
//! conversations are made and ended by their care-team link, not here.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::conversation_store::{self, ConversationFilter};
use super::conversations::{
    self, Access, Conversation, ConversationKind, ConversationStatusChange, ConversationUpdate,
    NewConversation, PHI_FIELDS,
};
use super::messages;
use super::participants::{self, NewParticipant, Participant, ParticipantRole};
use super::realtime::Notice;
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::DataKey;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

const RESOURCE: &str = "conversation";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_conversation, list_conversations))
        .routes(routes!(get_conversation, update_conversation))
        .routes(routes!(move_conversation_status))
        .routes(routes!(add_participant))
        .routes(routes!(remove_participant))
}

pub fn conversation_event(
    actor: &Actor,
    action: AuditAction,
    row: &conversations::Model,
) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(row.id)
        .facility(row.facility_id)
        .flag(ComplianceFlag::Phi)
        .concerning(row.patient_id, None)
}

/// Opens `rows` for `account_id`: their participants and unread counts in
/// two queries for the whole page.
async fn open_all(
    db: &impl ConnectionTrait,
    key: &DataKey,
    account_id: Uuid,
    rows: &[conversations::Model],
) -> Result<Vec<Conversation>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let everyone = participants::of_conversations(db, &ids).await?;
    let unread = messages::unread_counts(db, account_id, &ids).await?;
    rows.iter()
        .map(|row| {
            let people: Vec<&participants::Model> = everyone
                .iter()
                .filter(|p| p.conversation_id == row.id)
                .collect();
            let takes_part = people
                .iter()
                .any(|p| p.account_id == account_id && p.left_at.is_none());
            let count = takes_part.then(|| unread.get(&row.id).copied().unwrap_or(0));
            let shown = people
                .into_iter()
                .map(Participant::try_from)
                .collect::<Result<_, _>>()?;
            Conversation::open(key, row, shown, count)
        })
        .collect()
}

/// Opens one conversation on `db` (the transaction, inside one) with the
/// facility's `key`, fetched before the transaction began.
async fn open_one(
    db: &impl ConnectionTrait,
    key: &DataKey,
    account_id: Uuid,
    row: &conversations::Model,
) -> Result<Conversation, ApiError> {
    open_all(db, key, account_id, std::slice::from_ref(row))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// Starts a facility conversation; the caller joins as its owner.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations",
    tag = "messaging",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewConversation,
    responses((status = 201, description = "Started", body = Conversation), Problems),
    security(("bearer" = []))
)]
async fn start_conversation(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewConversation>,
) -> Result<(StatusCode, ApiJson<Conversation>), ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_MANAGE)?;
    new.validate()?;
    let now = Timestamp::now();
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    if let Some(patient) = new.patient_id
        && !crate::care::store::visible_to(&*txn, &actor, facility_id, patient).await?
    {
        return Err(ApiError::invalid(
            "patient_id",
            crate::care::store::NOT_VISIBLE,
        ));
    }
    let accounts: Vec<Uuid> = new.participants.iter().map(|p| p.account_id).collect();
    memberships::require_each_member(&*txn, facility_id, "participants", &accounts).await?;
    let row = conversation_store::insert(&*txn, &scope, &key, &new, now).await?;
    participants::join(
        &*txn,
        row.id,
        actor.account_id(),
        ParticipantRole::Owner,
        now,
    )
    .await?;
    for person in new
        .participants
        .iter()
        .filter(|p| p.account_id != actor.account_id())
    {
        let role = person.role.unwrap_or(ParticipantRole::Member);
        participants::join(&*txn, row.id, person.account_id, role, now).await?;
    }
    let shown = open_all(&*txn, &key, actor.account_id(), std::slice::from_ref(&row))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let event = conversation_event(&actor, AuditAction::Create, &row).changes(redact(
        json!({ "after": serde_json::to_value(&shown).unwrap_or_default() }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// The caller's conversations (those they take part in now), in the order
/// they were started, each with the caller's unread count.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/conversations",
    tag = "messaging",
    params(("facility_id" = Uuid, Path, description = "The facility"), ConversationFilter),
    responses((status = 200, description = "A page of conversations", body = Page<Conversation>), Problems),
    security(("bearer" = []))
)]
async fn list_conversations(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<ConversationFilter>,
) -> Result<ApiJson<Page<Conversation>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    if filter.all && !conversations::oversees(&actor, facility_id) {
        return Err(ApiError::Forbidden(
            "`all` needs the `facility:manage` permission".to_owned(),
        ));
    }
    let db = state.db.conn();
    let rows = conversation_store::page(db, &scope, &filter, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = open_all(db, &key, actor.account_id(), &rows).await?;
    state
        .audit
        .record(
            rows.iter()
                .map(|row| conversation_event(&actor, AuditAction::Read, row))
                .collect(),
        )
        .await?;
    Ok(ApiJson(Page::new(items, limit, |c: &Conversation| c.id)))
}

/// One conversation, with its participants and the caller's unread count.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/conversations/{conversation_id}",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    responses((status = 200, description = "The conversation", body = Conversation), Problems),
    security(("bearer" = []))
)]
async fn get_conversation(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Conversation>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
    let db = state.db.conn();
    let access = conversations::reach(db, &actor, &scope, conversation_id).await?;
    let key = state.keyring.facility(facility_id).await?;
    let shown = open_one(db, &key, actor.account_id(), &access.conversation).await?;
    state
        .audit
        .record(vec![conversation_event(
            &actor,
            AuditAction::Read,
            &access.conversation,
        )])
        .await?;
    Ok(ApiJson(shown))
}

/// A conversation the caller may change: a group one, taken part in (or
/// overseen by a facility administrator).
async fn manageable(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facility_id: Uuid,
    conversation_id: Uuid,
) -> Result<Access, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_MANAGE)?;
    let access = conversations::reach_for_update(db, actor, &scope, conversation_id).await?;
    if access.conversation.conversation_kind()? == ConversationKind::Direct {
        return Err(ApiError::Conflict(
            "a direct conversation follows its care-team link; change the link instead".to_owned(),
        ));
    }
    if scope.assigned_to().is_some() {
        let me = access.require_participant()?;
        if me.role == ParticipantRole::Observer.as_str() {
            return Err(ApiError::Forbidden(
                "observers do not change the conversation".to_owned(),
            ));
        }
    }
    Ok(access)
}

/// Changes a facility conversation's title, priority or tags.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/conversations/{conversation_id}",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body = ConversationUpdate,
    responses((status = 200, description = "Changed", body = Conversation), Problems),
    security(("bearer" = []))
)]
async fn update_conversation(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(update): ApiJson<ConversationUpdate>,
) -> Result<ApiJson<Conversation>, ApiError> {
    update.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let access = manageable(&*txn, &actor, facility_id, conversation_id).await?;
    let row = access.conversation;
    let updated = conversation_store::update(&*txn, &key, &row, &update, Timestamp::now()).await?;
    let shown = open_all(
        &*txn,
        &key,
        actor.account_id(),
        std::slice::from_ref(&updated),
    )
    .await?
    .pop()
    .ok_or(ApiError::NotFound)?;
    let event = conversation_event(&actor, AuditAction::Update, &updated).changes(redact(
        json!({ "title": update.title.is_some(), "priority": update.priority, "tags": update.tags }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// Escalates, completes, archives (recording who archived) or reactivates
/// a facility conversation.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/status",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body = ConversationStatusChange,
    responses((status = 200, description = "Moved", body = Conversation), Problems),
    security(("bearer" = []))
)]
async fn move_conversation_status(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(change): ApiJson<ConversationStatusChange>,
) -> Result<ApiJson<Conversation>, ApiError> {
    use crate::transition::StateMachine;
    let now = Timestamp::now();
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let access = manageable(&*txn, &actor, facility_id, conversation_id).await?;
    let row = access.conversation;
    let from = row.conversation_status()?;
    let to = from.transition(change.status)?;
    let updated = conversation_store::set_status(&*txn, &row, to, actor.account_id(), now).await?;
    let shown = open_one(&*txn, &key, actor.account_id(), &updated).await?;
    let event = conversation_event(&actor, AuditAction::Update, &updated)
        .changes(redact(json!({ "status": { "from": from, "to": to } }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// Adds someone with a role in the facility (or brings them back).
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/participants",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body = NewParticipant,
    responses((status = 200, description = "The conversation with them in it", body = Conversation), Problems),
    security(("bearer" = []))
)]
async fn add_participant(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(person): ApiJson<NewParticipant>,
) -> Result<ApiJson<Conversation>, ApiError> {
    let role = person.role.unwrap_or(ParticipantRole::Member);
    if matches!(role, ParticipantRole::Patient | ParticipantRole::Provider) {
        return Err(ApiError::invalid(
            "role",
            "`patient` and `provider` are the roles of a direct conversation's two sides",
        ));
    }
    let now = Timestamp::now();
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let access = manageable(&*txn, &actor, facility_id, conversation_id).await?;
    memberships::require_members(
        &*txn,
        facility_id,
        &[("account_id", Some(person.account_id))],
    )
    .await?;
    participants::join(&*txn, conversation_id, person.account_id, role, now).await?;
    let shown = open_one(&*txn, &key, actor.account_id(), &access.conversation).await?;
    let event =
        conversation_event(&actor, AuditAction::Update, &access.conversation).changes(redact(
            json!({ "participant_added": { "account_id": person.account_id, "role": role } }),
            &[],
        ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}

/// Takes someone out of a facility conversation; anyone may leave one
/// themselves. They keep nothing: their sockets stop receiving it at once.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/participants/{account_id}",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("account_id" = Uuid, Path, description = "The participant"),
    ),
    responses((status = 204, description = "Removed"), Problems),
    security(("bearer" = []))
)]
async fn remove_participant(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id, account_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let access = if account_id == actor.account_id() {
        let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
        let access =
            conversations::reach_for_update(&*txn, &actor, &scope, conversation_id).await?;
        if access.conversation.conversation_kind()? == ConversationKind::Direct {
            return Err(ApiError::Conflict(
                "a direct conversation follows its care-team link; end the link instead".to_owned(),
            ));
        }
        access
    } else {
        manageable(&*txn, &actor, facility_id, conversation_id).await?
    };
    if !participants::leave(&*txn, conversation_id, account_id, now).await? {
        return Err(ApiError::NotFound);
    }
    let event = conversation_event(&actor, AuditAction::Update, &access.conversation)
        .changes(redact(json!({ "participant_removed": account_id }), &[]));
    audit::commit(txn, vec![event]).await?;
    super::state_of(&state)
        .realtime
        .publish(Notice::Left {
            conversation_id,
            account_id,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
