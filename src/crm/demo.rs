//! `carebase demo`: a realistic synthetic facility in the configured
//! database, to try the API on and to benchmark it with.
//!
//! It makes "Demo Clinic" with staff in every CRM role of seeds 000 and 001,
//! a year of leads from every source, moved through their lifecycle and the
//! default pipeline with the history of each move, first contacts after
//! plausible delays, interests, clinical reviews, and a few leads converted
//! into patients. Everything goes through the real stores and sealing
//! functions, PHI sealed under the facility's key, and is audited as the
//! system job `cli: demo`: one event per batch of leads, one per account
//! and per patient.
//!
//! The same seed gives the same people, sources, statuses and delays (dated
//! back from when it runs). Leads are written a batch per transaction with
//! multi-row INSERTs, so 100 000 leads load in seconds to a minute or two.
//! It refuses to load into a database that already has a "Demo Clinic".
//! There is no default password: the staff password is generated and shown
//! once, or read from standard input.

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QueryOrder, QuerySelect};
use serde_json::json;

use super::history::{self, Move};
use super::leads::{
    self, Interest, InterestPriority, LeadStatus, NewLead, Placement, Readiness, ReviewStatus,
};
use super::pipelines::{PipelineKind, pipeline, stage};
use super::score::ScoreInputs;
use super::store;
use crate::access::Role;
use crate::access::facilities::{self, FacilityFields};
use crate::access::memberships::{self, NewMembership};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::care::patients::{self, Address, NewPatient};
use crate::config::Config;
use crate::crypto::{DataKey, RowSealer};
use crate::db::{Backend, Database};
use crate::identity::accounts::{self, NewAccount};
use crate::identity::email::Email;
use crate::identity::password;
use crate::time::Timestamp;

/// The demo facility's name; its presence means the demo was loaded.
pub const FACILITY_NAME: &str = "Demo Clinic";
/// Staff emails are `<role><n>@` this domain (`.test` is reserved: no mail
/// can reach it).
pub const EMAIL_DOMAIN: &str = "demo.carebase.test";
/// Most leads one run loads.
pub const MAX_LEADS: u32 = 1_000_000;
/// Leads per transaction.
const LEADS_PER_BATCH: usize = 5_000;
const JOB: &str = "cli: demo";

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The staff: email prefix, role, how many, how fast they reach a new lead
/// (a factor on the source's usual delay; for those who own leads).
const STAFF: [(&str, Role, u32, f64); 7] = [
    ("admin", Role::Admin, 1, 1.0),
    ("staff", Role::Staff, 2, 1.4),
    ("reviewer", Role::ClinicalReviewer, 1, 1.0),
    ("readonly", Role::Readonly, 1, 1.0),
    ("sdr", Role::Sdr, 4, 0.6),
    ("coach", Role::HealthCoach, 3, 1.0),
    ("crmadmin", Role::CrmAdmin, 1, 1.0),
];

/// Seed 001's sources, web chat and referrals, with how often each brings
/// a lead, and the median minutes to a first contact.
const SOURCES: [(&str, u32, f64); 10] = [
    ("HHQ Complete", 10, 30.0),
    ("HHQ Started", 12, 120.0),
    ("Lab Purchase", 8, 60.0),
    ("Marek Health Discovery Call", 6, 20.0),
    ("Newsletter Discovery Call", 6, 25.0),
    ("Social Media Discovery Call", 10, 25.0),
    ("Newsletter", 14, 360.0),
    ("None", 6, 720.0),
    ("Web Chat", 16, 4.0),
    ("Referral", 12, 45.0),
];

const FIRST_NAMES: [&str; 32] = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
    "Mia", "Levi", "Amelia", "Ezra", "Harper", "Asher", "Evelyn", "James", "Luna", "Leo", "Camila",
    "Kai", "Aria", "Mason", "Nora", "Ethan", "Zoe", "Jack", "Layla", "Owen", "Priya", "Hiro",
];
const LAST_NAMES: [&str; 32] = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Patel",
    "Brown",
    "Kim",
    "Williams",
    "Lopez",
    "Jones",
    "Chen",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Okafor",
    "Silva",
];
const PROCEDURES: [&str; 10] = [
    "Rhinoplasty",
    "Blepharoplasty",
    "Facelift",
    "Breast augmentation",
    "Liposuction",
    "Abdominoplasty",
    "Botox",
    "Dermal fillers",
    "Testosterone therapy",
    "Hormone panel",
];
const NOTES: [&str; 6] = [
    "Prefers evening calls",
    "Asked about financing options",
    "Travelling for the procedure; needs hotel information",
    "Had a consultation elsewhere last year",
    "Wants the earliest available date",
    "Spouse will join the consultation",
];
const OUTCOMES: [&str; 5] = [
    "Left voicemail",
    "No answer",
    "Spoke with lead",
    "Booked consultation",
    "Not interested",
];
const LEAD_TYPES: [&str; 3] = ["Consultation", "Procedure", "Lab work"];

