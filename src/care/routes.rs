//! `/facilities/{facility_id}/patients`: create, read, update, deactivate,
//! find by MRN, and list. Every read is recorded as `patient_access` in the
//! audit log before the response leaves; every write appends its event in
//! its own transaction.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::patients::{self, NewPatient, PHI_FIELDS, Patient, PatientChanges};
use super::store::{self, Lookup};
use crate::access::emergency;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::{ApiError, OnConstraint};
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::policy::{Actor, FacilityScope, Permission};

const RESOURCE: &str = "patient";
const MRN_TAKEN: &str = "patients_facility_id_mrn_index_key";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_patient, list_patients))
        .routes(routes!(get_patient, update_patient))
        .routes(routes!(deactivate_patient))
        .routes(routes!(search_patients))
}

fn mrn_taken() -> ApiError {
    ApiError::Conflict("a patient with this `mrn` already exists in this facility".to_owned())
}

/// The audit event of one access to a patient under `scope`.
fn access_event(actor: &Actor, scope: &FacilityScope, patient_id: Uuid) -> AuditEvent {
    scope.patient_event(
        actor,
        AuditAction::PatientAccess,
        RESOURCE,
        patient_id,
        patient_id,
    )
}

/// Opens patients for the reader, returning them only once their reads are
/// in the audit log.
async fn open_recorded(
    state: &AppState,
    actor: &Actor,
    scope: &FacilityScope,
    key: &DataKey,
    rows: &[patients::Model],
) -> Result<Vec<Patient>, ApiError> {
    let patients = rows
        .iter()
        .map(|row| Patient::open(key, row))
        .collect::<Result<Vec<_>, _>>()?;
    let events = patients
        .iter()
        .map(|p| access_event(actor, scope, p.id))
        .collect();
    state.audit.record(events).await?;
    Ok(patients)
}

/// Registers a patient.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/patients",
    tag = "patients",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewPatient,
    responses((status = 201, description = "Registered", body = Patient), Problems),
    security(("bearer" = []))
)]
async fn create_patient(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewPatient>,
) -> Result<(StatusCode, ApiJson<Patient>), ApiError> {
    let scope = actor.facility(facility_id, Permission::PATIENT_CREATE)?;
    new.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let id = new_id();
    let txn = state.db.begin().await?;
    let row = store::create(&txn, &scope, &key, id, &new)
        .await
        .on_constraint(MRN_TAKEN, mrn_taken)?;
    let patient = Patient::open(&key, &row)?;
    let changes = serde_json::to_value(&patient).unwrap_or_default();
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Create, RESOURCE)
                .resource(id)
                .facility(facility_id)
                .patient(id)
                .changes(redact(json!({ "after": changes }), PHI_FIELDS))
                .flag(ComplianceFlag::Phi),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(patient)))
}

/// Lists the patients the caller may see, a page at a time.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/patients",
    tag = "patients",
    params(("facility_id" = Uuid, Path, description = "The facility"), PageQuery),
    responses((status = 200, description = "A page of patients", body = Page<Patient>), Problems),
    security(("bearer" = []))
)]
async fn list_patients(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<Patient>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::PATIENT_READ)?;
    let limit = page.limit()?;
    let rows = store::page(state.db.conn(), &scope, page.after, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let patients = open_recorded(&state, &actor, &scope, &key, &rows).await?;
    Ok(ApiJson(Page::new(patients, limit, |p| p.id)))
}

