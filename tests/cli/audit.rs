//! `carebase audit verify`.

use crate::support::{carebase, text};

/// `carebase audit verify` as an operator runs it: an error before the
/// schema exists, exit 0 on an intact log, exit 1 naming the event that
/// was changed behind the server's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reports_an_intact_and_a_broken_log() {
    use carebase::audit::{self, AuditAction, AuditActor, AuditEvent};

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

    let config = carebase::config::Config {
        data_dir: dir.path().join("carebase-data"),
        ..carebase::config::Config::default()
    };
    let db = carebase::db::Database::connect(&config).await.unwrap();
    let events = (0..3)
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
