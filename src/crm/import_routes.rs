//! `/facilities/{facility_id}/leads/import` and `/leads/export`: leads in
//! and out as CSV (see [`super::csv_io`] for the file formats).
//!
//! An import writes its good rows in one transaction, each with its own
//! audit event, after checking every row as `POST /leads` would (fields,
//! owner and coach, duplicates among stored leads and within the file);
//! a rejected row writes nothing and is reported by row, field and reason.
//! An export is recorded as one `export` event before it is sent.

use std::collections::{HashMap, HashSet};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use http_body_util::BodyExt;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::csv_io::{self, ImportRow, RejectedRow};
use super::lead_sources::{Catalogue, SourceChoice};
use super::leads::{self, NewLead, PHI_FIELDS, Placement};
use super::routes::{lead_event, open_all, placement};
use super::store::{self, LeadFilter};
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::{BlindIndex, DataKey};
use crate::db::new_id;
use crate::error::{ApiError, Problem};
use crate::http::api_docs::Problems;
use crate::http::extract::limit_within;
use crate::http::json::is_over_limit;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

/// Most leads one export returns; `x-next-cursor` continues from there.
pub const MAX_EXPORT: u64 = 50_000;

/// Leads read (and opened) per query while exporting.
const EXPORT_BATCH: u64 = 1_000;

/// The header that says where a capped export stopped.
const NEXT_CURSOR: HeaderName = HeaderName::from_static("x-next-cursor");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_leads))
        .routes(routes!(export_leads))
}

/// A `text/csv` request body, read up to the kernel's body limit. Anything
/// else is a 415, as a JSON body with the wrong type is.
pub struct CsvBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for CsvBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let is_csv = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.type_() == mime::TEXT && m.subtype() == mime::CSV);
        if !is_csv {
            return Err(ApiError::UnsupportedMediaType(
                "send the leads as CSV with `Content-Type: text/csv`".to_owned(),
            ));
        }
        let bytes = req
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                if is_over_limit(&e) {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedRequest("the request body could not be read".to_owned())
                }
            })?
            .to_bytes();
        Ok(CsvBody(bytes))
    }
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// The leads written, in the order of their rows.
    pub created: Vec<Uuid>,
    /// The rows not written, by row; a row appears once per bad field.
    pub rejected: Vec<RejectedRow>,
}

/// Imports leads from a CSV file with a header row. The columns are
/// `first_name` and `last_name` (required), and any of `email`, `phone`,
/// `source`, `readiness`, `outcome`, `lead_type`, `notes`, `owner_id`,
/// `health_coach_id`; another column refuses the file (422 naming it), as
/// does a file of more than 10 000 rows. Each row is checked as a new lead
/// (a row that repeats an earlier row's or a stored lead's email or phone
/// is a duplicate); the good rows are written together, into the default
/// lead pipeline, owned by the importer unless `owner_id` says otherwise.
/// `row` in the report counts data rows from 1 after the header; `line`
/// is the file's line.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/import",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body(content = String, content_type = "text/csv",
        description = "A header row, then one lead a row"),
    responses(
        (status = 200, description = "What was written and what was not", body = ImportReport),
        (status = 413, description = "The file is over the body limit", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "The body is not `text/csv`", body = Problem,
            content_type = "application/problem+json"),
        Problems
    ),
    security(("bearer" = []))
)]
async fn import_leads(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    CsvBody(body): CsvBody,
) -> Result<ApiJson<ImportReport>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_CREATE)?;
    let file = csv_io::read_import(&body)?;
    let key = state.keyring.facility(facility_id).await?;
    let mut rejected = file.rejected;
    let rows = csv_io::without_repeats(&key, file.rows, &mut rejected);
    let sources = Catalogue::of(state.db.conn(), facility_id).await?;
    let rows = with_sources(rows, &sources, &mut rejected);
    let mut created = Vec::new();
    if !rows.is_empty() {
        // Sealing is the bulk of an import's work: it is done on a blocking
        // thread, not the runtime's, and before the transaction, so that
        // the write lock is held only to write.
        let place = placement(
            state.db.conn(),
            &scope,
            &actor,
            &NewLead::default(),
            &sources,
        )
        .await?;
        let stage_id = place.stage_id;
        let now = Timestamp::now();
        let prepared = {
            let (key, scope, actor) = (key.clone(), scope.clone(), actor.clone());
            tokio::task::spawn_blocking(move || {
                rows.into_iter()
                    .map(|(row, contacts, source)| {
                        let place = Placement {
                            pipeline_id: place.pipeline_id,
                            stage_id: place.stage_id,
                            owner_id: row.lead.owner_id.or(place.owner_id),
                            source,
                        };
                        Prepared::seal(&key, &scope, &actor, place, row, contacts, now)
                    })
                    .collect::<Result<Vec<_>, ApiError>>()
            })
            .await
            .map_err(|e| ApiError::Internal(e.into()))??
        };
        let txn = state.db.begin().await?;
        let prepared = with_assignable_people(&*txn, facility_id, prepared, &mut rejected).await?;
        let prepared = not_stored(&*txn, &scope, prepared, &mut rejected).await?;
        let mut sealed = Vec::with_capacity(prepared.len());
        let mut events = Vec::with_capacity(prepared.len());
        for lead in prepared {
            created.push(lead.id);
            sealed.push(lead.sealed);
            events.push(lead.event);
        }
        store::insert_imported(&*txn, &scope, sealed, stage_id, now).await?;
        audit::commit(txn, events).await?;
    }
    rejected.sort_by_key(|r| r.row);
    Ok(ApiJson(ImportReport { created, rejected }))
}

