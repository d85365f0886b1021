//! `/facilities/{facility_id}/leads`: recording, listing, reading and
//! changing leads; with the helpers every CRM route
//! that touches a lead shares (its audit event, opening it, placing it,
//! reading it for a write, rescoring it). Every read of a lead is recorded
//! in the audit log before the response leaves; every write appends its
//! event in its transaction. A lead's moves are in `lifecycle_routes`,
//! pipelines in the pipelines context.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::history::Move;
use super::lead_sources::Catalogue;
use super::leads::{self, Lead, LeadChanges, LeadStatus, NewLead, PHI_FIELDS, Placement};
use super::store::{self, LeadFilter};
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::identity::accounts;
use crate::pipelines::store::{self as pipelines, PipelineKind};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

pub(super) const RESOURCE: &str = "lead";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_lead, list_leads))
        .routes(routes!(get_lead, update_lead))
        .routes(routes!(search_leads))
}

/// An event about a lead by `actor`.
pub(super) fn lead_event(
    actor: &Actor,
    action: AuditAction,
    facility_id: Uuid,
    lead_id: Uuid,
) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(lead_id)
        .facility(facility_id)
        .lead(lead_id)
        .flag(ComplianceFlag::Phi)
}

/// Opens leads with their interests and stage names (two queries for the
/// whole page), and returns them only once their reads are in the audit log.
async fn open_recorded(
    state: &AppState,
    db: &impl ConnectionTrait,
    actor: &Actor,
    key: &DataKey,
    rows: &[leads::Model],
) -> Result<Vec<Lead>, ApiError> {
    let leads = open_all(db, key, rows).await?;
    let events = rows
        .iter()
        .map(|row| lead_event(actor, AuditAction::Read, row.facility_id, row.id))
        .collect();
    state.audit.record(events).await?;
    Ok(leads)
}

/// Opens leads without recording a read: for the answer to a write, whose
/// own event already covers it.
pub(super) async fn open_all(
    db: &impl ConnectionTrait,
    key: &DataKey,
    rows: &[leads::Model],
) -> Result<Vec<Lead>, ApiError> {
    let mut interests = store::interests_of(db, rows).await?;
    let stages = store::stage_names(db, rows).await?;
    let portal_accounts: Vec<Uuid> = rows.iter().filter_map(|r| r.portal_account_id).collect();
    let sign_ins = accounts::last_sign_ins(db, &portal_accounts).await?;
    rows.iter()
        .map(|row| {
            let opened = interests
                .remove(&row.id)
                .unwrap_or_default()
                .iter()
                .map(|i| leads::open_interest(key, i))
                .collect::<Result<Vec<_>, _>>()?;
            let stage = stages.get(&row.stage_id).cloned().unwrap_or_default();
            let mut lead = Lead::open(key, row, opened, stage)?;
            lead.last_portal_login = row
                .portal_account_id
                .and_then(|account| sign_ins.get(&account).copied());
            Ok(lead)
        })
        .collect()
}

