//! Every migration goes up and comes down, on both backends.

use carebase::db::migrate;
use sea_orm_migration::SchemaManager;

use crate::helpers::{TestBackend, TestDatabase};
use crate::on_both_backends;

on_both_backends!(
    up_all_down_all_up_again,
    two_servers_starting_together_migrate_once,
);

async fn tables(db: &carebase::db::Database) -> Vec<(&'static str, bool)> {
    let manager = SchemaManager::new(db.conn());
    let mut found = Vec::new();
    for table in [
        "crypto_keys",
        "data_keys",
        "audit_events",
        "audit_chain",
        "outbox",
        "accounts",
        "account_tokens",
        "sessions",
        "refresh_tokens",
        "sign_in_throttle",
        "facilities",
        "memberships",
        "api_keys",
    ] {
        found.push((table, manager.has_table(table).await.unwrap()));
    }
    found
}

async fn up_all_down_all_up_again(backend: TestBackend) {
    let test_db = TestDatabase::create(backend).await;
    let db = carebase::db::Database::connect(&test_db.config())
        .await
        .unwrap();
    let known = migrate::status(&db).await.unwrap();
    assert!(!known.is_empty());
    assert!(known.iter().all(|m| !m.applied));

    let applied = migrate::up(&db).await.unwrap();
    assert_eq!(applied.len(), known.len());
    assert!(
        migrate::status(&db)
            .await
            .unwrap()
            .iter()
            .all(|m| m.applied)
    );
    assert!(tables(&db).await.iter().all(|(_, exists)| *exists));
    assert!(
        migrate::up(&db).await.unwrap().is_empty(),
        "up is idempotent"
    );

    let reverted = migrate::down(&db, u32::MAX).await.unwrap();
    assert_eq!(reverted.len(), known.len());
    assert_eq!(reverted.first(), applied.last(), "newest first");
    assert!(
        migrate::status(&db)
            .await
            .unwrap()
            .iter()
            .all(|m| !m.applied)
    );
    assert!(tables(&db).await.iter().all(|(_, exists)| !*exists));

    assert_eq!(migrate::up(&db).await.unwrap().len(), known.len());
    assert!(tables(&db).await.iter().all(|(_, exists)| *exists));
    db.close().await;
}

async fn two_servers_starting_together_migrate_once(backend: TestBackend) {
    let test_db = TestDatabase::create(backend).await;
    let config = test_db.config();
    let (a, b) = tokio::join!(
        carebase::AppState::open(config.clone()),
        carebase::AppState::open(config.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.keyring.master_key().id(), b.keyring.master_key().id());
    let status = migrate::status(&a.db).await.unwrap();
    assert!(status.iter().all(|m| m.applied));
    a.db.close().await;
    b.db.close().await;
}
