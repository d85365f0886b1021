//! The audit log on both backends: events join the chain with the
//! transaction that makes them, the database refuses to change them,
//! `verify` names the event that was changed or removed behind the
//! server's back, concurrent writers and the group-commit writer keep the
//! chain whole, and search and export read it back.

use carebase::access::Permission;
use carebase::audit::store::events;
use carebase::audit::{
    self, AuditAction, AuditActor, AuditError, AuditEvent, AuditFilter, AuditWriter, BreakReason,
    ChainBreak, ComplianceFlag, RequestContext, StoredEvent, VerifyReport, redact,
};
use carebase::db::{Backend, Database, migrate};
use carebase::time::Timestamp;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use serde_json::json;
use uuid::Uuid;
use reqwest::Method;

use crate::on_both_backends;
use crate::support::{TestBackend, TestDatabase};
use crate::support::matrix::{Case, Grant};

on_both_backends!(
    events_commit_and_roll_back_with_their_transaction,
    the_database_refuses_to_change_or_remove_events,
    verify_names_a_changed_event,
    verify_names_a_rehashed_event_by_its_broken_link,
    verify_reports_a_deleted_event_as_a_gap,
    verify_reports_a_head_moved_back,
    verify_walks_across_pages,
    concurrent_write_transactions_keep_the_chain_whole,
    the_writer_group_commits_concurrent_reads,
    the_writer_drains_on_stop_and_refuses_afterwards,
    search_filters_and_pages_by_seq,
    exports_read_back_exactly,
    the_seed_views_show_the_log,
);

async fn migrated(backend: TestBackend) -> (TestDatabase, Database) {
    let test_db = TestDatabase::create(backend).await;
    let mut config = test_db.config();
    config.db_max_connections = 10;
    let db = Database::connect(&config).await.unwrap();
    migrate::up(&db).await.unwrap();
    (test_db, db)
}

fn account() -> AuditActor {
    AuditActor::Account {
        id: Uuid::now_v7(),
        session_id: Some(Uuid::now_v7()),
    }
}

fn patient_read(patient: Uuid) -> AuditEvent {
    AuditEvent::new(account(), AuditAction::PatientAccess, "patient")
        .resource(patient)
        .patient(patient)
        .flag(ComplianceFlag::Phi)
}

/// Appends `events` in a transaction of their own.
async fn append(db: &Database, events: Vec<AuditEvent>) -> Vec<Uuid> {
    let txn = db.begin().await.unwrap();
    let ids = audit::append(&txn, events).await.unwrap();
    txn.commit().await.unwrap();
    ids
}

async fn append_numbered(db: &Database, count: usize) -> Vec<Uuid> {
    let events = (0..count).map(|_| patient_read(Uuid::now_v7())).collect();
    append(db, events).await
}

