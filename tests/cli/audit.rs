//! `carebase audit verify`, on its own and against checkpoints.

use carebase::audit::{self, AuditAction, AuditActor, AuditEvent};
use carebase::config::Config;
use carebase::db::Database;

use crate::support::{carebase, text};

/// The configuration the binary uses when run in `dir` with no settings.
fn config_in(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.join("carebase-data"),
        ..Config::default()
    }
}

/// The database the binary uses in `dir`, migrated, with the audit chain
/// key loaded (the master key made as a first server start makes it).
async fn open(dir: &std::path::Path) -> Database {
    let config = config_in(dir);
    let db = Database::connect(&config).await.unwrap();
    carebase::db::migrate::up(&db).await.unwrap();
    audit::key::open_for_command(&db, &config).await.unwrap();
    db
}

/// Appends `count` events of a system job; returns their ids.
async fn append(db: &Database, count: usize) -> Vec<uuid::Uuid> {
    let events = (0..count)
        .map(|_| {
            AuditEvent::new(
                AuditActor::System {
                    job: "cli-test".to_owned(),
                },
                AuditAction::Read,
                "report",
            )
        })
        .collect();
    let txn = db.begin().await.unwrap();
    let ids = audit::append(&txn, events).await.unwrap();
    txn.commit().await.unwrap();
    ids
}

/// Runs `sql` on SQLite with the append-only guard lifted, as an
/// administrator can.
async fn behind_the_servers_back(db: &Database, sql: &[&str]) {
    let tamper = db.begin().await.unwrap();
    for sql in [
        "DROP TRIGGER IF EXISTS audit_events_no_update",
        "DROP TRIGGER IF EXISTS audit_events_no_delete",
    ]
    .iter()
    .chain(sql)
    {
        sea_orm::ConnectionTrait::execute_unprepared(&tamper, sql)
            .await
            .unwrap();
    }
    tamper.commit().await.unwrap();
}

/// `carebase audit verify` as an operator runs it: an error before the
/// schema exists, exit 0 on an intact log, exit 1 naming the event that
/// was changed behind the server's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reports_an_intact_and_a_broken_log() {
    let dir = tempfile::tempdir().unwrap();
    let verify = || carebase(dir.path(), &[], &["audit", "verify"]);

    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no audit log yet"),
        "{}",
        text(&out.stderr)
    );

    let migrated = carebase(dir.path(), &[], &["migrate", "up"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let out = verify();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("audit log intact: 0 events"),
        "{}",
        text(&out.stdout)
    );

    let db = open(dir.path()).await;
    let ids = append(&db, 3).await;

    let out = verify();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("audit log intact: 3 events"),
        "{}",
        text(&out.stdout)
    );

    let tamper = db.begin().await.unwrap();
    for sql in [
        "DROP TRIGGER audit_events_no_update",
        "UPDATE audit_events SET resource_type = 'nothing' WHERE seq = 2",
    ] {
        sea_orm::ConnectionTrait::execute_unprepared(&tamper, sql)
            .await
            .unwrap();
    }
    tamper.commit().await.unwrap();
    db.close().await;

    let out = verify();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}{}", text(&out.stderr));
    assert!(
        shown.contains("BROKEN") && shown.contains("seq 2") && shown.contains(&ids[1].to_string()),
        "{shown}"
    );
}

/// `audit verify --checkpoint` as an operator runs it after an
/// administrator cut the chain back: the chain alone still verifies, the
/// checkpoints in the object store and in a saved log do not agree with it.
/// And an event edited with every later hash recomputed is found by a plain
/// `audit verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_holds_the_chain_against_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let verify = |args: &[&str]| {
        let mut all = vec!["audit", "verify"];
        all.extend_from_slice(args);
        carebase(dir.path(), &[], &all)
    };
    let db = open(dir.path()).await;
    append(&db, 5).await;
    let log = checkpoint_to_store_and_log(&db, dir.path()).await;
    for source in ["store", log.as_str()] {
        let out = verify(&["--checkpoint", source]);
        let shown = text(&out.stdout);
        assert!(
            out.status.success(),
            "{source}: {shown}{}",
            text(&out.stderr)
        );
        assert!(shown.contains("1 checkpoint(s) agree"), "{source}: {shown}");
    }

    cut_after(&db, 3).await;
    let out = verify(&[]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("intact: 3 events"),
        "{}",
        text(&out.stdout)
    );
    for source in ["store", log.as_str()] {
        let out = verify(&["--checkpoint", source]);
        let shown = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{source}: {shown}{}",
            text(&out.stderr)
        );
        assert!(
            shown.contains("BROKEN") && shown.contains("ends at seq 3") && shown.contains("seq 5"),
            "{source}: {shown}"
        );
    }

    rehash_last_with_sha256(&db, 3).await;
    db.close().await;
    let out = verify(&[]);
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("BROKEN") && shown.contains("seq 3"),
        "{shown}"
    );
}

/// Takes a checkpoint as a server does, into the file store of `dir`'s
/// configuration and into a log file; returns the log file's path.
async fn checkpoint_to_store_and_log(db: &Database, dir: &std::path::Path) -> String {
    use carebase::audit::checkpoint;
    use carebase::storage::FileStore;

    let config = config_in(dir);
    let store = FileStore::from_settings(&config.files(), &config.data_dir).unwrap();
    let taken = checkpoint::take(db, Some(&store), carebase::time::Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    let log = dir.join("server.log");
    std::fs::write(
        &log,
        format!(
            "2026-12-07T10:00:00Z  INFO carebase: carebase is listening\n\
             2026-12-07T10:05:00Z  INFO carebase::audit::checkpoint: audit checkpoint checkpoint={}\n",
            taken.to_json()
        ),
    )
    .unwrap();
    log.display().to_string()
}

/// Deletes the events after `seq` and moves the head back onto it.
async fn cut_after(db: &Database, seq: i64) {
    let last = audit::search(db, &audit::AuditFilter::default(), Some(seq + 1), 1)
        .await
        .unwrap()
        .remove(0);
    behind_the_servers_back(
        db,
        &[
            &format!("DELETE FROM audit_events WHERE seq > {seq}"),
            &format!(
                "UPDATE audit_chain SET last_seq = {seq}, last_hash = X'{}'",
                last.hash
            ),
        ],
    )
    .await;
}

/// Edits the last event, at `seq`, and recomputes its hash with plain
/// SHA-256, as an administrator without the key can.
async fn rehash_last_with_sha256(db: &Database, seq: i64) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut row = audit::store::events::Entity::find()
        .filter(audit::store::events::Column::Seq.eq(seq))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    row.resource_type = "nothing".to_owned();
    let hash = audit::chain::hex(&audit::chain::event_hash(&row));
    behind_the_servers_back(
        db,
        &[
            &format!(
                "UPDATE audit_events SET resource_type = 'nothing', hash = X'{hash}' WHERE seq = {seq}"
            ),
            &format!("UPDATE audit_chain SET last_hash = X'{hash}'"),
        ],
    )
    .await;
}
