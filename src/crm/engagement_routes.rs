//! A lead's engagement over HTTP: the AI qualifier's interactions
//! (`/leads/{lead_id}/ai-qualifications`), web chat sessions
//! (`/chat-sessions`) and seed 000's `log_communication`
//! (`/communications`). Each write changes the lead it concerns in the same
//! transaction and appends its audit event there; each read of sealed
//! content is in the audit log before the response leaves.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::activity::{self, LeadActivity};
use super::ai::{self, AiQualification, NewAiQualification, QualificationOutcome};
use super::chat::{self, ChatActivity, ChatFilter, ChatLink, ChatSession, NewChatSession};
use super::communications::{
    self, Communication, CommunicationDirection, CommunicationFilter, Counterpart, LoggedBy,
    NewCommunication, Reach,
};
use super::leads::{self, PHI_FIELDS, ReviewStatus};
use super::routes::{lead_event, writable_lead};
use super::store;
use crate::access::{Actor, PatientFilter, Permission, Principal};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::care;
use crate::crypto::DataKey;
use crate::db::{ConstraintViolation, new_id};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::time::Timestamp;

const AI_RESOURCE: &str = "ai_qualification";
const CHAT_RESOURCE: &str = "chat_session";
/// Seed 000's `communication_audit` view shows the events of this resource.
const COMMUNICATION_RESOURCE: &str = "communication";
/// A chat widget's visitor id may be a cookie that follows a person around.
const CHAT_PHI_FIELDS: &[&str] = &["visitor_ref"];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ai_qualification, list_ai_qualifications))
        .routes(routes!(create_chat_session, list_chat_sessions))
        .routes(routes!(link_chat_session))
        .routes(routes!(record_chat_messages))
        .routes(routes!(log_communication, list_communications))
}

/// Records one exchange between the AI qualifier and a lead. An outcome of
/// `needs_review` puts the lead up for clinical review.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/{lead_id}/ai-qualifications",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    request_body = NewAiQualification,
    responses((status = 201, description = "Recorded", body = AiQualification), Problems),
    security(("bearer" = []))
)]
async fn create_ai_qualification(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(new): ApiJson<NewAiQualification>,
) -> Result<(StatusCode, ApiJson<AiQualification>), ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    new.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let lead = writable_lead(&txn, &scope, lead_id).await?;
    let id = new_id();
    let now = Timestamp::now();
    let row = ai::seal_new(&key, id, &scope, lead_id, &new, now)
        .insert(&*txn)
        .await?;
    let logged = AiQualification::open(&key, &row)?;
    let mut events = vec![
        actor
            .event(AuditAction::Create, AI_RESOURCE)
            .resource(id)
            .facility(facility_id)
            .lead(lead_id)
            .flag(ComplianceFlag::Phi)
            .changes(redact(
                json!({
                    "model": logged.model,
                    "outcome": logged.outcome,
                    "confidence": logged.confidence,
                }),
                &[],
            )),
    ];
    if new.outcome == QualificationOutcome::NeedsReview
        && let Some(event) = put_up_for_review(&*txn, &actor, lead, id, now).await?
    {
        events.push(event);
    }
    audit::commit(txn, events).await?;
    Ok((StatusCode::CREATED, ApiJson(logged)))
}

/// Makes the lead's clinical review pending, as the AI asked; a decision
/// taken before is cleared from the lead (the audit log keeps it), since
/// the new interaction is what a reviewer must now look at. Returns the
/// lead's event, or nothing when the review was already pending.
async fn put_up_for_review(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    lead: leads::Model,
    ai_qualification_id: Uuid,
    now: Timestamp,
) -> Result<Option<AuditEvent>, ApiError> {
    let from = ReviewStatus::parse(&lead.review_status).unwrap_or(ReviewStatus::NotRequired);
    if from == ReviewStatus::Pending {
        return Ok(None);
    }
    let (facility_id, lead_id) = (lead.facility_id, lead.id);
    let mut active: leads::ActiveModel = lead.into();
    active.review_status = ActiveValue::Set(ReviewStatus::Pending.as_str().to_owned());
    active.review_reason = ActiveValue::Set(None);
    active.reviewed_by = ActiveValue::Set(None);
    active.reviewed_at = ActiveValue::Set(None);
    active.updated_at = ActiveValue::Set(now);
    active.update(txn).await?;
    Ok(Some(
        lead_event(actor, AuditAction::Update, facility_id, lead_id).changes(redact(
            json!({ "review": {
                "from": from,
                "to": ReviewStatus::Pending,
                "ai_qualification_id": ai_qualification_id,
            } }),
            PHI_FIELDS,
        )),
    ))
}

