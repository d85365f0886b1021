//! Converting a lead into a patient (seed 001's lead → contact): the lead
//! becomes (or is linked to) a patient of the care context, is enrolled in
//! a care pathway with a health coach, and keeps its history — the
//! patient's timeline shows the lead's events. A converted lead can be
//! invited to the patient portal (seed 001's `portal_access`).

use axum::extract::State;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::leads::{self, Lead, PHI_FIELDS};
use super::lifecycle::{self, Fact, LeadMoveCause};
use super::routes::{lead_event, open_one, writable_lead};
use crate::access::invitations::{self, Offer, PortalAccepted};
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::care::journey::{self, Journey};
use crate::care::journey_routes::{NewJourneyPlace, enrol_in, pathway};
use crate::care::patients::{self as patient, NewPatient};
use crate::care::store as patients;
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::{ApiError, OnConstraint};
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::identity::routes::person;
use crate::policy::{Actor, FacilityScope, Permission, Role};
use crate::time::Timestamp;
use crate::types::Email;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(convert_lead))
        .routes(routes!(invite_to_portal))
}

/// How to convert: link an existing patient, or give what a new patient
/// record needs beyond the lead's name, email and phone.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// An existing patient of the facility to link the lead to.
    pub patient_id: Option<Uuid>,
    /// For a new patient: the medical record number.
    pub mrn: Option<String>,
    /// For a new patient: `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub gender: Option<String>,
    /// The care pathway; the facility's default one when absent.
    pub pathway_id: Option<Uuid>,
    /// The health coach; the coach the lead was booked with when absent.
    pub health_coach_id: Option<Uuid>,
}

/// What a conversion made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Converted {
    pub lead: Lead,
    pub patient_id: Uuid,
    /// Whether a new patient record was made (or an existing one linked).
    pub new_patient: bool,
    pub journey: Journey,
}

/// The patient a lead becomes: the lead's contact details and what the
/// conversion adds.
fn new_patient(lead: &Lead, body: &Conversion) -> Result<NewPatient, ApiError> {
    let (Some(mrn), Some(date_of_birth)) = (&body.mrn, &body.date_of_birth) else {
        return Err(ApiError::invalid(
            "mrn",
            "give `patient_id` to link a patient, or `mrn` and `date_of_birth` for a new one",
        ));
    };
    let new = NewPatient {
        mrn: mrn.clone(),
        first_name: lead.first_name.clone(),
        last_name: lead.last_name.clone(),
        date_of_birth: date_of_birth.clone(),
        gender: body.gender.clone(),
        ssn: None,
        phone: lead.phone.clone(),
        email: lead.email.clone(),
        address: None,
        emergency_contact: None,
        insurance: None,
        allergies: Vec::new(),
    };
    new.validate()?;
    Ok(new)
}

/// Converts a lead into a patient on a care pathway. Needs `lead:convert`
/// on a lead the caller may change. Its life as a lead ends: it leaves
/// `view=active` (`v_active_leads`), shows the patient it became
/// (`patient_id`, `converted_at`), and a booked lead moves to `completed`
/// (cause `lead_converted`); any other status stays as it was. The patient record is made by this
/// conversion even when the caller (an SDR) may not register patients
/// otherwise: it is the hand-over from sales to care, and it is audited as
/// such.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/{lead_id}/convert",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    request_body = Conversion,
    responses((status = 200, description = "Converted", body = Converted), Problems),
    security(("bearer" = []))
)]
async fn convert_lead(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<Conversion>,
) -> Result<ApiJson<Converted>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_CONVERT)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_lead(&*txn, &scope, lead_id).await?;
    if let Some(patient) = row.patient_id {
        return Err(ApiError::Conflict(format!(
            "the lead was already converted to patient {patient}"
        )));
    }
    memberships::require_members(
        &*txn,
        facility_id,
        &[("health_coach_id", body.health_coach_id)],
    )
    .await?;
    let lead = open_one(&*txn, &key, &row).await?;
    let mut events = Vec::new();
    let (patient_id, new_patient_made) = match body.patient_id {
        Some(id) => (linked_patient(&*txn, facility_id, id).await?, false),
        None => {
            let new = new_patient(&lead, &body)?;
            let id = create_patient(&*txn, &key, &actor, facility_id, lead_id, &new, &mut events)
                .await?;
            (id, true)
        }
    };
    let pathway = pathway(&*txn, &scope, body.pathway_id).await?;
    let enrolment = ConvertedEnrolment {
        patient_id,
        pathway_id: pathway.id,
        health_coach_id: body.health_coach_id.or(row.health_coach_id),
        lead_id,
    };
    let journey_row =
        journey_of_converted(&*txn, &scope, &key, &actor, enrolment, &mut events).await?;
    let now = Timestamp::now();
    let mut active: leads::ActiveModel = row.into();
    active.patient_id = ActiveValue::Set(Some(patient_id));
    active.converted_at = ActiveValue::Set(Some(now));
    active.updated_at = ActiveValue::Set(now);
    let row = active.update(&*txn).await?;
    events.push(
        lead_event(&actor, AuditAction::Update, facility_id, lead_id)
            .patient(patient_id)
            .changes(redact(
                json!({ "converted_to": patient_id, "new_patient": new_patient_made }),
                PHI_FIELDS,
            )),
    );
    let fact = Fact::new(LeadMoveCause::LeadConverted, patient_id);
    let (row, moved) = lifecycle::follow(&*txn, &scope, &actor, row, fact).await?;
    events.extend(moved);
    let lead = open_one(&*txn, &key, &row).await?;
    let stage = pathway
        .stage(journey_row.stage_id)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let journey = Journey::open(&key, &journey_row, stage)?;
    audit::commit(txn, events).await?;
    Ok(ApiJson(Converted {
        lead,
        patient_id,
        new_patient: new_patient_made,
        journey,
    }))
}

