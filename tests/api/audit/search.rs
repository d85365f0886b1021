//! Reading the log back: search filters and pages by sequence, exports
//! read back exactly, and the seeds' views show it.

use carebase::audit::{
    self, AuditAction, AuditActor, AuditEvent, AuditFilter, ComplianceFlag, RequestContext,
    StoredEvent, redact,
};
use carebase::db::Database;
use carebase::time::Timestamp;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::TestBackend;
use crate::support::audit_chain::{account, append, migrated, patient_read};

on_both_backends!(
    search_filters_and_pages_by_seq,
    exports_read_back_exactly,
    the_seed_views_show_the_log,
);

async fn search_filters_and_pages_by_seq(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let (north, south) = (Uuid::now_v7(), Uuid::now_v7());
    let (jane, john) = (Uuid::now_v7(), Uuid::now_v7());
    let nurse = Uuid::now_v7();
    append(&db, five_events(north, south, jane, john, nurse)).await;
    filters_by_facility_and_patient(&db, north, south, jane).await;
    filters_by_actor_resource_and_time(&db, nurse, jane).await;
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = audit::search(&db, &AuditFilter::default(), cursor, 2)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.seq);
        pages.push(page.iter().map(|e| e.seq).collect::<Vec<i64>>());
    }
    assert_eq!(pages, [vec![5, 4], vec![3, 2], vec![1]]);

    let system = audit::search(&db, &AuditFilter::default(), Some(5), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(system.actor_type, audit::ActorType::System);
    assert_eq!(system.actor_job.as_deref(), Some("reminders"));
    assert_eq!(system.actor_id, None);
    db.close().await;
}

/// `second` seconds past a fixed moment in 2026.
fn at(second: i64) -> Timestamp {
    Timestamp::from(jiff::Timestamp::from_second(1_795_000_000 + second).unwrap())
}

/// Ten seconds apart: a read of jane in north, the nurse's change to her,
/// the nurse's read of john in south, a system job's appointment in south,
/// and the nurse's sign-in, of no facility.
fn five_events(north: Uuid, south: Uuid, jane: Uuid, john: Uuid, nurse: Uuid) -> Vec<AuditEvent> {
    let as_nurse = AuditActor::Account {
        id: nurse,
        session_id: None,
    };
    vec![
        AuditEvent {
            occurred_at: at(0),
            ..patient_read(jane).facility(north)
        },
        AuditEvent {
            occurred_at: at(10),
            ..AuditEvent::new(as_nurse.clone(), AuditAction::Update, "patient")
                .resource(jane)
                .patient(jane)
                .facility(north)
        },
        AuditEvent {
            occurred_at: at(20),
            ..AuditEvent::new(as_nurse.clone(), AuditAction::PatientAccess, "patient")
                .resource(john)
                .patient(john)
                .facility(south)
        },
        AuditEvent {
            occurred_at: at(30),
            ..AuditEvent::new(
                AuditActor::System {
                    job: "reminders".to_owned(),
                },
                AuditAction::Create,
                "appointment",
            )
            .facility(south)
        },
        AuditEvent {
            occurred_at: at(40),
            ..AuditEvent::new(as_nurse, AuditAction::Login, "session")
        },
    ]
}

