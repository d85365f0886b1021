//! `/facilities/{facility_id}/lead-sources`: the facility's catalogue of
//! lead sources (`super::lead_sources`). Everyone who reads leads reads it
//! (it is what a source field offers); only `lead_source:manage`
//! (administrators) adds and removes entries. Every change appends its
//! audit event in its transaction.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::lead_sources::{self, KEY_CONSTRAINT, LeadSource, MAX_NAME};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, redact};
use crate::error::{ApiError, OnConstraint};
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::policy::{Actor, Permission};

const RESOURCE: &str = "lead_source";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_lead_sources, add_lead_source))
        .routes(routes!(remove_lead_source))
}

/// The facility's catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadSources {
    /// Every entry, by name (a catalogue is short; at most 1000).
    pub items: Vec<LeadSource>,
}

/// Lists the facility's lead sources: the spellings a lead's `source` is
/// matched to and statistics count by.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/lead-sources",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    responses((status = 200, description = "The catalogue", body = LeadSources), Problems),
    security(("bearer" = []))
)]
async fn list_lead_sources(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
) -> Result<ApiJson<LeadSources>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_READ)?;
    let rows = lead_sources::entries(state.db.conn(), &scope).await?;
    Ok(ApiJson(LeadSources {
        items: rows.into_iter().map(LeadSource::from).collect(),
    }))
}

/// A new catalogue entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLeadSource {
    /// 1 to 100 characters, stored with its spaces tidied; it must differ
    /// from every entry by more than case and spacing. A channel, never a
    /// person: entries are stored and counted in clear.
    pub name: String,
}

fn source_event(actor: &Actor, action: AuditAction, facility_id: Uuid, id: Uuid) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(id)
        .facility(facility_id)
}

/// Adds a lead source. The facility's leads whose free source is this one
/// however written (`" google  ads"` for `Google Ads`) take the entry's
/// spelling, so statistics count them under it from now on.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/lead-sources",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewLeadSource,
    responses((status = 201, description = "Added", body = LeadSource), Problems),
    security(("bearer" = []))
)]
async fn add_lead_source(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewLeadSource>,
) -> Result<(StatusCode, ApiJson<LeadSource>), ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_SOURCE_MANAGE)?;
    let mut c = crate::validation::Checks::default();
    c.text("name", &lead_sources::tidy(&body.name), MAX_NAME);
    if lead_sources::key_of(&body.name) == lead_sources::key_of(crate::crypto::OTHER_LABEL) {
        c.fail(
            "name",
            "`Other` is what free sources are counted as; choose another name",
        );
    }
    c.done()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let (entry, moved) = lead_sources::add(&*txn, &key, &scope, &body.name)
        .await
        .on_constraint(KEY_CONSTRAINT, || {
            ApiError::Conflict(
                "the catalogue already has this source (compared ignoring case and spacing)"
                    .to_owned(),
            )
        })?;
    let event = source_event(&actor, AuditAction::Create, facility_id, entry.id).changes(redact(
        json!({ "name": entry.name, "leads_moved_into_it": moved }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(entry.into())))
}

/// Removes a lead source from the catalogue. Leads keep the spelling they
/// have (statistics still count them by it); new leads may give it only
/// as a free source, if the facility accepts those.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/lead-sources/{source_id}",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("source_id" = Uuid, Path, description = "The catalogue entry"),
    ),
    responses((status = 204, description = "Removed"), Problems),
    security(("bearer" = []))
)]
async fn remove_lead_source(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, source_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_SOURCE_MANAGE)?;
    let txn = state.db.begin().await?;
    let entry = lead_sources::remove(&*txn, &scope, source_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let event = source_event(&actor, AuditAction::Delete, facility_id, entry.id)
        .changes(redact(json!({ "name": entry.name }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok(StatusCode::NO_CONTENT)
}