/// A small, fast, seedable generator (SplitMix64): the demo needs the same
/// data from the same seed, not cryptographic randomness.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index into `weights`, each chosen in proportion to its weight.
    fn weighted(&mut self, weights: impl Iterator<Item = u32> + Clone) -> usize {
        let total: u32 = weights.clone().sum();
        let mut roll = self.below(total as usize) as u32;
        for (i, w) in weights.enumerate() {
            if roll < w {
                return i;
            }
            roll -= w;
        }
        0
    }

    /// Microseconds uniform in [low, high).
    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + ((high - low).max(0) as f64 * self.unit()) as i64
    }

    /// A standard normal value (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A UUID v7 dated `micros`, so ids sort as the simulated events happen.
    fn id_at(&mut self, micros: i64) -> Uuid {
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes()[..2]);
        let millis = u64::try_from(micros / 1000).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }
}

/// What `carebase demo` loads.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub leads: u32,
    pub seed: u64,
    /// Every staff account's password.
    pub password: String,
}

/// A staff account the demo made.
#[derive(Clone, Debug)]
pub struct StaffAccount {
    pub email: String,
    pub role: Role,
    pub account_id: Uuid,
    /// How fast they reach new leads (see [`STAFF`]).
    speed: f64,
}

/// What the demo loaded.
#[derive(Debug)]
pub struct DemoReport {
    pub facility_id: Uuid,
    pub staff: Vec<StaffAccount>,
    pub leads: u64,
    pub interests: u64,
    pub moves: u64,
    pub patients: u64,
    pub journeys: u64,
    pub tasks: u64,
    pub appointments: u64,
}

/// A password for the demo staff: 20 random URL-safe characters.
pub fn new_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `carebase demo`: loads the demo and tells the operator how to sign in.
pub async fn run(
    config: Config,
    leads: u32,
    seed: u64,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (new_password(), true)
    };
    let options = DemoOptions {
        leads,
        seed,
        password,
    };
    let started = Instant::now();
    let state = AppState::open(config).await?;
    let result = load(&state, &options).await;
    state.audit.stop().await;
    state.db.close().await;
    let report = result?;
    println!(
        "Loaded \"{FACILITY_NAME}\" (facility {}) in {:.1} s: {} leads, {} interests, {} moves, \
         {} patients on the care journey, {} tasks, {} appointments in the next two weeks.",
        report.facility_id,
        started.elapsed().as_secs_f64(),
        report.leads,
        report.interests,
        report.moves,
        report.patients,
        report.tasks,
        report.appointments
    );
    println!("Staff accounts, all with the same password:");
    for account in &report.staff {
        println!("  {:<32} {}", account.email, account.role);
    }
    if generated {
        println!(
            "Password (shown once, not stored anywhere in clear): {}",
            options.password
        );
    } else {
        println!("Password: the one given on standard input.");
    }
    Ok(())
}

/// Loads the demo facility into `state`'s database.
pub async fn load(state: &AppState, options: &DemoOptions) -> anyhow::Result<DemoReport> {
    anyhow::ensure!(
        (1..=MAX_LEADS).contains(&options.leads),
        "--leads must be between 1 and {MAX_LEADS}"
    );
    password::check_policy("password", &options.password)
        .map_err(|_| anyhow::anyhow!("the password must be 12 to 256 characters"))?;
    let db = &state.db;
    let existing = facilities::Entity::find()
        .filter(facilities::Column::Name.eq(FACILITY_NAME))
        .one(db.conn())
        .await?;
    if let Some(existing) = existing {
        anyhow::bail!(
            "this database already has a facility named \"{FACILITY_NAME}\" ({}): the demo \
             was loaded into it before. Load the demo into a fresh database instead \
             (set database_url or data_dir).",
            existing.id
        );
    }
    let (facility_id, staff) = create_facility_and_staff(state, &options.password).await?;
    let key = state.keyring.facility(facility_id).await?;
    let (pipeline_id, stages) = lead_stages(db, facility_id).await?;
    let ids = |role: Role| -> Vec<Uuid> {
        staff
            .iter()
            .filter(|s| s.role == role)
            .map(|s| s.account_id)
            .collect()
    };
    let mut loader = Loader {
        facility_id,
        key: &key,
        pipeline_id,
        stages,
        owners: staff
            .iter()
            .filter(|s| matches!(s.role, Role::Sdr | Role::Staff))
            .map(|s| (s.account_id, s.speed))
            .collect(),
        coaches: ids(Role::HealthCoach),
        reviewer: ids(Role::ClinicalReviewer).first().copied(),
        admin: ids(Role::Admin).first().copied(),
        rng: Generator(options.seed),
        now: Timestamp::now().as_micros(),
        total: options.leads as usize,
        patient_target: (options.leads as usize / 200).clamp(3, 1000),
        report: DemoReport {
            facility_id,
            staff: Vec::new(),
            leads: 0,
            interests: 0,
            moves: 0,
            patients: 0,
            journeys: 0,
            tasks: 0,
            appointments: 0,
        },
    };
    let mut next = 0;
    while next < loader.total {
        let end = (next + LEADS_PER_BATCH).min(loader.total);
        let batch = loader.batch(next..end);
        let txn = db.begin().await?;
        let events = batch.write(&txn, facility_id).await?;
        audit::commit(txn, events).await?;
        loader.report.leads += batch.leads.len() as u64;
        loader.report.interests += batch.interests.len() as u64;
        loader.report.moves += batch.moves.len() as u64;
        loader.report.patients += batch.patients.len() as u64;
        tracing::info!(loaded = end, of = loader.total, "demo leads");
        next = end;
    }
    let care = journeys_and_tasks(db, &mut loader).await?;
    loader.report.journeys = care.0;
    loader.report.tasks = care.1;
    loader.report.appointments = appointments(db, &loader).await?;
    refresh_planner_statistics(db).await?;
    loader.report.staff = staff;
    Ok(loader.report)
}

