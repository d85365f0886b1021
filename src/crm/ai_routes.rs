//! `/facilities/{facility_id}/leads/{lead_id}/ai-qualifications`: the AI
//! qualifier's interactions with a lead. Recording one changes the lead it
//! concerns (its clinical review) in the same transaction and appends its
//! audit event there; each read of sealed content is in the audit log
//! before the response leaves.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ai::{self, AiQualification, NewAiQualification, QualificationOutcome};
use super::leads::{self, PHI_FIELDS, ReviewStatus};
use super::routes::{lead_event, writable_lead};
use super::store::{self, ReviewChange};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

const AI_RESOURCE: &str = "ai_qualification";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_ai_qualification, list_ai_qualifications))
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
    let row = ai::insert(&*txn, &scope, &key, id, lead_id, &new, now).await?;
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
        && let Some(event) = put_up_for_review(&*txn, &scope, &key, &actor, lead, id, now).await?
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
    scope: &FacilityScope,
    key: &DataKey,
    actor: &Actor,
    lead: leads::Model,
    ai_qualification_id: Uuid,
    now: Timestamp,
) -> Result<Option<AuditEvent>, ApiError> {
    let from =
        ReviewStatus::from_stored(&lead.review_status, leads::TABLE, "review_status", lead.id)?;
    if from == ReviewStatus::Pending {
        return Ok(None);
    }
    let (facility_id, lead_id) = (lead.facility_id, lead.id);
    store::set_review(txn, scope, key, lead, ReviewChange::Pending, now).await?;
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
