//! Concurrent writers and the group-commit writer keep the chain whole.

use carebase::audit::{self, AuditError, AuditWriter};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::audit_chain::{count_events, intact, migrated, patient_read, seqs};
use crate::support::{TestBackend, TestDatabase};

on_both_backends!(
    concurrent_write_transactions_keep_the_chain_whole,
    the_writer_group_commits_concurrent_reads,
    the_writer_drains_on_stop_and_refuses_afterwards,
);

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