/// The sequence numbers of the events `filter` finds, newest first.
async fn find(db: &Database, filter: AuditFilter) -> Vec<i64> {
    audit::search(db, &filter, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

async fn filters_by_facility_and_patient(db: &Database, north: Uuid, south: Uuid, jane: Uuid) {
    assert_eq!(find(db, AuditFilter::default()).await, [5, 4, 3, 2, 1]);
    assert_eq!(
        find(
            db,
            AuditFilter {
                facility_ids: Some(vec![north]),
                ..Default::default()
            }
        )
        .await,
        [2, 1]
    );
    assert_eq!(
        find(
            db,
            AuditFilter {
                facility_ids: Some(vec![north, south]),
                ..Default::default()
            }
        )
        .await,
        [4, 3, 2, 1],
        "events of no facility are for system-wide administrators only"
    );
    assert!(
        find(
            db,
            AuditFilter {
                facility_ids: Some(vec![]),
                ..Default::default()
            }
        )
        .await
        .is_empty()
    );
    assert_eq!(
        find(
            db,
            AuditFilter {
                patient_id: Some(jane),
                ..Default::default()
            }
        )
        .await,
        [2, 1]
    );
}

async fn filters_by_actor_resource_and_time(db: &Database, nurse: Uuid, jane: Uuid) {
    assert_eq!(
        find(
            db,
            AuditFilter {
                actor_id: Some(nurse),
                ..Default::default()
            }
        )
        .await,
        [5, 3, 2]
    );
    assert_eq!(
        find(
            db,
            AuditFilter {
                actor_id: Some(nurse),
                action: Some(AuditAction::PatientAccess),
                ..Default::default()
            }
        )
        .await,
        [3]
    );
    assert_eq!(
        find(
            db,
            AuditFilter {
                resource_type: Some("patient".to_owned()),
                resource_id: Some(jane),
                ..Default::default()
            }
        )
        .await,
        [2, 1]
    );
    assert_eq!(
        find(
            db,
            AuditFilter {
                from: Some(at(10)),
                to: Some(at(30)),
                ..Default::default()
            }
        )
        .await,
        [3, 2],
        "from is inclusive, to exclusive"
    );
}

async fn exports_read_back_exactly(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let patient = Uuid::now_v7();
    append(
        &db,
        vec![
            AuditEvent::new(account(), AuditAction::Update, "patient")
                .resource(patient)
                .patient(patient)
                .changes(redact(
                    json!({"before": {"name": "Jane Roe", "status": "active"},
                           "after": {"name": "Jane Doe", "status": "inactive"}}),
                    &["name"],
                ))
                .context(RequestContext {
                    client_addr: Some("192.0.2.1".to_owned()),
                    user_agent: Some("=HYPERLINK(\"http://evil\")".to_owned()),
                    request_id: Some("req, with \"quotes\"\nand a newline".to_owned()),
                })
                .flag(ComplianceFlag::Phi)
                .flag(ComplianceFlag::Export),
            AuditEvent::new(
                AuditActor::ApiKey { id: Uuid::now_v7() },
                AuditAction::Export,
                "report",
            ),
        ],
    )
    .await;
    let events = audit::search(&db, &AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);

    ndjson_reads_back_exactly(&events);
    csv_reads_back_exactly(&events);
    db.close().await;
}

/// NDJSON holds no PHI and parses back to the very events.
fn ndjson_reads_back_exactly(events: &[StoredEvent]) {
    let mut ndjson = Vec::new();
    audit::write_ndjson(events, &mut ndjson).unwrap();
    let text = String::from_utf8(ndjson).unwrap();
    assert!(!text.contains("Jane"), "PHI never reaches the log: {text}");
    let back: Vec<StoredEvent> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(back, events);
}

/// CSV has every column, each field as stored, and no formula a client
/// sent.
fn csv_reads_back_exactly(events: &[StoredEvent]) {
    let mut csv_bytes = Vec::new();
    audit::write_csv(events, &mut csv_bytes).unwrap();
    let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
    let headers = reader.headers().unwrap().clone();
    let expected_headers = [
        "id",
        "seq",
        "occurred_at",
        "actor_type",
        "actor_id",
        "actor_job",
        "session_id",
        "action",
        "resource_type",
        "resource_id",
        "facility_id",
        "patient_id",
        "lead_id",
        "changes",
        "client_addr",
        "user_agent",
        "request_id",
        "compliance_flags",
        "prev_hash",
        "hash",
        "phi_changes",
    ];
    assert_eq!(headers.iter().collect::<Vec<_>>(), expected_headers);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), events.len());
    for (row, event) in rows.iter().zip(events) {
        let field = |name: &str| {
            row.get(headers.iter().position(|h| h == name).unwrap())
                .unwrap()
        };
        assert_eq!(field("id"), event.id.to_string());
        assert_eq!(field("seq"), event.seq.to_string());
        assert_eq!(
            field("occurred_at").parse::<Timestamp>().unwrap(),
            event.occurred_at
        );
        assert_eq!(field("action"), event.action.as_str());
        assert_eq!(field("hash"), event.hash);
        assert_eq!(field("prev_hash"), event.prev_hash);
        assert_eq!(
            field("patient_id"),
            event.patient_id.map(|p| p.to_string()).unwrap_or_default()
        );
        let flags: Vec<String> = serde_json::from_str(field("compliance_flags")).unwrap();
        assert_eq!(flags, event.compliance_flags);
        if let Some(changes) = &event.changes {
            assert_eq!(
                &serde_json::from_str::<serde_json::Value>(field("changes")).unwrap(),
                changes
            );
        }
        assert_eq!(
            field("request_id"),
            event.request_id.clone().unwrap_or_default()
        );
    }
    let update = rows.iter().find(|r| r.get(7) == Some("update")).unwrap();
    assert_eq!(
        update.get(15),
        Some("'=HYPERLINK(\"http://evil\")"),
        "a formula from a client is not a formula in the export"
    );
}

async fn the_seed_views_show_the_log(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let (message, patient, user) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    append(
        &db,
        vec![
            AuditEvent::new(
                AuditActor::Account {
                    id: user,
                    session_id: None,
                },
                AuditAction::Create,
                "communication",
            )
            .resource(message)
            .patient(patient)
            .flag(ComplianceFlag::Phi),
            AuditEvent::new(
                AuditActor::System {
                    job: "n8n".to_owned(),
                },
                AuditAction::Create,
                "communication",
            )
            .resource(Uuid::now_v7()),
            patient_read(patient),
        ],
    )
    .await;
    let sql =
        |text: &str| Statement::from_string(db.conn().get_database_backend(), text.to_owned());
    let communications = db
        .conn()
        .query_all_raw(sql(
            "SELECT communication_id, contains_phi FROM communication_audit ORDER BY seq",
        ))
        .await
        .unwrap();
    assert_eq!(communications.len(), 2);
    let first: Uuid = communications[0].try_get("", "communication_id").unwrap();
    let phi: Vec<bool> = communications
        .iter()
        .map(|row| row.try_get("", "contains_phi").unwrap())
        .collect();
    assert_eq!((first, phi), (message, vec![true, false]));

    let activity = db
        .conn()
        .query_all_raw(sql(
            "SELECT entity_type, entity_id, action, user_id, created_at FROM activity_logs \
             WHERE user_id = (SELECT actor_id FROM audit_events WHERE seq = 1)",
        ))
        .await
        .unwrap();
    assert_eq!(activity.len(), 1);
    let row = &activity[0];
    assert_eq!(
        row.try_get::<String>("", "entity_type").unwrap(),
        "communication"
    );
    assert_eq!(row.try_get::<Uuid>("", "entity_id").unwrap(), message);
    assert_eq!(row.try_get::<String>("", "action").unwrap(), "create");
    assert_eq!(row.try_get::<Uuid>("", "user_id").unwrap(), user);
    assert!(row.try_get::<i64>("", "created_at").unwrap() > 0);
    let all = db
        .conn()
        .query_all_raw(sql("SELECT entity_id FROM activity_logs"))
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "system jobs are not a user's activity");
    db.close().await;
}
