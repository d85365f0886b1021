//! The care part of `carebase demo`: the patients the demo's converted
//! leads became, each on the default care pathway at a stage as far along
//! as its time since enrolment allows, with its coach and each move. Made
//! when the CRM tells of the conversions ([`DemoConversions`]), in that
//! transaction; audited as the demo's system job, one event per patient
//! and one for the journeys.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QueryOrder, QuerySelect};
use serde_json::json;

use super::journey::{moves as journey_moves, row as journey_row};
use super::patients::{self, Address, NewPatient};
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::context::Reaction;
use crate::crypto::DataKey;
use crate::db::Database;
use crate::demo::{Generator, JOB};
use crate::error::ApiError;
use crate::time::Timestamp;

const DAY: i64 = 24 * 60 * 60 * 1_000_000;

/// A lead the demo converted into a patient.
#[derive(Clone, Debug)]
pub struct DemoConversion {
    /// The patient's number in the demo (its MRN is `DEMO-<number>`).
    pub number: usize,
    pub lead_id: Uuid,
    pub patient_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The lead's coach, if it had one.
    pub coach: Option<Uuid>,
    /// Who made the patient: the coach, or whoever made the lead.
    pub created_by: Uuid,
    pub at: Timestamp,
    /// Seeds what the lead does not say about the patient.
    pub seed: u64,
}

/// Raised by the CRM's demo once its leads are in: care makes the converted leads'
/// patients and puts them on the default care pathway, in the transaction
/// that then links the leads to their patients.
#[derive(Clone, Debug)]
pub struct DemoConversions {
    pub facility_id: Uuid,
    pub pathway_id: Uuid,
    /// The pathway's stages, first to last.
    pub stages: Vec<Uuid>,
    /// Coaches a patient whose lead had none.
    pub fallback_coach: Option<Uuid>,
    pub converted: Vec<DemoConversion>,
}

fn system() -> AuditActor {
    AuditActor::System {
        job: JOB.to_owned(),
    }
}