/// The rows with their sources matched to the facility's catalogue; a row
/// whose source the facility does not accept is rejected on `source`.
fn with_sources(
    rows: Vec<(ImportRow, csv_io::Contacts)>,
    sources: &Catalogue,
    rejected: &mut Vec<RejectedRow>,
) -> Vec<(ImportRow, csv_io::Contacts, SourceChoice)> {
    let mut kept = Vec::with_capacity(rows.len());
    for (row, contacts) in rows {
        match sources.choose(row.lead.source.as_deref().unwrap_or("None")) {
            Ok(source) => kept.push((row, contacts, source)),
            Err(reason) => rejected.push(row.reject("source", reason)),
        }
    }
    kept
}

/// A row ready to write: sealed, with its audit event, and the blind
/// indexes it is compared with stored leads by.
struct Prepared {
    id: Uuid,
    row: ImportRow,
    contacts: csv_io::Contacts,
    sealed: leads::Model,
    event: AuditEvent,
}

impl Prepared {
    fn seal(
        key: &DataKey,
        scope: &FacilityScope,
        actor: &Actor,
        place: Placement,
        row: ImportRow,
        contacts: csv_io::Contacts,
        now: Timestamp,
    ) -> Result<Self, ApiError> {
        let id = new_id();
        let sealed = store::seal_imported(scope, key, id, &row.lead, place, now)?;
        // What `POST /leads` records, from the row as written; the sealed
        // fields are named, never shown.
        let after = json!({
            "id": id,
            "first_name": "",
            "last_name": "",
            "email": sealed.email.as_ref().map(|_| ""),
            "phone": sealed.phone.as_ref().map(|_| ""),
            "notes": sealed.notes.as_ref().map(|_| ""),
            "source": sealed.source,
            "readiness": sealed.readiness,
            "status": sealed.status,
            "outcome": sealed.outcome,
            "lead_type": sealed.lead_type,
            "owner_id": sealed.owner_id,
            "health_coach_id": sealed.health_coach_id,
            "pipeline_id": sealed.pipeline_id,
            "stage_id": sealed.stage_id,
            "score": sealed.score,
        });
        let event =
            lead_event(actor, AuditAction::Create, scope.facility_id(), id).changes(redact(
                json!({ "after": after, "import": { "row": row.row } }),
                PHI_FIELDS,
            ));
        Ok(Self {
            id,
            row,
            contacts,
            sealed,
            event,
        })
    }
}

/// Keeps the rows whose owner and coach hold a role in the facility,
/// asking once per person however many rows name them.
async fn with_assignable_people(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    rows: Vec<Prepared>,
    rejected: &mut Vec<RejectedRow>,
) -> Result<Vec<Prepared>, ApiError> {
    let named: HashSet<Uuid> = rows
        .iter()
        .flat_map(|r| [r.row.lead.owner_id, r.row.lead.health_coach_id])
        .flatten()
        .collect();
    let mut outsiders = HashSet::new();
    for account in named {
        if !memberships::is_member(db, account, facility_id).await? {
            outsiders.insert(account);
        }
    }
    let mut kept = Vec::with_capacity(rows.len());
    for prepared in rows {
        let lead = &prepared.row.lead;
        let bad: Vec<&str> = [
            ("owner_id", lead.owner_id),
            ("health_coach_id", lead.health_coach_id),
        ]
        .into_iter()
        .filter(|(_, account)| account.is_some_and(|a| outsiders.contains(&a)))
        .map(|(field, _)| field)
        .collect();
        if bad.is_empty() {
            kept.push(prepared);
        } else {
            rejected.extend(
                bad.into_iter()
                    .map(|f| prepared.row.reject(f, memberships::NOT_A_MEMBER)),
            );
        }
    }
    Ok(kept)
}