/// The coaches' schedules and the next two weeks' appointments: booked
/// leads see their coach for a consultation, patients for a follow-up.
async fn appointments(db: &Database, loader: &Loader<'_>) -> anyhow::Result<u64> {
    use crate::care::journey::row as journey_row;
    use crate::scheduling::demo::Visit;
    let booked: Vec<(Uuid, Option<Uuid>)> = leads::Entity::find()
        .select_only()
        .column(leads::Column::Id)
        .column(leads::Column::HealthCoachId)
        .filter(leads::Column::FacilityId.eq(loader.facility_id))
        .filter(leads::Column::Status.eq(LeadStatus::Booked.as_str()))
        .order_by_asc(leads::Column::Id)
        .limit(60)
        .into_tuple()
        .all(db.conn())
        .await?;
    let coached: Vec<(Uuid, Option<Uuid>)> = journey_row::Entity::find()
        .select_only()
        .column(journey_row::Column::PatientId)
        .column(journey_row::Column::HealthCoachId)
        .filter(journey_row::Column::FacilityId.eq(loader.facility_id))
        .order_by_asc(journey_row::Column::Id)
        .limit(30)
        .into_tuple()
        .all(db.conn())
        .await?;
    let visits: Vec<Visit> = booked
        .into_iter()
        .filter_map(|(lead, coach)| {
            coach.map(|coach| Visit {
                coach,
                lead_id: Some(lead),
                patient_id: None,
            })
        })
        .chain(coached.into_iter().filter_map(|(patient, coach)| {
            coach.map(|coach| Visit {
                coach,
                lead_id: None,
                patient_id: Some(patient),
            })
        }))
        .collect();
    crate::scheduling::demo::load(
        db,
        loader.key,
        loader.facility_id,
        &loader.coaches,
        &visits,
        system(),
    )
    .await
}

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

/// A converted lead: its id, its patient and its coach.
type ConvertedLead = (Uuid, Option<Uuid>, Option<Uuid>);