async fn count_events(db: &Database) -> i64 {
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(
            db.conn().get_database_backend(),
            "SELECT COUNT(*) AS n FROM audit_events",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn seqs(db: &Database) -> Vec<i64> {
    db.conn()
        .query_all_raw(Statement::from_string(
            db.conn().get_database_backend(),
            "SELECT seq FROM audit_events ORDER BY seq",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get("", "seq").unwrap())
        .collect()
}

fn intact(report: &VerifyReport) -> u64 {
    match report {
        VerifyReport::Intact { events, .. } => *events,
        VerifyReport::Broken(found) => panic!("the chain is broken: {found}"),
    }
}

fn broken(report: VerifyReport) -> ChainBreak {
    match report {
        VerifyReport::Broken(found) => found,
        VerifyReport::Intact { events, .. } => panic!("the chain verified with {events} events"),
    }
}

/// Tampering as a database administrator could: in one session, the guard
/// triggers off, one statement, the guard back on. (One session because
/// SQLite's other pooled connections may still hold the old schema, and
/// SQLite does not recheck it before saying a trigger "already exists".)
async fn behind_the_servers_back(db: &Database, sql: &str) {
    let statements: Vec<&str> = match db.backend() {
        Backend::Postgres => vec![
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
            sql,
            "ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete",
        ],
        Backend::Sqlite => vec![
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
            sql,
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
        ],
    };
    let session = db.begin().await.unwrap();
    for statement in statements {
        session.execute_unprepared(statement).await.unwrap();
    }
    session.commit().await.unwrap();
    assert_refused(db, "UPDATE audit_events SET resource_type = 'again'").await;
}

async fn assert_refused(db: &Database, sql: &str) {
    let err = db
        .execute_unprepared(sql)
        .await
        .expect_err("the database refuses");
    assert!(
        err.to_string().contains("audit events are append-only"),
        "{sql}: {err}"
    );
}

async fn events_commit_and_roll_back_with_their_transaction(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 0);

    let ids = append_numbered(&db, 2).await;
    assert_eq!(ids.len(), 2);
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 2);

    let txn = db.begin().await.unwrap();
    audit::append(&txn, vec![patient_read(Uuid::now_v7())])
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    let txn = db.begin().await.unwrap();
    audit::append(&txn, vec![patient_read(Uuid::now_v7())])
        .await
        .unwrap();
    drop(txn);
    assert_eq!(count_events(&db).await, 2, "rolled back events are gone");
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 2);

    append_numbered(&db, 1).await;
    assert_eq!(
        seqs(&db).await,
        [1, 2, 3],
        "no gap where the rollbacks were"
    );
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 3);

    let stored = audit::search(&db, &AuditFilter::default(), None, 10)
        .await
        .unwrap();
    let first = stored.iter().find(|e| e.seq == 1).unwrap();
    assert_eq!(first.id, ids[0]);
    assert_eq!(first.prev_hash, "0".repeat(64));
    let second = stored.iter().find(|e| e.seq == 2).unwrap();
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(first.compliance_flags, ["phi"]);
    db.close().await;
}

async fn the_database_refuses_to_change_or_remove_events(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    append_numbered(&db, 2).await;
    assert_refused(
        &db,
        "UPDATE audit_events SET resource_type = 'x' WHERE seq = 1",
    )
    .await;
    assert_refused(&db, "UPDATE audit_events SET hash = prev_hash").await;
    assert_refused(&db, "DELETE FROM audit_events WHERE seq = 2").await;
    assert_refused(&db, "DELETE FROM audit_events").await;
    if backend == TestBackend::Postgres {
        assert_refused(&db, "TRUNCATE audit_events").await;
    }
    assert_eq!(count_events(&db).await, 2);
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 2);
    db.close().await;
}

async fn verify_names_a_changed_event(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let ids = append_numbered(&db, 5).await;
    behind_the_servers_back(
        &db,
        "UPDATE audit_events SET resource_type = 'nothing-to-see' WHERE seq = 3",
    )
    .await;
    let found = broken(audit::verify(&db).await.unwrap());
    assert_eq!(
        found,
        ChainBreak {
            seq: 3,
            id: Some(ids[2]),
            reason: BreakReason::HashMismatch,
        }
    );
    let message = found.to_string();
    assert!(
        message.contains("seq 3") && message.contains(&ids[2].to_string()),
        "{message}"
    );
    db.close().await;
}

/// An administrator who also recomputes the changed event's hash still
/// breaks the link from the event after it.
async fn verify_names_a_rehashed_event_by_its_broken_link(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let ids = append_numbered(&db, 4).await;
    let mut forged = events::Entity::find()
        .filter(events::Column::Seq.eq(2))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    forged.action = AuditAction::Read;
    let hash = audit::chain::hex(&audit::chain::event_hash(&forged));
    let set_hash = match backend {
        TestBackend::Postgres => format!("decode('{hash}', 'hex')"),
        TestBackend::Sqlite => format!("X'{hash}'"),
    };
    behind_the_servers_back(
        &db,
        &format!("UPDATE audit_events SET action = 'read', hash = {set_hash} WHERE seq = 2"),
    )
    .await;
    assert_eq!(
        broken(audit::verify(&db).await.unwrap()),
        ChainBreak {
            seq: 3,
            id: Some(ids[2]),
            reason: BreakReason::PrevHashMismatch,
        }
    );
    db.close().await;
}