pub(super) async fn open_one(
    db: &impl ConnectionTrait,
    key: &DataKey,
    row: &leads::Model,
) -> Result<Lead, ApiError> {
    open_all(db, key, std::slice::from_ref(row))
        .await?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// Refuses a lead whose email or phone another lead of the facility has.
async fn refuse_duplicates(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    email: Option<&str>,
    phone: Option<&str>,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    let email_index = email.map(|e| leads::email_index(key, e));
    let phone_index = phone.map(|p| leads::phone_index(key, p));
    let found = store::duplicates(
        db,
        scope,
        email_index.as_ref(),
        phone_index.as_ref(),
        except,
    )
    .await?;
    match found.first() {
        None => Ok(()),
        Some(existing) => {
            let field = if email_index.is_some() && existing.email_index == email_index {
                "email"
            } else {
                "phone"
            };
            Err(ApiError::Conflict(format!(
                "lead {} already has this {field}",
                existing.id
            )))
        }
    }
}

/// Where a new lead goes: the given or default lead pipeline, the given or
/// first stage, the given owner or the creator; its source as `sources`
/// has it.
pub(super) async fn placement(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    actor: &Actor,
    new: &NewLead,
    sources: &Catalogue,
) -> Result<Placement, ApiError> {
    let source = sources.choose_field(new.source.as_deref())?;
    let pipeline = match new.pipeline_id {
        Some(id) => pipelines::find(db, scope, id)
            .await?
            .filter(|p| p.kind == PipelineKind::Lead)
            .ok_or_else(|| ApiError::invalid("pipeline_id", "no lead pipeline with this id"))?,
        None => pipelines::default_of(db, scope, PipelineKind::Lead)
            .await?
            .ok_or_else(|| ApiError::Conflict("this facility has no lead pipeline".to_owned()))?,
    };
    let stage = match new.stage_id {
        Some(id) => pipeline
            .stage(id)
            .ok_or_else(|| ApiError::invalid("stage_id", "not a stage of the pipeline"))?,
        None => pipeline
            .first_stage()
            .ok_or_else(|| ApiError::Conflict("the pipeline has no stages".to_owned()))?,
    };
    let owner_id = new.owner_id.or(match actor.principal {
        crate::policy::Principal::Account { account_id, .. } => Some(account_id),
        crate::policy::Principal::ApiKey { .. } => None,
    });
    Ok(Placement {
        pipeline_id: pipeline.id,
        stage_id: stage.id,
        owner_id,
        source,
    })
}

/// Records a lead, de-duplicated by email and phone.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewLead,
    responses((status = 201, description = "Recorded", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn create_lead(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewLead>,
) -> Result<(StatusCode, ApiJson<Lead>), ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_CREATE)?;
    new.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let lead = insert_lead(&txn, &scope, &actor, &key, &new).await?;
    audit::commit(txn, vec![created_event(&actor, &lead)]).await?;
    Ok((StatusCode::CREATED, ApiJson(lead)))
}

/// The audit event of a new lead.
pub(super) fn created_event(actor: &Actor, lead: &Lead) -> AuditEvent {
    let mut after = serde_json::to_value(lead).unwrap_or_default();
    // A free-text source is recorded as `Other`, like its clear column.
    after["source"] = json!(leads::source_label(&lead.source));
    lead_event(actor, AuditAction::Create, lead.facility_id, lead.id)
        .changes(redact(json!({ "after": after }), PHI_FIELDS))
}

/// Writes a new lead in `txn`: checks, de-duplication, placement, interests
/// and its first moves. The CSV import makes the same checks in bulk
/// (`super::import_routes`).
pub(super) async fn insert_lead(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    actor: &Actor,
    key: &DataKey,
    new: &NewLead,
) -> Result<Lead, ApiError> {
    let facility_id = scope.facility_id();
    memberships::require_members(
        txn,
        facility_id,
        &[
            ("owner_id", new.owner_id),
            ("health_coach_id", new.health_coach_id),
        ],
    )
    .await?;
    refuse_duplicates(
        txn,
        scope,
        key,
        new.email.as_deref(),
        new.phone.as_deref(),
        None,
    )
    .await?;
    let sources = Catalogue::of(txn, facility_id).await?;
    let place = placement(txn, scope, actor, new, &sources).await?;
    let stage_id = place.stage_id;
    let id = new_id();
    let now = Timestamp::now();
    let row = store::insert(txn, scope, key, id, new, place, now).await?;
    store::replace_interests(txn, id, leads::seal_interests(key, id, &new.interests)).await?;
    let first = Move {
        to_status: Some(LeadStatus::New),
        to_stage: Some(stage_id),
        ..Move::default()
    };
    store::record_move(txn, id, first, Some(actor.account_id()), now).await?;
    open_one(txn, key, &row).await
}

/// Lists the facility's leads, filtered, a page at a time. Seed 000's views
/// are filters: `view=active` (`v_active_leads`) and `review=pending`
/// (`v_leads_pending_review`).
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility"), LeadFilter),
    responses((status = 200, description = "A page of leads", body = Page<Lead>), Problems),
    security(("bearer" = []))
)]
async fn list_leads(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<LeadFilter>,
) -> Result<ApiJson<Page<Lead>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let db = state.db.conn();
    let key = state.keyring.facility(facility_id).await?;
    let filter = filter.in_catalogue_spelling(&Catalogue::of(db, facility_id).await?);
    let rows = store::page(db, &key, &scope, &filter, limit).await?;
    let leads = open_recorded(&state, db, &actor, &key, &rows).await?;
    Ok(ApiJson(Page::new(leads, limit, |l| l.id)))
}

