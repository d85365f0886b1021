//! The keyed chain: an administrator who can write the database but has
//! no master key cannot edit an event and recompute the chain after it,
//! nor pass keyed events off as older unkeyed ones; the key survives a
//! master key rotation; and events written before keying still verify.

use carebase::audit::{self, BreakReason, ChainBreak};
use carebase::crypto::MasterKey;

use crate::on_both_backends;
use crate::support::audit_chain::{
    append_numbered, behind_the_servers_back, broken, checking, intact, migrated, rewrite_from,
};
use crate::support::{TestBackend, TestDatabase};

on_both_backends!(
    an_edit_with_every_later_hash_recomputed_is_found,
    events_written_before_keying_still_verify_and_cannot_be_extended_unkeyed,
    a_deleted_chain_key_is_reported_not_replaced,
    the_chain_verifies_across_a_master_key_rotation,
);

/// The attack the plain SHA-256 chain could not see: change one event,
/// recompute its hash and every later one, move the head.
async fn an_edit_with_every_later_hash_recomputed_is_found(backend: TestBackend) {
    let (_test_db, db) = migrated(backend).await;
    let ids = append_numbered(&db, 5).await;
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 5);

    rewrite_from(&db, 3, "resource_type = 'nothing-to-see'").await;
    let found = broken(audit::verify(&db).await.unwrap());
    assert_eq!(
        found,
        ChainBreak {
            seq: 3,
            id: Some(ids[2]),
            reason: BreakReason::HashMismatch,
        }
    );
    assert!(
        found.to_string().contains("changed after it was written"),
        "{found}"
    );
    db.close().await;
}

/// A database upgraded with events in it keeps their plain hashes; keying
/// starts after them. Moving `keyed_from` forward to pass the keyed events
/// off as plain ones, or past the head, is found.
async fn events_written_before_keying_still_verify_and_cannot_be_extended_unkeyed(
    backend: TestBackend,
) {
    let (_test_db, db) = migrated(backend).await;
    // Three events as a release before keying wrote them: plain SHA-256.
    append_numbered(&db, 3).await;
    rewrite_from(&db, 1, "resource_type = resource_type").await;
    db.execute_unprepared("UPDATE audit_chain SET keyed_from = 4")
        .await
        .unwrap();
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 3);

    append_numbered(&db, 2).await;
    let report = audit::verify(&db).await.unwrap();
    assert_eq!(intact(&report), 5);
    let audit::VerifyReport::Intact { keyed_from, .. } = report else {
        unreachable!()
    };
    assert_eq!(keyed_from, 4);

    db.execute_unprepared("UPDATE audit_chain SET keyed_from = 5")
        .await
        .unwrap();
    assert_eq!(
        broken(audit::verify(&db).await.unwrap()).reason,
        BreakReason::HashMismatch,
        "a keyed event taken for an unkeyed one does not match"
    );
    db.execute_unprepared("UPDATE audit_chain SET keyed_from = 9")
        .await
        .unwrap();
    let found = broken(audit::verify(&db).await.unwrap());
    assert_eq!(found.reason, BreakReason::KeyedFromPastHead { head: 5 });
    assert!(found.to_string().contains("head was edited"), "{found}");

    // The server keys what it appends whatever the head says.
    append_numbered(&db, 1).await;
    db.execute_unprepared("UPDATE audit_chain SET keyed_from = 4")
        .await
        .unwrap();
    assert_eq!(intact(&audit::verify(&db).await.unwrap()), 6);
    db.close().await;
}

async fn a_deleted_chain_key_is_reported_not_replaced(backend: TestBackend) {
    let (test_db, db) = migrated(backend).await;
    let ids = append_numbered(&db, 2).await;
    let check = checking(&test_db).await;
    assert_eq!(intact(&audit::verify(&check).await.unwrap()), 2);
    check.close().await;

    behind_the_servers_back(&db, "DELETE FROM data_keys WHERE scope = 'audit-chain'").await;
    let check = checking(&test_db).await;
    assert!(check.audit_key().is_none(), "a check makes no key");
    let found = broken(audit::verify(&check).await.unwrap());
    assert_eq!(
        found,
        ChainBreak {
            seq: 1,
            id: Some(ids[0]),
            reason: BreakReason::KeyMissing,
        }
    );
    assert!(found.to_string().contains("audit-chain"), "{found}");
    check.close().await;
    db.close().await;
}

/// `keys rotate` rewraps the chain key with the other data keys: events
/// keyed before the rotation verify after it, and the chain goes on.
async fn the_chain_verifies_across_a_master_key_rotation(backend: TestBackend) {
    let test_db = TestDatabase::create(backend).await;
    let config = test_db.config();
    let running = carebase::AppState::open(config.clone()).await.unwrap();
    append_numbered(&running.db, 3).await;
    let old = MasterKey::read(&config.master_key_path(), false)
        .unwrap()
        .unwrap();
    let new_path = test_db.dir.path().join("next.key");
    let next = MasterKey::create(&new_path).unwrap();
    carebase::crypto::data_keys::rotate(&running.db, &old, &next)
        .await
        .unwrap();
    running.audit.stop().await;
    running.db.close().await;

    let mut rotated = config.clone();
    rotated.master_key_file = Some(new_path);
    let restarted = carebase::AppState::open(rotated).await.unwrap();
    assert_eq!(intact(&audit::verify(&restarted.db).await.unwrap()), 3);
    append_numbered(&restarted.db, 2).await;
    assert_eq!(intact(&audit::verify(&restarted.db).await.unwrap()), 5);
    restarted.audit.stop().await;
    restarted.db.close().await;
}