async fn verify_reports_a_deleted_event_as_a_gap(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    append_numbered(&db, 5).await;
    behind_the_servers_back(&db, "DELETE FROM audit_events WHERE seq = 3").await;
    let found = broken(audit::verify(&db).await.unwrap());
    assert_eq!(
        found,
        ChainBreak {
            seq: 3,
            id: None,
            reason: BreakReason::Missing { next: Some(4) },
        }
    );
    assert!(found.to_string().contains("missing"), "{found}");

    behind_the_servers_back(&db, "DELETE FROM audit_events WHERE seq >= 3").await;
    assert_eq!(
        broken(audit::verify(&db).await.unwrap()),
        ChainBreak {
            seq: 3,
            id: None,
            reason: BreakReason::Missing { next: None },
        },
        "the head still records the deleted tail"
    );
    db.close().await;
}

async fn verify_reports_a_head_moved_back(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let ids = append_numbered(&db, 3).await;
    let second = audit::search(&db, &AuditFilter::default(), Some(3), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(second.seq, 2);
    let set_hash = match db.backend() {
        Backend::Postgres => format!("decode('{}', 'hex')", second.hash),
        Backend::Sqlite => format!("X'{}'", second.hash),
    };
    db.execute_unprepared(&format!(
        "UPDATE audit_chain SET last_seq = 2, last_hash = {set_hash}"
    ))
    .await
    .unwrap();
    assert_eq!(
        broken(audit::verify(&db).await.unwrap()),
        ChainBreak {
            seq: 3,
            id: Some(ids[2]),
            reason: BreakReason::AfterHead { head: 2 },
        }
    );
    db.close().await;
}

/// More events than one insert statement and one verification page hold.
async fn verify_walks_across_pages(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    append_numbered(&db, 2345).await;
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 2345);
    assert_eq!(seqs(&db).await, (1..=2345).collect::<Vec<i64>>());
    behind_the_servers_back(
        &db,
        "UPDATE audit_events SET resource_type = 'x' WHERE seq = 1501",
    )
    .await;
    let found = broken(audit::verify(&db).await.unwrap());
    assert_eq!((found.seq, found.reason), (1501, BreakReason::HashMismatch));
    db.close().await;
}

async fn concurrent_write_transactions_keep_the_chain_whole(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let writers: Vec<_> = (0..20)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let txn = db.begin().await?;
                let events = (0..3).map(|_| patient_read(Uuid::now_v7())).collect();
                audit::append(&txn, events).await?;
                txn.commit().await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    assert_eq!(seqs(&db).await, (1..=60).collect::<Vec<i64>>());
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 60);
    db.close().await;
}

async fn the_writer_group_commits_concurrent_reads(backend: TestBackend) {
    let test_db = TestDatabase::create(backend).await;
    let state = carebase::AppState::open(test_db.config()).await.unwrap();
    let writer = state.audit.clone();
    let readers: Vec<_> = (0..200)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(vec![patient_read(Uuid::now_v7())]).await })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap().unwrap();
    }
    let commits = writer.commits();
    eprintln!("200 concurrent records took {commits} commits");
    assert!(
        (1..=40).contains(&commits),
        "{commits} commits for 200 reads"
    );
    assert_eq!(count_events(&state.db).await, 200);
    assert_eq!(intact(&audit::verify(&state.db).await.unwrap()), 200);
    state.audit.stop().await;
    state.db.close().await;
}