/// Puts every demo patient on the default care journey, at a stage as far
/// along as its time since conversion allows, with its coach and each move;
/// then raises tasks for a twentieth of the open leads and for every
/// patient, in every priority and status, some overdue. Returns the
/// journeys and the tasks made. Written as the system job, audited per
/// kind of row.
async fn journeys_and_tasks(db: &Database, loader: &mut Loader<'_>) -> anyhow::Result<(u64, u64)> {
    use super::tasks::{self, NewTask, TaskPriority, TaskStatus};
    use crate::care::journey::{moves as journey_moves, row as journey_row};
    let facility_id = loader.facility_id;
    let (pathway_id, care_stages) = default_stages(db, facility_id, PipelineKind::Care).await?;
    let converted: Vec<ConvertedLead> = leads::Entity::find()
        .select_only()
        .column(leads::Column::Id)
        .column(leads::Column::PatientId)
        .column(leads::Column::HealthCoachId)
        .filter(leads::Column::FacilityId.eq(facility_id))
        .filter(leads::Column::PatientId.is_not_null())
        .into_tuple()
        .all(db.conn())
        .await?;
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
    let now = loader.now;
    let rng = &mut loader.rng;
    let mut journeys = Vec::new();
    let mut moves = Vec::new();
    let mut tasks_rows = Vec::new();
    for (lead_id, patient_id, coach) in &converted {
        let Some(patient_id) = patient_id else {
            continue;
        };
        let id = crate::db::new_id();
        let enrolled = now - (rng.below(180) as i64 + 1) * DAY;
        let stage = rng.below(care_stages.len());
        let coach = coach.or_else(|| loader.coaches.first().copied());
        for step in 0..=stage {
            moves.push(journey_moves::ActiveModel {
                id: ActiveValue::Set(crate::db::new_id()),
                journey_id: ActiveValue::Set(id),
                from_stage_id: ActiveValue::Set(step.checked_sub(1).map(|s| care_stages[s])),
                to_stage_id: ActiveValue::Set(care_stages[step]),
                actor_id: ActiveValue::Set(coach),
                occurred_at: ActiveValue::Set(Timestamp::from_micros(
                    enrolled + step as i64 * 7 * DAY,
                )),
            });
        }
        journeys.push(journey_row::ActiveModel {
            id: ActiveValue::Set(id),
            facility_id: ActiveValue::Set(facility_id),
            patient_id: ActiveValue::Set(*patient_id),
            pathway_id: ActiveValue::Set(pathway_id),
            stage_id: ActiveValue::Set(care_stages[stage]),
            health_coach_id: ActiveValue::Set(coach),
            lead_id: ActiveValue::Set(Some(*lead_id)),
            notes: ActiveValue::Set(None),
            enrolled_at: ActiveValue::Set(Timestamp::from_micros(enrolled)),
            updated_at: ActiveValue::Set(Timestamp::from_micros(enrolled)),
        });
    }
    let subjects = open
        .iter()
        .map(|(lead, owner)| (Some(*lead), None, *owner))
        .chain(
            converted
                .iter()
                .map(|(_, patient, coach)| (None, *patient, *coach)),
        );
    for (lead_id, patient_id, assignee) in subjects {
        let id = crate::db::new_id();
        let priority = *rng.pick(&TaskPriority::ALL);
        let raised = now - rng.below(14 * 24) as i64 * HOUR;
        let new = NewTask {
            title: (*rng.pick(&TASK_TITLES)).to_owned(),
            priority: Some(priority),
            lead_id,
            patient_id,
            ..NewTask::default()
        };
        let creator = assignee.or(loader.admin).unwrap_or_default();
        let mut row = tasks::seal_new(
            loader.key,
            id,
            facility_id,
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
        tasks_rows.push(row);
    }
    let counts = (journeys.len() as u64, tasks_rows.len() as u64);
    let txn = db.begin().await?;
    for chunk in journeys.chunks(500) {
        journey_row::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    for chunk in moves.chunks(500) {
        journey_moves::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    for chunk in tasks_rows.chunks(500) {
        tasks::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    let events = vec![
        AuditEvent::new(system(), AuditAction::Create, "care_journey")
            .facility(facility_id)
            .changes(redact(
                json!({ "journeys": counts.0, "moves": moves.len(), "demo": true }),
                &[],
            ))
            .flag(ComplianceFlag::Phi),
        AuditEvent::new(system(), AuditAction::Create, "task")
            .facility(facility_id)
            .changes(redact(json!({ "tasks": counts.1, "demo": true }), &[]))
            .flag(ComplianceFlag::Phi),
    ];
    audit::commit(txn, events).await?;
    Ok(counts)
}

/// A bulk load leaves PostgreSQL's planner without statistics about the
/// new rows until autovacuum comes round, and the first queries get plans
/// made for empty tables: a page of 50 active leads then sorts every open
/// lead (48 ms instead of 0.3 at 100 000 leads). The vacuum also marks the
/// new pages all-visible, which index-only scans need.
///
/// SQLite is left without statistics on purpose: its planner's defaults
/// choose the right indexes for these queries, while statistics from a
/// one-facility load ("facility_id matches every row") make SQLite 3.51
/// read a 90-day pipeline report through the status index, the whole
/// facility row by row (170 ms instead of 20).
async fn refresh_planner_statistics(db: &Database) -> Result<(), DbErr> {
    match db.backend() {
        Backend::Postgres => {
            db.execute_unprepared(
                "VACUUM (ANALYZE) leads, lead_interests, lead_transitions, patients, \
                 care_journeys, care_journey_moves, tasks",
            )
            .await
        }
        Backend::Sqlite => Ok(()),
    }
}

fn system() -> AuditActor {
    AuditActor::System {
        job: JOB.to_owned(),
    }
}

/// The facility, its default pipelines and its staff, in one transaction.
async fn create_facility_and_staff(
    state: &AppState,
    password: &str,
) -> anyhow::Result<(Uuid, Vec<StaffAccount>)> {
    let mut wanted = Vec::new();
    for (prefix, role, count, speed) in STAFF {
        for n in 1..=count {
            let email = Email::parse(&format!("{prefix}{n}@{EMAIL_DOMAIN}"))
                .map_err(|reason| anyhow::anyhow!("a demo email {reason}"))?;
            wanted.push((email, role, speed, format!("Demo {} {n}", role.as_str())));
        }
    }
    // Each account gets its own salt; hashing runs off the async threads.
    let hashes = futures_util::future::try_join_all(
        wanted.iter().map(|_| password::hash(password.to_owned())),
    )
    .await?;
    let installation = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let facility = facilities::create(
        &txn,
        FacilityFields {
            name: Some(FACILITY_NAME.to_owned()),
            city: Some("San Diego".to_owned()),
            state: Some("CA".to_owned()),
            facility_type: Some("Concierge clinic".to_owned()),
            time_zone: Some("America/Los_Angeles".to_owned()),
            ..FacilityFields::default()
        },
    )
    .await?;
    super::pipelines::create_defaults(&txn, facility.id).await?;
    let mut events = vec![
        AuditEvent::new(system(), AuditAction::Create, "facility")
            .resource(facility.id)
            .facility(facility.id)
            .changes(redact(json!({ "name": FACILITY_NAME, "demo": true }), &[])),
    ];
    let mut staff = Vec::new();
    for ((email, role, speed, name), hash) in wanted.into_iter().zip(hashes) {
        if accounts::find_by_email(&*txn, &installation, &email)
            .await?
            .is_some()
        {
            anyhow::bail!(
                "an account {} already exists in this database; load the demo into a fresh database",
                email.as_str()
            );
        }
        let account = accounts::create(
            &*txn,
            &installation,
            NewAccount {
                email: email.clone(),
                password_hash: Some(hash),
                full_name: Some(name),
                invited_by: None,
                email_confirmed: true,
            },
        )
        .await?;
        memberships::grant(
            &*txn,
            NewMembership {
                account_id: account.id,
                facility_id: Some(facility.id),
                role,
                department: None,
                is_primary: true,
                assigned_by: None,
            },
        )
        .await?;
        events.push(
            AuditEvent::new(system(), AuditAction::Create, "membership")
                .resource(account.id)
                .facility(facility.id)
                .changes(redact(json!({ "role": role, "demo": true }), &[])),
        );
        staff.push(StaffAccount {
            email: email.as_str().to_owned(),
            role,
            account_id: account.id,
            speed,
        });
    }
    audit::commit(txn, events).await?;
    Ok((facility.id, staff))
}

/// The facility's default lead pipeline and its stages, first to last.
async fn lead_stages(db: &Database, facility_id: Uuid) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    default_stages(db, facility_id, PipelineKind::Lead).await
}

/// The default pipeline of `kind` and its stages in order: seed 001's.
async fn default_stages(
    db: &Database,
    facility_id: Uuid,
    kind: PipelineKind,
) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let pipeline = pipeline::Entity::find()
        .filter(pipeline::Column::FacilityId.eq(facility_id))
        .filter(pipeline::Column::Kind.eq(kind.as_str()))
        .filter(pipeline::Column::IsDefault.eq(true))
        .one(db.conn())
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the demo facility has no default {} pipeline",
                kind.as_str()
            )
        })?;
    let stages: Vec<Uuid> = stage::Entity::find()
        .filter(stage::Column::PipelineId.eq(pipeline.id))
        .order_by_asc(stage::Column::Position)
        .all(db.conn())
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let expected = match kind {
        PipelineKind::Lead => super::pipelines::DEFAULT_LEAD_STAGES.len(),
        PipelineKind::Care => super::pipelines::DEFAULT_CARE_STAGES.len(),
    };
    anyhow::ensure!(
        stages.len() == expected,
        "the demo facility's {} pipeline is not seed 001's",
        kind.as_str()
    );
    Ok((pipeline.id, stages))
}