/// Reads one patient.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/patients/{patient_id}",
    tag = "patients",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
    ),
    responses((status = 200, description = "The patient", body = Patient), Problems),
    security(("bearer" = []))
)]
async fn get_patient(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Patient>, ApiError> {
    let scope = emergency::patient_scope(
        state.db.conn(),
        &actor,
        facility_id,
        patient_id,
        Permission::PATIENT_READ,
    )
    .await?;
    let row = store::find(state.db.conn(), &scope, patient_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let mut patients = open_recorded(&state, &actor, &scope, &key, &[row]).await?;
    patients.pop().map(ApiJson).ok_or(ApiError::NotFound)
}

/// What to look a patient up by: exactly one of the three.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientLookup {
    /// The medical record number.
    pub mrn: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl PatientLookup {
    fn parse(self) -> Result<Lookup, ApiError> {
        let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        match (given(self.mrn), given(self.email), given(self.phone)) {
            (Some(mrn), None, None) => Ok(Lookup::Mrn(mrn)),
            (None, Some(email), None) => Ok(Lookup::Email(email)),
            (None, None, Some(phone)) => Ok(Lookup::Phone(phone)),
            _ => Err(ApiError::invalid(
                "mrn",
                "give exactly one of `mrn`, `email` or `phone`",
            )),
        }
    }
}

/// The patients a lookup found.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientMatches {
    /// At most one for an MRN; everyone sharing an email or phone otherwise.
    pub items: Vec<Patient>,
}

/// Most patients one lookup returns (a shared family phone, say).
const MAX_MATCHES: u64 = 50;

/// Finds patients by exact MRN, email or phone, through their blind
/// indexes. The value travels in the body, never in a URL that proxies and
/// logs would keep. Every patient found is recorded as accessed.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/patients/search",
    tag = "patients",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = PatientLookup,
    responses((status = 200, description = "The patients found", body = PatientMatches), Problems),
    security(("bearer" = []))
)]
async fn search_patients(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(lookup): ApiJson<PatientLookup>,
) -> Result<ApiJson<PatientMatches>, ApiError> {
    let scope = actor.facility(facility_id, Permission::PATIENT_READ)?;
    let lookup = lookup.parse()?;
    let key = state.keyring.facility(facility_id).await?;
    let rows = store::look_up(state.db.conn(), &scope, &key, &lookup, MAX_MATCHES).await?;
    let items = open_recorded(&state, &actor, &scope, &key, &rows).await?;
    Ok(ApiJson(PatientMatches { items }))
}

/// Changes a patient: absent fields stay, `null` clears an optional field.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/patients/{patient_id}",
    tag = "patients",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
    ),
    request_body = PatientChanges,
    responses((status = 200, description = "The changed patient", body = Patient), Problems),
    security(("bearer" = []))
)]
async fn update_patient(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<PatientChanges>,
) -> Result<ApiJson<Patient>, ApiError> {
    let scope = actor.facility(facility_id, Permission::PATIENT_UPDATE)?;
    changes.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = store::find(&txn, &scope, patient_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let before = Patient::open(&key, &row)?;
    let row = store::change(&txn, &scope, &key, row, &changes)
        .await
        .on_constraint(MRN_TAKEN, mrn_taken)?;
    let patient = Patient::open(&key, &row)?;
    let recorded = audit::changes::changed(
        &key,
        &changes.touched(),
        &serde_json::to_value(&before).unwrap_or_default(),
        &serde_json::to_value(&patient).unwrap_or_default(),
        PHI_FIELDS,
    );
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, RESOURCE)
                .resource(patient_id)
                .facility(facility_id)
                .patient(patient_id)
                .changes(recorded)
                .flag(ComplianceFlag::Phi),
        ],
    )
    .await?;
    Ok(ApiJson(patient))
}

/// Deactivates a patient; the record stays, marked inactive.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/patients/{patient_id}/deactivate",
    tag = "patients",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("patient_id" = Uuid, Path, description = "The patient"),
    ),
    responses((status = 200, description = "The deactivated patient", body = Patient), Problems),
    security(("bearer" = []))
)]
async fn deactivate_patient(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, patient_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Patient>, ApiError> {
    let scope = actor.facility(facility_id, Permission::PATIENT_DEACTIVATE)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = store::find(&txn, &scope, patient_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let row = store::deactivate(&txn, &scope, row).await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, RESOURCE)
                .resource(patient_id)
                .facility(facility_id)
                .patient(patient_id)
                .changes(redact(json!({ "is_active": false }), PHI_FIELDS)),
        ],
    )
    .await?;
    Ok(ApiJson(Patient::open(&key, &row)?))
}
