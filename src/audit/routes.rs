//! Searching and exporting the audit log over HTTP. Facility
//! administrators see their facility's events; installation administrators
//! see every event. An export is itself recorded before it is sent.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{
    AuditAction, AuditFilter, ComplianceFlag, StoredEvent, changes, redact, search, write_csv,
    write_ndjson,
};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

/// Most events one export returns; narrow the time range for more.
pub const MAX_EXPORT: u64 = 50_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(facility_events))
        .routes(routes!(facility_export))
        .routes(routes!(all_events))
        .routes(routes!(all_export))
}

/// Which events to return, a page at a time.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub action: Option<AuditAction>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    /// Events at or after this instant (RFC 3339).
    pub from: Option<Timestamp>,
    /// Events before this instant (RFC 3339).
    pub to: Option<Timestamp>,
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
    /// Events per page, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

/// Which events to export: the search's filters, and how many at most.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub action: Option<AuditAction>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    /// Events at or after this instant (RFC 3339).
    pub from: Option<Timestamp>,
    /// Events before this instant (RFC 3339).
    pub to: Option<Timestamp>,
    /// Only events older than this one (a `seq`).
    pub before: Option<i64>,
    /// The most events to export, newest first, 1 to 50 000; every
    /// matching event up to 50 000 when absent.
    #[param(minimum = 1, maximum = 50000)]
    pub limit: Option<u64>,
    /// `ndjson` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

impl EventQuery {
    fn filter(&self, facility_ids: Option<Vec<Uuid>>) -> AuditFilter {
        AuditFilter {
            facility_ids,
            patient_id: self.patient_id,
            lead_id: self.lead_id,
            actor_id: self.actor_id,
            action: self.action,
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id,
            from: self.from,
            to: self.to,
        }
    }

    fn limit(&self) -> Result<u64, ApiError> {
        crate::http::extract::limit_within(self.limit, 100, super::MAX_PAGE)
    }
}

impl ExportQuery {
    fn filter(&self, facility_ids: Option<Vec<Uuid>>) -> AuditFilter {
        AuditFilter {
            facility_ids,
            patient_id: self.patient_id,
            lead_id: self.lead_id,
            actor_id: self.actor_id,
            action: self.action,
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id,
            from: self.from,
            to: self.to,
        }
    }

    fn limit(&self) -> Result<u64, ApiError> {
        crate::http::extract::limit_within(self.limit, MAX_EXPORT, MAX_EXPORT)
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<StoredEvent>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// A page of events, PHI values opened for `actor` (who holds `audit:read`
/// where they were recorded), and that opening recorded first.
async fn page(
    state: &AppState,
    actor: &Actor,
    query: &EventQuery,
    facility_ids: Option<Vec<Uuid>>,
) -> Result<EventPage, ApiError> {
    let limit = query.limit()?;
    let mut items = search(&state.db, &query.filter(facility_ids), query.before, limit).await?;
    let reads = changes::open_for_auditor(state, actor, &mut items).await?;
    state.audit.record(reads).await?;
    let next_before = if items.len() as u64 == limit {
        items.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(EventPage { items, next_before })
}

/// Searches the facility's audit events.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/audit-events",
    tag = "audit",
    params(("facility_id" = Uuid, Path, description = "The facility"), EventQuery),
    responses((status = 200, description = "A page of events", body = EventPage), Problems),
    security(("bearer" = []))
)]
async fn facility_events(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<ApiJson<EventPage>, ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::AUDIT_READ)?
        .facility_id();
    Ok(ApiJson(
        page(&state, &actor, &query, Some(vec![facility_id])).await?,
    ))
}

/// Searches every audit event (installation administrators).
#[utoipa::path(
    get,
    path = "/admin/audit-events",
    tag = "audit",
    params(EventQuery),
    responses((status = 200, description = "A page of events", body = EventPage), Problems),
    security(("bearer" = []))
)]
async fn all_events(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<ApiJson<EventPage>, ApiError> {
    actor.require_installation(Permission::AUDIT_READ)?;
    Ok(ApiJson(page(&state, &actor, &query, None).await?))
}

/// Exports the facility's matching events as NDJSON or CSV.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/audit-events/export",
    tag = "audit",
    params(("facility_id" = Uuid, Path, description = "The facility"), ExportQuery),
    responses(
        (status = 200, description = "The events, newest first: NDJSON, or CSV with format=csv",
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        Problems
    ),
    security(("bearer" = []))
)]
async fn facility_export(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let facility_id = actor
        .facility(facility_id, Permission::AUDIT_EXPORT)?
        .facility_id();
    export(&state, &actor, &query, Some(vec![facility_id])).await
}

/// Exports every matching event (installation administrators).
#[utoipa::path(
    get,
    path = "/admin/audit-events/export",
    tag = "audit",
    params(ExportQuery),
    responses(
        (status = 200, description = "The events, newest first: NDJSON, or CSV with format=csv",
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        Problems
    ),
    security(("bearer" = []))
)]
async fn all_export(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    actor.require_installation(Permission::AUDIT_EXPORT)?;
    export(&state, &actor, &query, None).await
}

/// Gathers the newest `limit` matching events page by page, records the
/// export, then sends them.
async fn export(
    state: &AppState,
    actor: &Actor,
    query: &ExportQuery,
    facility_ids: Option<Vec<Uuid>>,
) -> Result<Response, ApiError> {
    let limit = query.limit()?;
    let filter = query.filter(facility_ids.clone());
    let mut events = Vec::new();
    let mut before = query.before;
    loop {
        let wanted = (limit - events.len() as u64).min(super::MAX_PAGE);
        let page = search(&state.db, &filter, before, wanted).await?;
        let full = page.len() as u64 == wanted;
        before = page.last().map(|e| e.seq);
        events.extend(page);
        if !full || events.len() as u64 >= limit {
            break;
        }
    }
    let format = query.format.unwrap_or(ExportFormat::Ndjson);
    let mut event = actor
        .event(AuditAction::Export, "audit_event")
        .changes(redact(
            serde_json::json!({ "events": events.len(), "format": format_name(format) }),
            &[],
        ))
        .flag(ComplianceFlag::Export);
    if let Some([facility]) = facility_ids.as_deref() {
        event = event.facility(*facility);
    }
    let mut recorded = changes::open_for_auditor(state, actor, &mut events).await?;
    recorded.push(event);
    state.audit.record(recorded).await?;
    let mut body = Vec::new();
    let content_type = match format {
        ExportFormat::Ndjson => {
            write_ndjson(&events, &mut body).map_err(|e| ApiError::Internal(e.into()))?;
            "application/x-ndjson"
        }
        ExportFormat::Csv => {
            write_csv(&events, &mut body).map_err(|e| ApiError::Internal(e.into()))?;
            "text/csv; charset=utf-8"
        }
    };
    Ok(([(header::CONTENT_TYPE, content_type)], Body::from(body)).into_response())
}

fn format_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Ndjson => "ndjson",
        ExportFormat::Csv => "csv",
    }
}
