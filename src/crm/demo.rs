//! The CRM part of `carebase demo`, for the facility and staff access made:
//! a year of leads (see `demo_leads`), a few of them converted into
//! patients, and tasks for open leads and patients. The patients and their
//! care journeys are care's: it makes them when told of the conversions
//! ([`crate::care::demo::DemoConversions`]), in the transaction that links the leads to them.
//!
//! Leads are written a batch per transaction with multi-row INSERTs, so
//! 100 000 leads load in seconds to a minute or two. Audited as the demo's
//! system job: one event per batch of leads, one for the tasks.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QueryOrder, QuerySelect};
use serde_json::json;

use super::demo_leads::{Batch, HOUR, Loader};
use super::leads::{self, LeadStatus};
use super::store;
use super::tasks::{self, NewTask, TaskPriority, TaskStatus};
use crate::access::demo::DemoFacility;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::care::demo::DemoConversions;
use crate::context;
use crate::db::Database;
use crate::demo::{Demo, JOB};
use crate::pipelines::store::{self as pipelines, PipelineKind};
use crate::policy::Role;
use crate::time::Timestamp;

/// Leads per transaction.
const LEADS_PER_BATCH: usize = 5_000;

/// What the demo's tasks say: seed 001's work of SDRs and coaches.
const TASK_TITLES: [&str; 8] = [
    "Call back about pricing",
    "Send the health questionnaire reminder",
    "Confirm the lab appointment",
    "Review the initial labs",
    "Book the provider exam",
    "Follow up on the medication order",
    "Check in after the first refill",
    "Ask for a referral",
];

/// How fast staff in `role` reach a new lead: a factor on the source's
/// usual delay, for those who own leads.
fn speed(role: Role) -> f64 {
    match role {
        Role::Staff => 1.4,
        Role::Sdr => 0.6,
        _ => 1.0,
    }
}

/// What crm made, for the contexts after it: the booked leads, the first
/// 60 by id, each with its coach.
#[derive(Clone, Debug)]
pub struct DemoLeads {
    pub booked: Vec<(Uuid, Option<Uuid>)>,
}

fn system() -> AuditActor {
    AuditActor::System {
        job: JOB.to_owned(),
    }
}

/// Loads the leads, their conversions and the tasks.
pub async fn load(demo: &mut Demo<'_>) -> anyhow::Result<()> {
    let facility = demo
        .made
        .get::<DemoFacility>()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the demo has no facility to load leads into"))?;
    let state = demo.state;
    let db = &state.db;
    let facility_id = facility.facility_id;
    let key = state.keyring.facility(facility_id).await?;
    let (pipeline_id, stages) = default_stages(db, facility_id, PipelineKind::Lead).await?;
    let total = demo.options.leads as usize;
    let mut loader = Loader {
        facility_id,
        key: &key,
        pipeline_id,
        stages,
        owners: facility
            .staff
            .iter()
            .filter(|s| matches!(s.role, Role::Sdr | Role::Staff))
            .map(|s| (s.account_id, speed(s.role)))
            .collect(),
        coaches: facility.ids(Role::HealthCoach),
        reviewer: facility.ids(Role::ClinicalReviewer).first().copied(),
        admin: facility.ids(Role::Admin).first().copied(),
        rng: &mut demo.rng,
        now: Timestamp::now().as_micros(),
        total,
        patient_target: (total / 200).clamp(3, 1000),
        conversions: Vec::new(),
    };
    let counts = load_leads(db, &mut loader).await?;
    let patients = convert(demo.state, &loader).await?;
    let tasks = tasks(db, &mut loader).await?;
    let booked = booked(db, facility_id).await?;
    demo.count(format!("{} leads", counts.0));
    demo.count(format!("{} interests", counts.1));
    demo.count(format!("{} moves", counts.2));
    demo.count(format!("{patients} patients on the care journey"));
    demo.count(format!("{tasks} tasks"));
    demo.made.insert(DemoLeads { booked });
    Ok(())
}

/// Writes the leads a batch per transaction; returns how many leads,
/// interests and moves.
async fn load_leads(db: &Database, loader: &mut Loader<'_>) -> anyhow::Result<(u64, u64, u64)> {
    let mut counts = (0, 0, 0);
    let mut next = 0;
    while next < loader.total {
        let end = (next + LEADS_PER_BATCH).min(loader.total);
        let batch = loader.batch(next..end);
        let txn = db.begin().await?;
        let events = write(&batch, &txn, loader.facility_id).await?;
        audit::commit(txn, events).await?;
        counts.0 += batch.leads.len() as u64;
        counts.1 += batch.interests.len() as u64;
        counts.2 += batch.moves.len() as u64;
        tracing::info!(loaded = end, of = loader.total, "demo leads");
        next = end;
    }
    Ok(counts)
}

/// Writes `batch` in `txn` and returns its audit event.
async fn write(
    batch: &Batch,
    txn: &crate::db::Transaction,
    facility_id: Uuid,
) -> anyhow::Result<Vec<AuditEvent>> {
    store::insert_many(
        &**txn,
        batch.leads.clone(),
        batch.interests.clone(),
        batch.moves.clone(),
    )
    .await?;
    let ids = |at: Option<&leads::ActiveModel>| at.map(|l| *l.id.as_ref());
    Ok(vec![
        AuditEvent::new(system(), AuditAction::Create, "lead")
            .facility(facility_id)
            .changes(redact(
                json!({
                    "leads": batch.leads.len(),
                    "interests": batch.interests.len(),
                    "moves": batch.moves.len(),
                    "from_id": ids(batch.leads.first()),
                    "to_id": ids(batch.leads.last()),
                    "demo": true,
                }),
                leads::PHI_FIELDS,
            ))
            .flag(ComplianceFlag::Phi),
    ])
}