/// A lead's AI interactions, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads/{lead_id}/ai-qualifications",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of interactions", body = Page<AiQualification>), Problems),
    security(("bearer" = []))
)]
async fn list_ai_qualifications(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<AiQualification>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let limit = page.limit()?;
    let db = state.db.conn();
    store::find(db, &scope, lead_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let rows = ai::page(db, &scope, lead_id, page.after, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = rows
        .iter()
        .map(|row| AiQualification::open(&key, row))
        .collect::<Result<Vec<_>, _>>()?;
    let events = rows
        .iter()
        .map(|row| {
            actor
                .event(AuditAction::Read, AI_RESOURCE)
                .resource(row.id)
                .facility(facility_id)
                .lead(lead_id)
                .flag(ComplianceFlag::Phi)
        })
        .collect();
    state.audit.record(events).await?;
    Ok(ApiJson(Page::new(items, limit, |i| i.id)))
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
    let txn = state.db.begin().await?;
    if let Some(lead_id) = new.lead_id {
        writable_lead(&txn, &scope, lead_id).await?;
    }
    let row = chat::new_row(new_id(), &scope, &new, now)
        .insert(&*txn)
        .await?;
    let event = chat_event(&actor, AuditAction::Create, &row).changes(redact(
        json!({
            "channel": row.channel,
            "lead_id": row.lead_id,
            "visitor_ref": row.visitor_ref,
            "started_at": row.started_at,
        }),
        CHAT_PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(ChatSession::from(&row))))
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
    let items = rows.iter().map(ChatSession::from).collect();
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
    let txn = state.db.begin().await?;
    let session = chat::find(&*txn, &scope, session_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match session.lead_id {
        Some(linked) if linked == link.lead_id => return Ok(ApiJson(ChatSession::from(&session))),
        Some(linked) => {
            return Err(ApiError::Conflict(format!(
                "the chat session is already linked to lead {linked}"
            )));
        }
        None => {}
    }
    writable_lead(&txn, &scope, link.lead_id).await?;
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
    Ok(ApiJson(ChatSession::from(&session)))
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
    Ok(ApiJson(ChatSession::from(&session)))
}

/// Whether the actor may log a communication with this patient of the
/// facility.
///
/// An actor that reads patients here (`patient:read`) must be able to read
/// this one: its reach among patients applies, as everywhere else. An
/// actor without `patient:read` — typically n8n's key, scoped to
/// `communication:log` only — reads no patient, yet logging what was sent
/// to a patient (a reminder, a portal message) is exactly what that
/// permission is for; for it the patient need only be one of this
/// facility's. That reveals nothing beyond what the caller sent: the answer
/// is its own communication, and a patient of another facility, or none,
/// is not found either way.
async fn may_log_with_patient(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facility_id: Uuid,
    patient_id: Uuid,
) -> Result<bool, ApiError> {
    match actor.facility(facility_id, Permission::PATIENT_READ) {
        Ok(patients) => Ok(care::store::find(db, &patients, patient_id)
            .await?
            .is_some()),
        Err(_) => Ok(care::store::exists(db, facility_id, patient_id).await?),
    }
}

/// The answer to a key already used: the original communication (200) when
/// the request is the same, a conflict when it is not. A caller sees the
/// original only by sending its exact content, so a replay shows nothing
/// new, and writes nothing.
fn replay(
    key: &DataKey,
    new: &NewCommunication,
    existing: &communications::Model,
) -> Result<(StatusCode, ApiJson<Communication>), ApiError> {
    if existing.request_digest != new.digest(key) {
        return Err(ApiError::Conflict(format!(
            "the idempotency key was already used for communication {} with other content",
            existing.id
        )));
    }
    Ok((StatusCode::OK, ApiJson(Communication::open(key, existing)?)))
}

/// Logs a communication with a lead or a patient (seed 000's
/// `log_communication`, for n8n and other integrations). Idempotent by
/// `idempotency_key`: the first request answers 201, a retry with the same
/// content answers 200 with the same record, the same key with other
/// content 409. With a lead, an inbound communication counts as its reply
/// and activity, an outbound one as contact; the lead is rescored. Logging
/// records what happened rather than working the lead, so it is not limited
/// to the leads assigned to the caller.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/communications",
    tag = "communications",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewCommunication,
    responses(
        (status = 201, description = "Logged", body = Communication),
        (status = 200, description = "Logged before under this key", body = Communication),
        Problems
    ),
    security(("bearer" = []))
)]
async fn log_communication(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewCommunication>,
) -> Result<(StatusCode, ApiJson<Communication>), ApiError> {
    let scope = actor.facility(facility_id, Permission::COMMUNICATION_LOG)?;
    let now = Timestamp::now();
    let counterpart = new.validate(now)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let found = match counterpart {
        Counterpart::Lead(lead_id) => store::find(&*txn, &scope, lead_id).await?.is_some(),
        Counterpart::Patient(patient_id) => {
            may_log_with_patient(&*txn, &actor, facility_id, patient_id).await?
        }
    };
    if !found {
        return Err(ApiError::NotFound);
    }
    if let Some(existing) = communications::find_by_key(&*txn, &scope, &new.idempotency_key).await?
    {
        txn.rollback().await?;
        return replay(&key, &new, &existing);
    }
    let by = LoggedBy {
        account_id: actor.account_id(),
        api_key_id: match actor.principal {
            Principal::ApiKey { key_id, .. } => Some(key_id),
            Principal::Account { .. } => None,
        },
    };
    let id = new_id();
    let inserted = communications::seal_new(&key, id, &scope, &new, by, now)
        .insert(&*txn)
        .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e)
            if ConstraintViolation::from_db_err(&e)
                .is_some_and(|v| v.is(communications::KEY_CONSTRAINT)) =>
        {
            // A concurrent request with the same key won; answer as its retry.
            txn.rollback().await?;
            let existing =
                communications::find_by_key(state.db.conn(), &scope, &new.idempotency_key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Conflict("the idempotency key is in use; retry".to_owned())
                    })?;
            return replay(&key, &new, &existing);
        }
        Err(e) => return Err(e.into()),
    };
    if let Counterpart::Lead(lead_id) = counterpart {
        let happened = match new.direction {
            CommunicationDirection::Inbound => LeadActivity {
                replies: 1,
                active_at: Some(row.occurred_at),
                ..LeadActivity::default()
            },
            CommunicationDirection::Outbound => LeadActivity {
                contacted_at: Some(row.occurred_at),
                ..LeadActivity::default()
            },
        };
        activity::record(&*txn, lead_id, happened).await?;
    }
    let logged = Communication::open(&key, &row)?;
    let event = communication_event(&actor, AuditAction::Create, &row).changes(redact(
        json!({
            "channel": logged.channel,
            "direction": logged.direction,
            "retention_category": logged.retention_category,
            "contains_phi": logged.contains_phi,
            "idempotency_key": logged.idempotency_key,
        }),
        &["summary"],
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(logged)))
}