/// Keeps the rows whose email and phone no stored lead of the facility has.
async fn not_stored(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    rows: Vec<Prepared>,
    rejected: &mut Vec<RejectedRow>,
) -> Result<Vec<Prepared>, ApiError> {
    let of = |field: &str| -> Vec<BlindIndex> {
        rows.iter()
            .flat_map(|r| &r.contacts)
            .filter(|(f, _)| *f == field)
            .map(|(_, index)| index.clone())
            .collect()
    };
    let (emails, phones) = (of("email"), of("phone"));
    let mut stored: HashMap<(&str, BlindIndex), Uuid> = HashMap::new();
    for (id, email, phone) in store::with_contacts(db, scope, &emails, &phones).await? {
        if let Some(email) = email {
            stored.insert(("email", email), id);
        }
        if let Some(phone) = phone {
            stored.insert(("phone", phone), id);
        }
    }
    let mut kept = Vec::with_capacity(rows.len());
    for prepared in rows {
        let duplicate = prepared.contacts.iter().find_map(|(field, index)| {
            stored.get(&(*field, index.clone())).map(|id| (*field, *id))
        });
        match duplicate {
            Some((field, id)) => {
                rejected.push(
                    prepared
                        .row
                        .reject(field, format!("lead {id} already has this {field}")),
                );
            }
            None => kept.push(prepared),
        }
    }
    Ok(kept)
}

/// `GET /leads`' filters as the export's parameters: `limit` is the most
/// leads to send, not a page size, so it documents the export's own bounds.
struct ExportParams;

impl IntoParams for ExportParams {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut parameters = LeadFilter::into_params(parameter_in);
        for parameter in parameters.iter_mut().filter(|p| p.name == "limit") {
            parameter.description = Some(format!(
                "The most leads to send, 1 to {MAX_EXPORT}; every matching lead up to \
                 {MAX_EXPORT} when absent"
            ));
            parameter.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(1))
                    .maximum(Some(MAX_EXPORT))
                    .into(),
            );
        }
        parameters
    }
}

/// Exports the facility's leads matching the filters of `GET /leads` as
/// CSV (interests as their procedures), oldest first. Formula-like cells
/// are defused with a leading `'`. At most 50 000 leads are sent; when
/// more match (or more than `limit`), `x-next-cursor` names the last one
/// sent, to pass as `after`.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/leads/export",
    tag = "leads",
    params(("facility_id" = Uuid, Path, description = "The facility"), ExportParams),
    responses(
        (status = 200, description = "The leads as CSV with a header row", body = String,
            content_type = "text/csv",
            headers(("x-next-cursor" = Uuid, description = "Present when the export stopped at its cap: pass as `after` for the rest"))),
        Problems
    ),
    security(("bearer" = []))
)]
async fn export_leads(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<LeadFilter>,
) -> Result<Response, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_EXPORT)?;
    let most = limit_within(filter.limit, MAX_EXPORT, MAX_EXPORT)?;
    let key = state.keyring.facility(facility_id).await?;
    let db = state.db.conn();
    let csv_error = |e: csv::Error| ApiError::Internal(e.into());
    let mut out = csv::Writer::from_writer(Vec::new());
    csv_io::write_export_header(&mut out).map_err(csv_error)?;
    let sources = Catalogue::of(db, facility_id).await?;
    let filter = filter.in_catalogue_spelling(&sources);
    let mut batch = LeadFilter {
        limit: None,
        ..filter.clone()
    };
    let (mut sent, mut next_cursor) = (0_u64, None);
    'pages: loop {
        let rows = store::page(db, &key, &scope, &batch, EXPORT_BATCH).await?;
        for lead in open_all(db, &key, &rows).await? {
            if sent == most {
                next_cursor = batch.after;
                break 'pages;
            }
            csv_io::write_export_row(&mut out, &lead).map_err(csv_error)?;
            batch.after = Some(lead.id);
            sent += 1;
        }
        if (rows.len() as u64) < EXPORT_BATCH {
            break;
        }
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the export could not be written: {e}")))?;
    let event = actor
        .event(AuditAction::Export, "lead")
        .facility(facility_id)
        .changes(redact(
            json!({ "leads": sent, "format": "csv", "filter": recorded_filter(&filter, &sources), "next_cursor": next_cursor }),
            PHI_FIELDS,
        ))
        .flag(ComplianceFlag::Export)
        .flag(ComplianceFlag::Phi);
    state.audit.record(vec![event]).await?;
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"leads.csv\"",
            ),
        ],
        Body::from(body),
    )
        .into_response();
    if let Some(cursor) = next_cursor {
        let value =
            HeaderValue::from_str(&cursor.to_string()).map_err(|e| ApiError::Internal(e.into()))?;
        response.headers_mut().insert(NEXT_CURSOR, value);
    }
    Ok(response)
}

/// The export's filter as the audit log keeps it: a source outside the
/// catalogue as `Other`, like the lead's own clear column.
fn recorded_filter(filter: &LeadFilter, sources: &Catalogue) -> LeadFilter {
    LeadFilter {
        source: filter.source.as_deref().map(|s| {
            sources
                .spelling(s)
                .unwrap_or(crate::crypto::OTHER_LABEL)
                .to_owned()
        }),
        ..filter.clone()
    }
}