/// Reads one lead.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads/{lead_id}",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    responses((status = 200, description = "The lead", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn get_lead(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Lead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let db = state.db.conn();
    let row = store::find(db, &scope, lead_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let mut leads = open_recorded(&state, db, &actor, &key, &[row]).await?;
    leads.pop().map(ApiJson).ok_or(ApiError::NotFound)
}

/// What to look a lead up by: exactly one of the two, compared as the
/// duplicate check compares them (email ignoring case, phone by its digits).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadLookup {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The leads a lookup found.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadMatches {
    /// At most one within a facility (duplicates are refused), unless
    /// leads from before that rule share the value.
    pub items: Vec<Lead>,
}

/// Most leads one lookup returns.
const MAX_MATCHES: u64 = 50;

/// Finds leads by exact email or phone, through their blind indexes. The
/// value travels in the body, never in a URL that proxies and logs would
/// keep. Every lead found is recorded as read.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/search",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = LeadLookup,
    responses((status = 200, description = "The leads found", body = LeadMatches), Problems),
    security(("bearer" = []))
)]
async fn search_leads(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(lookup): ApiJson<LeadLookup>,
) -> Result<ApiJson<LeadMatches>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let key = state.keyring.facility(facility_id).await?;
    let (email, phone) = match (given(lookup.email), given(lookup.phone)) {
        (Some(email), None) => (Some(leads::email_index(&key, &email)), None),
        (None, Some(phone)) => (None, Some(leads::phone_index(&key, &phone))),
        _ => {
            return Err(ApiError::invalid(
                "email",
                "give exactly one of `email` or `phone`",
            ));
        }
    };
    let db = state.db.conn();
    let rows = store::look_up(db, &scope, email.as_ref(), phone.as_ref(), MAX_MATCHES).await?;
    let items = open_recorded(&state, db, &actor, &key, &rows).await?;
    Ok(ApiJson(LeadMatches { items }))
}

/// A lead the actor may change, read inside `txn`.
pub(super) async fn writable_lead(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    lead_id: Uuid,
) -> Result<leads::Model, ApiError> {
    let row = store::find(txn, scope, lead_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    scope.require_assigned(RESOURCE, &row.assignees())?;
    Ok(row)
}

/// Changes a lead: absent fields stay, `null` clears an optional field.
/// Staff change only the leads they own or are booked with.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/leads/{lead_id}",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    request_body = LeadChanges,
    responses((status = 200, description = "The changed lead", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn update_lead(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<LeadChanges>,
) -> Result<ApiJson<Lead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_UPDATE)?;
    changes.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_lead(&txn, &scope, lead_id).await?;
    let before = open_one(&*txn, &key, &row).await?;
    memberships::require_members(
        &*txn,
        facility_id,
        &[
            ("owner_id", changes.owner_id.flatten()),
            ("health_coach_id", changes.health_coach_id.flatten()),
        ],
    )
    .await?;
    refuse_duplicates(
        &*txn,
        &scope,
        &key,
        changes.email.as_ref().and_then(|e| e.as_deref()),
        changes.phone.as_ref().and_then(|p| p.as_deref()),
        Some(lead_id),
    )
    .await?;
    if let Some(interests) = &changes.interests {
        store::replace_interests(
            &*txn,
            lead_id,
            leads::seal_interests(&key, lead_id, interests),
        )
        .await?;
    }
    let source = match &changes.source {
        Some(given) => Some(
            Catalogue::of(&*txn, facility_id)
                .await?
                .choose_field(Some(given))?,
        ),
        None => None,
    };
    let row = store::update(
        &*txn,
        &scope,
        &key,
        row,
        &changes,
        source.as_ref(),
        Timestamp::now(),
    )
    .await?;
    let lead = open_one(&*txn, &key, &row).await?;
    let recorded = audit::changes::changed(
        &key,
        &changes.touched(),
        &serde_json::to_value(&before).unwrap_or_default(),
        &serde_json::to_value(&lead).unwrap_or_default(),
        PHI_FIELDS,
    );
    let event = lead_event(&actor, AuditAction::Update, facility_id, lead_id).changes(recorded);
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(lead))
}