/// Makes the converted leads' patients and journeys in the reaction's
/// transaction.
pub async fn take_on(
    reaction: &mut Reaction<'_>,
    conversions: &DemoConversions,
) -> Result<(), ApiError> {
    let facility_id = conversions.facility_id;
    let key = reaction.state.keyring.facility(facility_id).await?;
    let mut sealed = Vec::new();
    let mut journeys = Vec::new();
    let mut moves = Vec::new();
    let mut events = Vec::new();
    for converted in &conversions.converted {
        let mut rng = Generator::new(converted.seed);
        sealed.push(patient(&key, facility_id, converted, &mut rng));
        events.push(
            AuditEvent::new(system(), AuditAction::Create, "patient")
                .resource(converted.patient_id)
                .facility(facility_id)
                .patient(converted.patient_id)
                .lead(converted.lead_id)
                .changes(redact(
                    json!({ "converted_from_lead": converted.lead_id, "demo": true }),
                    patients::PHI_FIELDS,
                ))
                .flag(ComplianceFlag::Phi),
        );
        let now = reaction.now.as_micros();
        let (journey, steps) = journey(conversions, converted, now, &mut rng);
        journeys.push(journey);
        moves.extend(steps);
    }
    let txn = reaction.txn;
    for chunk in sealed.chunks(500) {
        patients::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    for chunk in journeys.chunks(500) {
        journey_row::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    for chunk in moves.chunks(500) {
        journey_moves::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    events.push(
        AuditEvent::new(system(), AuditAction::Create, "care_journey")
            .facility(facility_id)
            .changes(redact(
                json!({ "journeys": journeys.len(), "moves": moves.len(), "demo": true }),
                &[],
            ))
            .flag(ComplianceFlag::Phi),
    );
    audit::append(txn, events).await?;
    Ok(())
}

/// The sealed patient a lead became: its name and contacts, the rest drawn.
fn patient(
    key: &DataKey,
    facility_id: Uuid,
    converted: &DemoConversion,
    rng: &mut Generator,
) -> patients::ActiveModel {
    let new = NewPatient {
        mrn: format!("DEMO-{:06}", converted.number),
        first_name: converted.first_name.clone(),
        last_name: converted.last_name.clone(),
        date_of_birth: format!(
            "{}-{:02}-{:02}",
            1950 + rng.below(50),
            1 + rng.below(12),
            1 + rng.below(28)
        ),
        gender: Some(if rng.chance(0.5) { "female" } else { "male" }.to_owned()),
        ssn: None,
        phone: converted.phone.clone(),
        email: converted.email.clone(),
        address: Some(Address {
            line1: format!("{} Harbor Drive", 100 + rng.below(900)),
            line2: None,
            city: "San Diego".to_owned(),
            state: Some("CA".to_owned()),
            postal_code: Some(format!("921{:02}", rng.below(100))),
            country: Some("US".to_owned()),
        }),
        emergency_contact: None,
        insurance: None,
        allergies: if rng.chance(0.3) {
            vec!["Penicillin".to_owned()]
        } else {
            Vec::new()
        },
    };
    let mut sealed = patients::seal_new(
        key,
        converted.patient_id,
        facility_id,
        &new,
        converted.created_by,
    );
    sealed.created_at = ActiveValue::Set(converted.at);
    sealed.updated_at = ActiveValue::Set(converted.at);
    sealed
}

/// The patient's journey, enrolled up to half a year ago, and its moves a
/// week apart up to the stage it reached.
fn journey(
    conversions: &DemoConversions,
    converted: &DemoConversion,
    now: i64,
    rng: &mut Generator,
) -> (journey_row::ActiveModel, Vec<journey_moves::ActiveModel>) {
    let stages = &conversions.stages;
    let id = crate::db::new_id();
    let enrolled = now - (rng.below(180) as i64 + 1) * DAY;
    let stage = rng.below(stages.len());
    let coach = converted.coach.or(conversions.fallback_coach);
    let moves = stages
        .iter()
        .take(stage + 1)
        .enumerate()
        .map(|(step, to)| journey_moves::ActiveModel {
            id: ActiveValue::Set(crate::db::new_id()),
            journey_id: ActiveValue::Set(id),
            from_stage_id: ActiveValue::Set(
                step.checked_sub(1).and_then(|s| stages.get(s)).copied(),
            ),
            to_stage_id: ActiveValue::Set(*to),
            actor_id: ActiveValue::Set(coach),
            occurred_at: ActiveValue::Set(Timestamp::from_micros(enrolled + step as i64 * 7 * DAY)),
        })
        .collect();
    let at = Timestamp::from_micros(enrolled);
    let row = journey_row::ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(conversions.facility_id),
        patient_id: ActiveValue::Set(converted.patient_id),
        pathway_id: ActiveValue::Set(conversions.pathway_id),
        stage_id: ActiveValue::Set(stages.get(stage).copied().unwrap_or_default()),
        health_coach_id: ActiveValue::Set(coach),
        lead_id: ActiveValue::Set(Some(converted.lead_id)),
        notes: ActiveValue::Set(None),
        enrolled_at: ActiveValue::Set(at),
        updated_at: ActiveValue::Set(at),
    };
    (row, moves)
}

/// The demo's coached patients, for scheduling to book follow-ups: the
/// first `limit` journeys of the facility by id, each patient with its
/// coach.
pub async fn coached(
    db: &Database,
    facility_id: Uuid,
    limit: u64,
) -> Result<Vec<(Uuid, Option<Uuid>)>, DbErr> {
    journey_row::Entity::find()
        .select_only()
        .column(journey_row::Column::PatientId)
        .column(journey_row::Column::HealthCoachId)
        .filter(journey_row::Column::FacilityId.eq(facility_id))
        .order_by_asc(journey_row::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db.conn())
        .await
}
