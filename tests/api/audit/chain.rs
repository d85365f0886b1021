//! The chain: events join it with the transaction that makes them, the
//! database refuses to change them, and `verify` names the event that was
//! changed or removed behind the server's back.

use carebase::audit::store::events;
use carebase::audit::{self, AuditAction, AuditFilter, BreakReason, ChainBreak};
use carebase::db::Backend;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::TestBackend;
use crate::support::audit_chain::{
    append_numbered, assert_refused, behind_the_servers_back, broken, bytes_literal, count_events,
    intact, migrated, patient_read, seqs,
};

on_both_backends!(
    events_commit_and_roll_back_with_their_transaction,
    the_database_refuses_to_change_or_remove_events,
    verify_names_a_changed_event,
    verify_names_an_event_rehashed_without_the_key,
    verify_reports_a_deleted_event_as_a_gap,
    verify_reports_a_head_moved_back,
    verify_walks_across_pages,
);

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

/// An administrator who also recomputes the changed event's hash cannot
/// make it match: the hash is keyed, and the key is not in the database.
async fn verify_names_an_event_rehashed_without_the_key(backend: TestBackend) {
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
    behind_the_servers_back(
        &db,
        &format!(
            "UPDATE audit_events SET action = 'read', hash = {} WHERE seq = 2",
            bytes_literal(&db, &hash)
        ),
    )
    .await;
    assert_eq!(
        broken(audit::verify(&db).await.unwrap()),
        ChainBreak {
            seq: 2,
            id: Some(ids[1]),
            reason: BreakReason::HashMismatch,
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