/// Makes the leads, batch after batch, from one generator.
struct Loader<'a> {
    facility_id: Uuid,
    key: &'a DataKey,
    pipeline_id: Uuid,
    stages: Vec<Uuid>,
    /// Who owns leads (SDRs and staff), with how fast they reach them.
    owners: Vec<(Uuid, f64)>,
    coaches: Vec<Uuid>,
    reviewer: Option<Uuid>,
    admin: Option<Uuid>,
    rng: Generator,
    now: i64,
    total: usize,
    /// Completed leads become patients until there are this many.
    patient_target: usize,
    report: DemoReport,
}

/// One transaction's rows.
struct Batch {
    leads: Vec<leads::ActiveModel>,
    interests: Vec<leads::interest::ActiveModel>,
    moves: Vec<history::ActiveModel>,
    patients: Vec<(patients::ActiveModel, Uuid, Uuid)>,
}

impl Batch {
    /// Writes the batch in `txn` and returns its audit events.
    async fn write(
        &self,
        txn: &crate::db::Transaction,
        facility_id: Uuid,
    ) -> anyhow::Result<Vec<AuditEvent>> {
        let mut events = Vec::new();
        // Patients first: converted leads point at them.
        if !self.patients.is_empty() {
            patients::Entity::insert_many(self.patients.iter().map(|(p, _, _)| p.clone()))
                .exec_without_returning(&**txn)
                .await?;
        }
        for (_, patient_id, lead_id) in &self.patients {
            events.push(
                AuditEvent::new(system(), AuditAction::Create, "patient")
                    .resource(*patient_id)
                    .facility(facility_id)
                    .patient(*patient_id)
                    .lead(*lead_id)
                    .changes(redact(
                        json!({ "converted_from_lead": lead_id, "demo": true }),
                        patients::PHI_FIELDS,
                    ))
                    .flag(ComplianceFlag::Phi),
            );
        }
        store::insert_many(
            &**txn,
            self.leads.clone(),
            self.interests.clone(),
            self.moves.clone(),
        )
        .await?;
        let ids = |at: Option<&leads::ActiveModel>| at.map(|l| *l.id.as_ref());
        events.push(
            AuditEvent::new(system(), AuditAction::Create, "lead")
                .facility(facility_id)
                .changes(redact(
                    json!({
                        "leads": self.leads.len(),
                        "interests": self.interests.len(),
                        "moves": self.moves.len(),
                        "from_id": ids(self.leads.first()),
                        "to_id": ids(self.leads.last()),
                        "demo": true,
                    }),
                    leads::PHI_FIELDS,
                ))
                .flag(ComplianceFlag::Phi),
        );
        Ok(events)
    }
}

