//! Every migration goes up and comes down, on both backends.

use carebase::db::migrate;
use sea_orm_migration::SchemaManager;

use crate::on_both_backends;
use crate::support::{TestBackend, TestDatabase};

on_both_backends!(
    up_all_down_all_up_again,
    two_servers_starting_together_migrate_once,
    contexts_apply_the_migrations_databases_already_have,
);

/// The migrations every database made before the context contract has, in
/// the order they were applied then. Contexts now contribute their own
/// migrations; the kernel must still apply exactly these, in this order, so
/// an existing database upgrades with nothing to redo.
const BEFORE_THE_CONTEXT_CONTRACT: &[&str] = &[
    "m20261126_000001_crypto_keys",
    "m20261126_000010_data_keys",
    "m20261126_000020_audit",
    "m20261126_000025_outbox",
    "m20261126_000030_accounts",
    "m20261126_000040_facilities",
    "m20261126_000045_api_keys",
    "m20261126_000050_patients",
    "m20261126_000055_emergency_access",
    "m20261126_000070_audit_lead",
    "m20261126_000080_crm_leads",
    "m20261126_000085_care_journeys",
    "m20261126_000090_crm_tasks",
    "m20261126_000100_crm_engagement",
    "m20261126_000110_crm_stats",
    "m20261126_000120_scheduling",
    "m20261126_000130_care_team_links",
    "m20261126_000140_messaging",
];

async fn contexts_apply_the_migrations_databases_already_have(backend: TestBackend) {
    let test_db = TestDatabase::create(backend).await;
    let db = carebase::db::Database::connect(&test_db.config())
        .await
        .unwrap();
    let applied = migrate::up(&db).await.unwrap();
    assert_eq!(
        &applied[..BEFORE_THE_CONTEXT_CONTRACT.len()],
        BEFORE_THE_CONTEXT_CONTRACT,
        "the first migrations are the ones existing databases have, in their order"
    );
    let recorded: Vec<String> = sqlx_versions(&test_db.url).await;
    assert_eq!(recorded, applied, "recorded in the order they were applied");
}

/// The versions in sea-orm's migration table, in the order applied.
async fn sqlx_versions(url: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    db.query_all_raw(Statement::from_string(
        backend,
        "SELECT version FROM seaql_migrations ORDER BY applied_at, version",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "version").unwrap())
    .collect()
}

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
