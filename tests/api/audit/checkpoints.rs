//! Signed checkpoints outside the database: a running server writes them
//! into the object store, and a chain cut back or rewritten behind a
//! checkpoint no longer agrees with it, though it verifies on its own.

use std::time::Duration;

use carebase::audit::checkpoint::{self, Finding};
use carebase::audit::settings::AuditSettings;
use carebase::audit::{self};
use carebase::storage::FileStore;
use carebase::time::Timestamp;

use crate::on_both_backends;
use crate::support::audit_chain::{append_numbered, cut_after, intact, migrated, rewrite_from};
use crate::support::{TestApp, TestBackend};

on_both_backends!(
    a_running_server_writes_signed_checkpoints_to_the_store,
    a_stopping_server_writes_a_last_checkpoint,
    a_cut_tail_is_found_against_a_checkpoint_written_before,
    a_rewrite_or_a_moved_keying_start_is_found_against_a_checkpoint,
);

async fn a_running_server_writes_signed_checkpoints_to_the_store(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.edit_section::<AuditSettings>(|audit| audit.checkpoint_interval_secs = 1);
    })
    .await;
    append_numbered(&app.state.db, 3).await;
    let store =
        FileStore::from_settings(&app.state.config.files(), &app.state.config.data_dir).unwrap();
    let key = app.state.db.audit_key().unwrap().clone();
    let head = audit::verify::read_head(&app.state.db).await.unwrap();
    let mut found = Vec::new();
    for _ in 0..100 {
        found = checkpoint::read_store(&store).await.unwrap().0;
        if found.iter().any(|c| c.seq >= head.last_seq) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let newest = found
        .iter()
        .find(|c| c.seq == head.last_seq)
        .unwrap_or_else(|| panic!("no checkpoint of seq {}: {found:?}", head.last_seq));
    assert!(newest.is_genuine(&key));
    assert_eq!(newest.hash, audit::chain::hex(&head.last_hash));
    assert_eq!(newest.keyed_from, 1);
    let paths = store.list_records(checkpoint::PREFIX).await.unwrap();
    assert!(
        paths.iter().all(|p| p.starts_with("audit/checkpoints/")),
        "{paths:?}"
    );
    assert_eq!(
        checkpoint::check(&app.state.db, &key, &found)
            .await
            .unwrap(),
        Finding::Agrees {
            checked: found.len(),
            newest: head.last_seq
        }
    );
    app.stop().await;
}

/// Long before its next interval, a server that stops checkpoints the head
/// it leaves behind.
async fn a_stopping_server_writes_a_last_checkpoint(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    append_numbered(&app.state.db, 2).await;
    let head = audit::verify::read_head(&app.state.db).await.unwrap();
    let key = app.state.db.audit_key().unwrap().clone();
    let store =
        FileStore::from_settings(&app.state.config.files(), &app.state.config.data_dir).unwrap();
    assert!(checkpoint::read_store(&store).await.unwrap().0.is_empty());
    // Stopped by hand, to keep its data directory (`_db`) for the check.
    let TestApp {
        shutdown,
        server,
        _db,
        ..
    } = app;
    shutdown.cancel();
    server.await.unwrap().unwrap();
    let (found, unreadable) = checkpoint::read_store(&store).await.unwrap();
    assert_eq!(unreadable, 0);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].seq, head.last_seq);
    assert!(found[0].is_genuine(&key));
}

async fn a_cut_tail_is_found_against_a_checkpoint_written_before(backend: TestBackend) {
    let (test_db, db) = migrated(backend).await;
    let store = FileStore::local(&test_db.dir.path().join("store")).unwrap();
    append_numbered(&db, 3).await;
    let early = checkpoint::take(&db, Some(&store), Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    append_numbered(&db, 3).await;
    let taken = checkpoint::take(&db, Some(&store), Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((early.seq, taken.seq), (3, 6));
    let (kept, _) = checkpoint::read_store(&store).await.unwrap();
    assert_eq!(kept.len(), 2);
    let key = db.audit_key().unwrap().clone();
    assert!(checkpoint::check(&db, &key, &kept).await.unwrap().agrees());

    cut_after(&db, 4).await;
    assert_eq!(
        intact(&audit::verify(&db).await.unwrap()),
        4,
        "what is left is a whole chain"
    );
    let finding = checkpoint::check(&db, &key, &kept).await.unwrap();
    assert_eq!(
        finding,
        Finding::Truncated {
            checkpoint: taken.clone(),
            head: 4
        }
    );
    assert!(finding.to_string().contains("cut off"), "{finding}");
    assert!(
        checkpoint::check(&db, &key, &[early])
            .await
            .unwrap()
            .agrees(),
        "the older checkpoint still agrees"
    );
    db.close().await;
}

async fn a_rewrite_or_a_moved_keying_start_is_found_against_a_checkpoint(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    append_numbered(&db, 4).await;
    let taken = checkpoint::take(&db, None, Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    let key = db.audit_key().unwrap().clone();

    let mut forged = taken.clone();
    forged.seq = 9;
    assert_eq!(
        checkpoint::check(&db, &key, &[forged]).await.unwrap(),
        Finding::NoneGenuine,
        "a checkpoint not signed with the key counts for nothing"
    );

    // Every event rewritten with plain hashes and passed off as written
    // before keying: a whole chain, but not the one checkpointed.
    rewrite_from(&db, 1, "resource_type = 'rewritten'").await;
    db.execute_unprepared("UPDATE audit_chain SET keyed_from = 5")
        .await
        .unwrap();
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 4);
    let finding = checkpoint::check(&db, &key, std::slice::from_ref(&taken))
        .await
        .unwrap();
    assert_eq!(
        finding,
        Finding::KeyedFromMoved {
            checkpoint: taken.clone(),
            head: 5
        }
    );
    db.execute_unprepared("UPDATE audit_chain SET keyed_from = 1")
        .await
        .unwrap();
    let finding = checkpoint::check(&db, &key, std::slice::from_ref(&taken))
        .await
        .unwrap();
    assert!(
        matches!(&finding, Finding::Rewritten { checkpoint, .. } if checkpoint.seq == 4),
        "{finding:?}"
    );
    assert!(finding.to_string().contains("rewritten"), "{finding}");
    db.close().await;
}