/// Tells the contexts of the conversions (care makes the patients and
/// their journeys), then links each converted lead to its patient, in one
/// transaction. Returns how many patients.
async fn convert(state: &crate::app::AppState, loader: &Loader<'_>) -> anyhow::Result<u64> {
    let db = &state.db;
    let (pathway_id, stages) = default_stages(db, loader.facility_id, PipelineKind::Care).await?;
    let conversions = DemoConversions {
        facility_id: loader.facility_id,
        pathway_id,
        stages,
        fallback_coach: loader.coaches.first().copied(),
        converted: loader.conversions.clone(),
    };
    let now = Timestamp::from_micros(loader.now);
    let txn = db.begin().await?;
    let after_commit = context::publish(state, &txn, now, &conversions).await?;
    for converted in &conversions.converted {
        leads::Entity::update_many()
            .col_expr(leads::Column::PatientId, Expr::value(converted.patient_id))
            .col_expr(leads::Column::ConvertedAt, Expr::value(converted.at))
            .filter(leads::Column::Id.eq(converted.lead_id))
            .exec(&*txn)
            .await?;
    }
    txn.commit().await?;
    after_commit.run().await;
    Ok(conversions.converted.len() as u64)
}

/// Raises tasks for a twentieth of the open leads and for every patient,
/// in every priority and status, some overdue. Returns how many.
async fn tasks(db: &Database, loader: &mut Loader<'_>) -> anyhow::Result<u64> {
    let facility_id = loader.facility_id;
    let open: Vec<(Uuid, Option<Uuid>)> = leads::Entity::find()
        .select_only()
        .column(leads::Column::Id)
        .column(leads::Column::OwnerId)
        .filter(leads::Column::FacilityId.eq(facility_id))
        .filter(leads::Column::Status.is_in(LeadStatus::OPEN.map(LeadStatus::as_str)))
        .order_by_asc(leads::Column::Id)
        .limit((loader.total / 20).max(10) as u64)
        .into_tuple()
        .all(db.conn())
        .await?;
    let subjects: Vec<_> = open
        .iter()
        .map(|(lead, owner)| (Some(*lead), None, *owner))
        .chain(
            loader
                .conversions
                .iter()
                .map(|c| (None, Some(c.patient_id), c.coach)),
        )
        .collect();
    let rows: Vec<_> = subjects
        .into_iter()
        .map(|(lead_id, patient_id, assignee)| task(loader, (lead_id, patient_id), assignee))
        .collect();
    let count = rows.len() as u64;
    let txn = db.begin().await?;
    for chunk in rows.chunks(500) {
        tasks::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    let event = AuditEvent::new(system(), AuditAction::Create, "task")
        .facility(facility_id)
        .changes(redact(json!({ "tasks": count, "demo": true }), &[]))
        .flag(ComplianceFlag::Phi);
    audit::commit(txn, vec![event]).await?;
    Ok(count)
}

/// One task about a lead or a patient, raised in the last two weeks.
fn task(
    loader: &mut Loader<'_>,
    (lead_id, patient_id): (Option<Uuid>, Option<Uuid>),
    assignee: Option<Uuid>,
) -> tasks::ActiveModel {
    let creator = assignee.or(loader.admin).unwrap_or_default();
    let now = loader.now;
    let rng = &mut *loader.rng;
    let priority = *rng.pick(&TaskPriority::ALL);
    let raised = now - rng.below(14 * 24) as i64 * HOUR;
    let new = NewTask {
        title: (*rng.pick(&TASK_TITLES)).to_owned(),
        priority: Some(priority),
        lead_id,
        patient_id,
        ..NewTask::default()
    };
    let mut row = tasks::seal_new(
        loader.key,
        crate::db::new_id(),
        loader.facility_id,
        &new,
        assignee,
        creator,
        Timestamp::from_micros(raised),
    );
    let status = match rng.below(20) {
        0..=9 => TaskStatus::Pending,
        10..=13 => TaskStatus::InProgress,
        14..=18 => TaskStatus::Completed,
        _ => TaskStatus::Cancelled,
    };
    row.status = ActiveValue::Set(status.as_str().to_owned());
    if status == TaskStatus::Completed {
        row.completed_at = ActiveValue::Set(Some(Timestamp::from_micros(raised + 2 * HOUR)));
    }
    row
}

/// The booked leads to see a coach: the first 60 by id.
async fn booked(db: &Database, facility_id: Uuid) -> anyhow::Result<Vec<(Uuid, Option<Uuid>)>> {
    Ok(leads::Entity::find()
        .select_only()
        .column(leads::Column::Id)
        .column(leads::Column::HealthCoachId)
        .filter(leads::Column::FacilityId.eq(facility_id))
        .filter(leads::Column::Status.eq(LeadStatus::Booked.as_str()))
        .order_by_asc(leads::Column::Id)
        .limit(60)
        .into_tuple()
        .all(db.conn())
        .await?)
}

/// The default pipeline of `kind` and its stages in order: seed 001's.
async fn default_stages(
    db: &Database,
    facility_id: Uuid,
    kind: PipelineKind,
) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let (pipeline_id, stages) = pipelines::default_stage_ids(db.conn(), facility_id, kind)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the demo facility has no default {} pipeline",
                kind.as_str()
            )
        })?;
    let expected = match kind {
        PipelineKind::Lead => pipelines::DEFAULT_LEAD_STAGES.len(),
        PipelineKind::Care => pipelines::DEFAULT_CARE_STAGES.len(),
    };
    anyhow::ensure!(
        stages.len() == expected,
        "the demo facility's {} pipeline is not seed 001's",
        kind.as_str()
    );
    Ok((pipeline_id, stages))
}