/// An event about a communication: with its lead or patient, flagged PHI
/// when the communication carried PHI.
fn communication_event(
    actor: &Actor,
    action: AuditAction,
    row: &communications::Model,
) -> AuditEvent {
    let mut event = actor
        .event(action, COMMUNICATION_RESOURCE)
        .resource(row.id)
        .facility(row.facility_id);
    if let Some(lead_id) = row.lead_id {
        event = event.lead(lead_id);
    }
    if let Some(patient_id) = row.patient_id {
        event = event.patient(patient_id);
    }
    if row.contains_phi {
        event = event.flag(ComplianceFlag::Phi);
    }
    event
}

/// The facility's communications, oldest first: a lead's (`lead_id`), a
/// patient's (`patient_id`, for actors who read that patient), or all that
/// the actor may read — every lead's, and every patient's when it reads
/// every patient of the facility.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/communications",
    tag = "communications",
    params(("facility_id" = Uuid, Path, description = "The facility"), CommunicationFilter),
    responses((status = 200, description = "A page of communications", body = Page<Communication>), Problems),
    security(("bearer" = []))
)]
async fn list_communications(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<CommunicationFilter>,
) -> Result<ApiJson<Page<Communication>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let db = state.db.conn();
    let patients = actor.facility(facility_id, Permission::PATIENT_READ).ok();
    let reach = match (filter.lead_id, filter.patient_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "patient_id",
                "filter by lead_id or by patient_id, not both",
            ));
        }
        (Some(lead_id), None) => {
            store::find(db, &scope, lead_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            Reach::Lead(lead_id)
        }
        (None, Some(patient_id)) => {
            let patients = patients.ok_or_else(|| {
                ApiError::Forbidden(
                    "a patient's communications need the `patient:read` permission".to_owned(),
                )
            })?;
            care::store::find(db, &patients, patient_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            Reach::Patient(patient_id)
        }
        (None, None) => {
            if patients.is_some_and(|p| p.patients() == PatientFilter::All) {
                Reach::All
            } else {
                Reach::LeadsOnly
            }
        }
    };
    let rows = communications::page(db, &scope, reach, filter.after, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = rows
        .iter()
        .map(|row| Communication::open(&key, row))
        .collect::<Result<Vec<_>, _>>()?;
    let events = rows
        .iter()
        .map(|row| {
            communication_event(&actor, AuditAction::Read, row).changes(redact(
                json!({
                    "channel": row.channel(),
                    "direction": row.direction(),
                    "retention_category": row.retention_category(),
                }),
                &[],
            ))
        })
        .collect();
    state.audit.record(events).await?;
    Ok(ApiJson(Page::new(items, limit, |c| c.id)))
}
