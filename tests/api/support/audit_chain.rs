//! What the audit log tests share: a migrated database of their own,
//! events appended in transactions, the chain read back and verified, and
//! tampering as a database administrator could.

use carebase::audit::{
    self, AuditAction, AuditActor, AuditEvent, ChainBreak, ComplianceFlag, VerifyReport,
};
use carebase::db::{Backend, Database, migrate};
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use super::{TestBackend, TestDatabase};

/// A migrated database of `backend`, with its own pool and the audit
/// chain key loaded (the master key made as on a server's first start).
pub async fn migrated(backend: TestBackend) -> (TestDatabase, Database) {
    let test_db = TestDatabase::create(backend).await;
    let mut config = test_db.config();
    config.db_max_connections = 10;
    let db = Database::connect(&config).await.unwrap();
    migrate::up(&db).await.unwrap();
    audit::key::open_for_command(&db, &config).await.unwrap();
    (test_db, db)
}

/// Another handle on `test_db`'s database, loading only what a check
/// loads (`audit verify`): the chain key if the database has one.
pub async fn checking(test_db: &TestDatabase) -> Database {
    let config = test_db.config();
    let db = Database::connect(&config).await.unwrap();
    audit::key::open_for_check(&db, &config).await.unwrap();
    db
}

/// `hex` as an SQL literal of bytes on `db`'s backend.
pub fn bytes_literal(db: &Database, hex: &str) -> String {
    match db.backend() {
        Backend::Postgres => format!("decode('{hex}', 'hex')"),
        Backend::Sqlite => format!("X'{hex}'"),
    }
}

/// Rewrites every event from `seq` on as an administrator without the key
/// would: `edit` applied to the event at `seq`, then each event's hash
/// recomputed with plain SHA-256 and linked to the one before, and the
/// head moved to the new last hash.
pub async fn rewrite_from(db: &Database, seq: i64, edit: &str) {
    use carebase::audit::store::events;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

    behind_the_servers_back(
        db,
        &format!("UPDATE audit_events SET {edit} WHERE seq = {seq}"),
    )
    .await;
    let rows = events::Entity::find()
        .filter(events::Column::Seq.gte(seq))
        .order_by_asc(events::Column::Seq)
        .all(db.conn())
        .await
        .unwrap();
    let mut prev_hash = None;
    for mut row in rows {
        if let Some(prev) = prev_hash.take() {
            row.prev_hash = prev;
        }
        let hash = audit::chain::event_hash(&row).to_vec();
        behind_the_servers_back(
            db,
            &format!(
                "UPDATE audit_events SET prev_hash = {}, hash = {} WHERE seq = {}",
                bytes_literal(db, &audit::chain::hex(&row.prev_hash)),
                bytes_literal(db, &audit::chain::hex(&hash)),
                row.seq
            ),
        )
        .await;
        prev_hash = Some(hash);
    }
    let head = prev_hash.expect("events to rewrite");
    db.execute_unprepared(&format!(
        "UPDATE audit_chain SET last_hash = {}",
        bytes_literal(db, &audit::chain::hex(&head))
    ))
    .await
    .unwrap();
}

/// Cuts the chain after `seq` as an administrator would: the later events
/// deleted and the head moved back to the event at `seq`, so what is left
/// is a whole chain.
pub async fn cut_after(db: &Database, seq: i64) {
    behind_the_servers_back(db, &format!("DELETE FROM audit_events WHERE seq > {seq}")).await;
    let last = audit::search(db, &audit::AuditFilter::default(), Some(seq + 1), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(last.seq, seq);
    db.execute_unprepared(&format!(
        "UPDATE audit_chain SET last_seq = {seq}, last_hash = {}",
        bytes_literal(db, &last.hash)
    ))
    .await
    .unwrap();
}

/// An account acting in a session.
pub fn account() -> AuditActor {
    AuditActor::Account {
        id: Uuid::now_v7(),
        session_id: Some(Uuid::now_v7()),
    }
}

/// `account` reading `patient`.
pub fn patient_read(patient: Uuid) -> AuditEvent {
    AuditEvent::new(account(), AuditAction::PatientAccess, "patient")
        .resource(patient)
        .patient(patient)
        .flag(ComplianceFlag::Phi)
}

/// Appends `events` in a transaction of their own.
pub async fn append(db: &Database, events: Vec<AuditEvent>) -> Vec<Uuid> {
    let txn = db.begin().await.unwrap();
    let ids = audit::append(&txn, events).await.unwrap();
    txn.commit().await.unwrap();
    ids
}

/// Appends `count` reads of new patients.
pub async fn append_numbered(db: &Database, count: usize) -> Vec<Uuid> {
    let events = (0..count).map(|_| patient_read(Uuid::now_v7())).collect();
    append(db, events).await
}

/// How many events the log holds.
pub async fn count_events(db: &Database) -> i64 {
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

/// The sequence numbers of the log, in order.
pub async fn seqs(db: &Database) -> Vec<i64> {
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

/// How many events an intact chain holds; panics on a break.
pub fn intact(report: &VerifyReport) -> u64 {
    match report {
        VerifyReport::Intact { events, .. } => *events,
        VerifyReport::Broken(found) => panic!("the chain is broken: {found}"),
    }
}

/// Where the chain breaks; panics if it is intact.
pub fn broken(report: VerifyReport) -> ChainBreak {
    match report {
        VerifyReport::Broken(found) => found,
        VerifyReport::Intact { events, .. } => panic!("the chain verified with {events} events"),
    }
}

/// Tampering as a database administrator could: in one session, the guard
/// triggers off, one statement, the guard back on. (One session because
/// SQLite's other pooled connections may still hold the old schema, and
/// SQLite does not recheck it before saying a trigger "already exists".)
pub async fn behind_the_servers_back(db: &Database, sql: &str) {
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

/// Fails unless the database refuses `sql` as a change to the log.
pub async fn assert_refused(db: &Database, sql: &str) {
    let err = db
        .execute_unprepared(sql)
        .await
        .expect_err("the database refuses");
    assert!(
        err.to_string().contains("audit events are append-only"),
        "{sql}: {err}"
    );
}