async fn the_writer_drains_on_stop_and_refuses_afterwards(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let writer = AuditWriter::start(db.clone());
    writer
        .record(vec![patient_read(Uuid::now_v7())])
        .await
        .unwrap();
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(vec![patient_read(Uuid::now_v7())]).await })
        })
        .collect();
    tokio::task::yield_now().await;
    writer.stop().await;
    let mut recorded = 1;
    for reader in readers {
        match reader.await.unwrap() {
            Ok(()) => recorded += 1,
            Err(AuditError::Stopped) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        count_events(&db).await,
        recorded,
        "every event acknowledged is stored, none other"
    );
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), recorded as u64);
    assert!(matches!(
        writer.record(vec![patient_read(Uuid::now_v7())]).await,
        Err(AuditError::Stopped)
    ));
    assert_eq!(writer.record(Vec::new()).await.ok(), Some(()));
    db.close().await;
}

async fn search_filters_and_pages_by_seq(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let (north, south) = (Uuid::now_v7(), Uuid::now_v7());
    let (jane, john) = (Uuid::now_v7(), Uuid::now_v7());
    let nurse = Uuid::now_v7();
    let at = |second: i64| {
        Timestamp::from(jiff::Timestamp::from_second(1_795_000_000 + second).unwrap())
    };
    let as_nurse = AuditActor::Account {
        id: nurse,
        session_id: None,
    };
    let events = vec![
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
    ];
    append(&db, events).await;

    let find = |filter: AuditFilter| {
        let db = db.clone();
        async move {
            audit::search(&db, &filter, None, 100)
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<i64>>()
        }
    };
    assert_eq!(find(AuditFilter::default()).await, [5, 4, 3, 2, 1]);
    assert_eq!(
        find(AuditFilter {
            facility_ids: Some(vec![north]),
            ..Default::default()
        })
        .await,
        [2, 1]
    );
    assert_eq!(
        find(AuditFilter {
            facility_ids: Some(vec![north, south]),
            ..Default::default()
        })
        .await,
        [4, 3, 2, 1],
        "events of no facility are for system-wide administrators only"
    );
    assert!(
        find(AuditFilter {
            facility_ids: Some(vec![]),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        find(AuditFilter {
            patient_id: Some(jane),
            ..Default::default()
        })
        .await,
        [2, 1]
    );
    assert_eq!(
        find(AuditFilter {
            actor_id: Some(nurse),
            ..Default::default()
        })
        .await,
        [5, 3, 2]
    );
    assert_eq!(
        find(AuditFilter {
            actor_id: Some(nurse),
            action: Some(AuditAction::PatientAccess),
            ..Default::default()
        })
        .await,
        [3]
    );
    assert_eq!(
        find(AuditFilter {
            resource_type: Some("patient".to_owned()),
            resource_id: Some(jane),
            ..Default::default()
        })
        .await,
        [2, 1]
    );
    assert_eq!(
        find(AuditFilter {
            from: Some(at(10)),
            to: Some(at(30)),
            ..Default::default()
        })
        .await,
        [3, 2],
        "from is inclusive, to exclusive"
    );

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

    let mut ndjson = Vec::new();
    audit::write_ndjson(&events, &mut ndjson).unwrap();
    let text = String::from_utf8(ndjson).unwrap();
    assert!(!text.contains("Jane"), "PHI never reaches the log: {text}");
    let back: Vec<StoredEvent> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(back, events);

    let mut csv_bytes = Vec::new();
    audit::write_csv(&events, &mut csv_bytes).unwrap();
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
    ];
    assert_eq!(headers.iter().collect::<Vec<_>>(), expected_headers);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), events.len());
    for (row, event) in rows.iter().zip(&events) {
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
    db.close().await;
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

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("search audit", Method::GET, P::AUDIT_READ, |r, _| format!("/facilities/{f}/audit-events", f = r.facility)),
        Case::new("export audit", Method::GET, P::AUDIT_EXPORT, |r, _| format!("/facilities/{f}/audit-events/export", f = r.facility)),
        Case::new("search all audit", Method::GET, P::AUDIT_READ, |_, _| "/admin/audit-events".to_owned())
            .grant(Grant::Installation),
        Case::new("export all audit", Method::GET, P::AUDIT_EXPORT, |_, _| "/admin/audit-events/export".to_owned())
            .grant(Grant::Installation),
    ]
}