/// The existing patient a lead is linked to, which must be of the facility.
async fn linked_patient(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    patient_id: Uuid,
) -> Result<Uuid, ApiError> {
    if !patients::exists(db, facility_id, patient_id).await? {
        return Err(ApiError::invalid(
            "patient_id",
            "no such patient in this facility",
        ));
    }
    Ok(patient_id)
}

/// Makes the patient record a lead becomes, noting its creation for the
/// audit log.
async fn create_patient(
    db: &impl ConnectionTrait,
    key: &DataKey,
    actor: &Actor,
    facility_id: Uuid,
    lead_id: Uuid,
    new: &NewPatient,
    events: &mut Vec<AuditEvent>,
) -> Result<Uuid, ApiError> {
    let id = new_id();
    let created = patient::seal_new(key, id, facility_id, new, actor.account_id())
        .insert(db)
        .await
        .on_constraint("patients_facility_id_mrn_index_key", || {
            ApiError::Conflict(
                "a patient with this `mrn` already exists in this facility".to_owned(),
            )
        })?;
    let opened = patient::Patient::open(key, &created)?;
    let after = serde_json::to_value(&opened).unwrap_or_default();
    events.push(
        actor
            .event(AuditAction::Create, "patient")
            .resource(id)
            .facility(facility_id)
            .patient(id)
            .lead(lead_id)
            .changes(redact(
                json!({ "after": after, "from_lead": lead_id }),
                patient::PHI_FIELDS,
            ))
            .flag(ComplianceFlag::Phi),
    );
    Ok(id)
}

/// Where a converted lead's patient is enrolled.
struct ConvertedEnrolment {
    patient_id: Uuid,
    pathway_id: Uuid,
    health_coach_id: Option<Uuid>,
    lead_id: Uuid,
}

/// The converted patient's journey on the pathway: the one it is already
/// on (a linked patient stays where it is), or a new enrolment, noted for
/// the audit log.
async fn journey_of_converted(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    actor: &Actor,
    enrolment: ConvertedEnrolment,
    events: &mut Vec<AuditEvent>,
) -> Result<journey::row::Model, ApiError> {
    let ConvertedEnrolment {
        patient_id,
        pathway_id,
        health_coach_id,
        lead_id,
    } = enrolment;
    if let Some(existing) = journey::enrolled(db, scope, patient_id, pathway_id).await? {
        return Ok(existing);
    }
    let place = NewJourneyPlace {
        pathway_id: Some(pathway_id),
        stage_id: None,
        health_coach_id,
        lead_id: Some(lead_id),
        notes: None,
    };
    let enrolled = enrol_in(db, scope, key, actor, patient_id, place).await?;
    events.push(
        actor
            .event(AuditAction::Create, "care_journey")
            .resource(enrolled.id)
            .facility(scope.facility_id())
            .patient(patient_id)
            .lead(lead_id)
            .changes(redact(
                json!({ "pathway_id": enrolled.pathway_id, "stage_id": enrolled.stage_id,
                        "health_coach_id": enrolled.health_coach_id }),
                &[],
            ))
            .flag(ComplianceFlag::Phi),
    );
    Ok(enrolled)
}

/// Invites a converted lead to the patient portal: the lead's email gets a
/// code, and once its owner accepts (a new account choosing its password,
/// an existing one giving its own) the account holds the `patient` role in
/// the facility and is linked to the patient record, so it sees exactly
/// that record; the lead then shows portal access.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/leads/{lead_id}/portal-invitation",
    tag = "leads",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("lead_id" = Uuid, Path, description = "The lead"),
    ),
    responses((status = 200, description = "The lead; portal access follows acceptance", body = Lead), Problems),
    security(("bearer" = []))
)]
async fn invite_to_portal(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, lead_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Lead>, ApiError> {
    let scope = actor.facility(facility_id, Permission::LEAD_CONVERT)?;
    person(&actor)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_lead(&*txn, &scope, lead_id).await?;
    let Some(patient_id) = row.patient_id else {
        return Err(ApiError::Conflict(
            "convert the lead to a patient before inviting it to the portal".to_owned(),
        ));
    };
    let lead = open_one(&*txn, &key, &row).await?;
    let email = lead
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| ApiError::invalid("email", "the lead has no email to invite"))?;
    let offer = Offer {
        email,
        full_name: Some(format!("{} {}", lead.first_name, lead.last_name)),
        facility_id,
        role: Role::Patient,
        department: None,
        patient_id: Some(patient_id),
        invited_by: actor.account_id(),
    };
    let invitation = invitations::offer(&state, &txn, offer).await?;
    let event = lead_event(&actor, AuditAction::Update, facility_id, lead_id)
        .patient(patient_id)
        .changes(redact(
            json!({ "invitation_id": invitation.id }),
            PHI_FIELDS,
        ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(lead))
}

/// Marks the leads converted into a patient as having portal access, once
/// an account accepted the invitation to that patient's portal.
pub async fn portal_accepted(
    db: &impl ConnectionTrait,
    accepted: &PortalAccepted,
) -> Result<(), sea_orm::DbErr> {
    leads::Entity::update_many()
        .col_expr(
            leads::Column::PortalAccountId,
            sea_orm::sea_query::Expr::value(accepted.account_id),
        )
        .col_expr(
            leads::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Timestamp::now()),
        )
        .filter(leads::Column::FacilityId.eq(accepted.facility_id))
        .filter(leads::Column::PatientId.eq(accepted.patient_id))
        .exec(db)
        .await?;
    Ok(())
}