/// A lead's life as simulated: its moves so far, and where they left it.
struct Life {
    now: i64,
    at: i64,
    status: LeadStatus,
    stage: usize,
    moves: Vec<(i64, Move)>,
}

impl Life {
    fn status(&mut self, at: i64, to: LeadStatus) {
        self.moves.push((at, Move::status(Some(self.status), to)));
        self.status = to;
        self.at = at;
    }

    /// Moves stage by stage up to `to`, minutes apart.
    fn stage(&mut self, stages: &[Uuid], to: usize) {
        while self.stage < to && self.at + 10 * MINUTE < self.now {
            let (Some(from), Some(next)) = (stages.get(self.stage), stages.get(self.stage + 1))
            else {
                return;
            };
            self.at += 10 * MINUTE;
            self.moves.push((self.at, Move::stage(Some(*from), *next)));
            self.stage += 1;
        }
    }
}

impl Loader<'_> {
    fn batch(&mut self, range: std::ops::Range<usize>) -> Batch {
        let mut batch = Batch {
            leads: Vec::with_capacity(range.len()),
            interests: Vec::new(),
            moves: Vec::new(),
            patients: Vec::new(),
        };
        for i in range {
            self.lead(i, &mut batch);
        }
        batch
    }

    /// Simulates and seals lead number `i`.
    fn lead(&mut self, i: usize, batch: &mut Batch) {
        let span = 365 * DAY;
        let slot = span as f64 / self.total as f64;
        let created = self.now - span + ((i as f64 + self.rng.unit()) * slot) as i64;
        let id = self.rng.id_at(created);
        let source = self.rng.weighted(SOURCES.iter().map(|s| s.1));
        let (source, _, median_minutes) = SOURCES[source];
        let owner = if self.rng.chance(0.93) && !self.owners.is_empty() {
            Some(*self.rng.pick(&self.owners))
        } else {
            None
        };
        let actor = owner.map(|o| o.0).or(self.admin);
        let readiness = Readiness::ALL[self.rng.weighted([40, 30, 15, 15].into_iter())];

        let mut life = Life {
            now: self.now,
            at: created,
            status: LeadStatus::New,
            stage: 0,
            moves: Vec::new(),
        };
        let speed = owner.map(|o| o.1).unwrap_or(4.0);
        let delay = (median_minutes * speed * MINUTE as f64 * self.rng.normal().exp()) as i64;
        let first_contact = created + delay.max(SECOND);
        let mut contacted = None;
        let mut coach = None;
        let mut review = (ReviewStatus::NotRequired, None);
        let mut converted = None;
        if self.rng.chance(0.88) && first_contact < self.now {
            contacted = Some(first_contact);
            life.status(first_contact, LeadStatus::Contacted);
            if self.rng.chance(0.5) {
                life.stage(&self.stages, 1);
            }
            if self.advance(&mut life, 0.55, DAY, 6 * DAY) {
                life.status(life.at, LeadStatus::Qualified);
                life.stage(&self.stages, if self.rng.chance(0.5) { 2 } else { 1 });
                review = (ReviewStatus::Pending, None);
                if self.advance(&mut life, 0.6, DAY, 8 * DAY) {
                    review = (ReviewStatus::Approved, Some(life.at - HOUR));
                    life.status(life.at, LeadStatus::Booked);
                    life.stage(&self.stages, if self.rng.chance(0.8) { 4 } else { 3 });
                    coach = (!self.coaches.is_empty()).then(|| *self.rng.pick(&self.coaches));
                    if self.advance(&mut life, 0.85, 3 * DAY, 21 * DAY) {
                        if self.rng.chance(0.8) {
                            life.status(life.at, LeadStatus::Completed);
                            life.stage(&self.stages, 4);
                            if self.report.patients as usize + batch.patients.len()
                                < self.patient_target
                                && self.rng.chance(0.25)
                            {
                                converted = Some(life.at + HOUR);
                            }
                        } else {
                            life.status(life.at, LeadStatus::NoShow);
                        }
                    }
                } else if review.0 == ReviewStatus::Pending && self.rng.chance(0.4) {
                    review = (ReviewStatus::Approved, Some(life.at + DAY));
                }
            }
        }
        // Leads left open for weeks are mostly closed.
        if life.status.is_open() && self.now - life.at > 21 * DAY && self.rng.chance(0.75) {
            let at = life.at + self.rng.between(7 * DAY, 21 * DAY);
            let to = if self.rng.chance(0.65) {
                LeadStatus::Archived
            } else {
                LeadStatus::Disqualified
            };
            if to == LeadStatus::Disqualified
                && review.0 == ReviewStatus::Pending
                && self.rng.chance(0.5)
            {
                review = (ReviewStatus::Declined, Some(at - HOUR));
            }
            life.status(at, to);
        }
        if review.1.is_some_and(|t| t > self.now) {
            review = (ReviewStatus::Pending, None);
        }

        let calls = contacted.map_or(0, |_| 1 + self.rng.below(5) as i32);
        let replies = contacted.map_or(0, |_| self.rng.below(4) as i32);
        let chat = if source == "Web Chat" {
            2 + self.rng.below(30) as i32
        } else {
            0
        };
        let last_move = life.at.max(created);
        let last_contacted = contacted.map(|first| {
            if calls > 1 {
                self.rng.between(first, last_move.max(first) + 1)
            } else {
                first
            }
        });
        let last_activity = if replies > 0 || chat > 0 {
            self.rng.between(created, last_move + 1)
        } else {
            created
        };
        let updated = last_move.max(last_contacted.unwrap_or(created));

        let first_name = *self.rng.pick(&FIRST_NAMES);
        let last_name = *self.rng.pick(&LAST_NAMES);
        let has_phone = self.rng.chance(0.85);
        let interests: Vec<Interest> = if self.rng.chance(0.45) {
            (0..1 + self.rng.below(3))
                .map(|_| Interest {
                    procedure: (*self.rng.pick(&PROCEDURES)).to_owned(),
                    notes: None,
                    priority: InterestPriority::ALL[self.rng.weighted([30, 50, 20].into_iter())],
                })
                .collect()
        } else {
            Vec::new()
        };
        let new = NewLead {
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            email: Some(format!(
                "{}.{}.{i}@example.test",
                first_name.to_lowercase(),
                last_name.to_lowercase()
            )),
            phone: has_phone.then(|| format!("+1 555 {i:07}")),
            source: Some(source.to_owned()),
            readiness: Some(readiness),
            outcome: contacted.map(|_| (*self.rng.pick(&OUTCOMES)).to_owned()),
            lead_type: Some((*self.rng.pick(&LEAD_TYPES)).to_owned()),
            owner_id: owner.map(|o| o.0),
            health_coach_id: coach,
            notes: self
                .rng
                .chance(0.3)
                .then(|| (*self.rng.pick(&NOTES)).to_owned()),
            interests: interests.clone(),
            pipeline_id: None,
            stage_id: None,
        };
        let first_stage = self.stages.first().copied().unwrap_or_default();
        let placement = Placement {
            pipeline_id: self.pipeline_id,
            stage_id: self.stages.get(life.stage).copied().unwrap_or(first_stage),
            owner_id: owner.map(|o| o.0),
        };
        let created_by = actor.unwrap_or_default();
        let mut row = leads::seal_new(
            self.key,
            id,
            self.facility_id,
            &new,
            placement,
            created_by,
            Timestamp::from_micros(created),
        );
        let priorities: Vec<InterestPriority> = interests.iter().map(|i| i.priority).collect();
        // Scored as of its last change: since then its recency has faded,
        // as it would have on a real server until the next rescore.
        let score = ScoreInputs {
            readiness,
            source,
            interests: &priorities,
            calls,
            replies,
            chat_messages: chat,
            last_activity: Some(Timestamp::from_micros(last_activity)),
        }
        .score(Timestamp::from_micros(updated));
        let at = |micros: i64| Timestamp::from_micros(micros);
        row.status = ActiveValue::Set(life.status.as_str().to_owned());
        row.number_of_calls = ActiveValue::Set(calls);
        row.replies = ActiveValue::Set(replies);
        row.chat_messages = ActiveValue::Set(chat);
        row.first_contacted_at = ActiveValue::Set(contacted.map(at));
        row.last_contacted_at = ActiveValue::Set(last_contacted.map(at));
        row.last_activity_at = ActiveValue::Set(Some(at(last_activity)));
        row.score = ActiveValue::Set(score.total);
        row.score_factors = ActiveValue::Set(score.factors_json());
        row.review_status = ActiveValue::Set(review.0.as_str().to_owned());
        if let Some(reviewed) = review.1 {
            row.reviewed_by = ActiveValue::Set(self.reviewer);
            row.reviewed_at = ActiveValue::Set(Some(at(reviewed)));
            if review.0 == ReviewStatus::Declined {
                let seal = RowSealer::new(self.key, leads::TABLE, id);
                row.review_reason = ActiveValue::Set(Some(
                    seal.text("review_reason", "Contraindicated: anticoagulants"),
                ));
            }
        }
        row.updated_at = ActiveValue::Set(at(updated));

        if let Some(converted_at) = converted {
            let patient_id = self.rng.id_at(converted_at);
            let number = self.report.patients as usize + batch.patients.len() + 1;
            let patient = NewPatient {
                mrn: format!("DEMO-{number:06}"),
                first_name: first_name.to_owned(),
                last_name: last_name.to_owned(),
                date_of_birth: format!(
                    "{}-{:02}-{:02}",
                    1950 + self.rng.below(50),
                    1 + self.rng.below(12),
                    1 + self.rng.below(28)
                ),
                gender: Some(
                    if self.rng.chance(0.5) {
                        "female"
                    } else {
                        "male"
                    }
                    .to_owned(),
                ),
                ssn: None,
                phone: new.phone.clone(),
                email: new.email.clone(),
                address: Some(Address {
                    line1: format!("{} Harbor Drive", 100 + self.rng.below(900)),
                    line2: None,
                    city: "San Diego".to_owned(),
                    state: Some("CA".to_owned()),
                    postal_code: Some(format!("921{:02}", self.rng.below(100))),
                    country: Some("US".to_owned()),
                }),
                emergency_contact: None,
                insurance: None,
                allergies: if self.rng.chance(0.3) {
                    vec!["Penicillin".to_owned()]
                } else {
                    Vec::new()
                },
                portal_account_id: None,
            };
            let mut sealed = patients::seal_new(
                self.key,
                patient_id,
                self.facility_id,
                &patient,
                coach.unwrap_or(created_by),
            );
            sealed.created_at = ActiveValue::Set(at(converted_at));
            sealed.updated_at = ActiveValue::Set(at(converted_at));
            batch.patients.push((sealed, patient_id, id));
            row.patient_id = ActiveValue::Set(Some(patient_id));
            row.converted_at = ActiveValue::Set(Some(at(converted_at)));
        }

        for mut interest in leads::seal_interests(self.key, id, &interests) {
            // A fresh id sealed with the row would not open: keep the one
            // the interest was sealed under, date it with the lead.
            interest.created_at = ActiveValue::Set(at(created));
            batch.interests.push(interest);
        }
        let first = Move {
            to_status: Some(LeadStatus::New),
            to_stage: Some(first_stage),
            ..Move::default()
        };
        for (when, change) in std::iter::once((created, first)).chain(life.moves) {
            batch.moves.push(history::ActiveModel {
                id: ActiveValue::Set(self.rng.id_at(when)),
                lead_id: ActiveValue::Set(id),
                from_status: ActiveValue::Set(change.from_status.map(|s| s.as_str().to_owned())),
                to_status: ActiveValue::Set(change.to_status.map(|s| s.as_str().to_owned())),
                from_stage_id: ActiveValue::Set(change.from_stage),
                to_stage_id: ActiveValue::Set(change.to_stage),
                actor_id: ActiveValue::Set(actor),
                occurred_at: ActiveValue::Set(at(when)),
            });
        }
        batch.leads.push(row);
    }

    /// Moves the lead's clock on by a random gap in `[low, high)` with
    /// probability `p`, if that is not in the future.
    fn advance(&mut self, life: &mut Life, p: f64, low: i64, high: i64) -> bool {
        let next = life.at + self.rng.between(low, high);
        if self.rng.chance(p) && next < self.now {
            life.at = next;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_repeats_itself_from_a_seed() {
        let mut a = Generator(7);
        let mut b = Generator(7);
        let draws: Vec<u64> = (0..5).map(|_| a.next()).collect();
        assert_eq!(draws, (0..5).map(|_| b.next()).collect::<Vec<_>>());
        assert_ne!(Generator(8).next(), draws[0]);
        let mut g = Generator(1);
        assert!((0..1000).map(|_| g.unit()).all(|u| (0.0..1.0).contains(&u)));
        let picks: Vec<usize> = (0..1000)
            .map(|_| g.weighted([0, 1, 0].into_iter()))
            .collect();
        assert!(picks.iter().all(|&i| i == 1));
    }

    #[test]
    fn ids_sort_by_the_time_they_are_dated() {
        let mut g = Generator(3);
        let early = g.id_at(1_700_000_000_000_000);
        let late = g.id_at(1_700_000_000_001_000);
        assert!(early < late);
        assert_eq!(early.get_version_num(), 7);
    }

    #[test]
    fn new_passwords_are_long_enough_and_differ() {
        let (a, b) = (new_password(), new_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(password::check_policy("password", &a).is_ok());
    }
}
