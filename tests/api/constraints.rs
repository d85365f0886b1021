//! Both backends enforce the same constraints and report them alike, and a
//! transaction that fails leaves nothing behind.
//!
//! The tables here are made for the test with the same schema builders the
//! migrations use, so what is proven is the kernel's behaviour: connection
//! settings (SQLite's foreign keys), constraint naming and classification,
//! UUID and timestamp storage.

use carebase::db::migrate::schema;
use carebase::db::{ConstraintKind, ConstraintViolation, Database, new_id};
use carebase::time::Timestamp;
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};
use sea_orm_migration::prelude::*;

use crate::on_both_backends;
use crate::support::{TestBackend, TestDatabase};

on_both_backends!(
    constraints_are_enforced_and_named_the_same,
    uuids_and_timestamps_round_trip,
    a_failed_transaction_leaves_nothing_behind,
);

fn parents() -> Alias {
    Alias::new("probe_parents")
}

async fn setup(backend: TestBackend) -> (TestDatabase, Database) {
    let test_db = TestDatabase::create(backend).await;
    let db = Database::connect(&test_db.config()).await.unwrap();
    let conn = db.conn();
    conn.execute(
        &Table::create()
            .table(parents())
            .col(schema::id(Alias::new("id")))
            .col(ColumnDef::new(Alias::new("code")).string().not_null())
            .col(schema::enumeration("probe_parents", "kind", &["a", "b"]))
            .col(schema::timestamp(Alias::new("created_at")))
            .to_owned(),
    )
    .await
    .unwrap();
    conn.execute(&schema::unique_index("probe_parents", &["code"]))
        .await
        .unwrap();
    conn.execute(
        &Table::create()
            .table(Alias::new("probe_children"))
            .col(schema::id(Alias::new("id")))
            .col(ColumnDef::new(Alias::new("parent_id")).uuid().not_null())
            .foreign_key(
                ForeignKey::create()
                    .name("probe_children_parent_id_fkey")
                    .from(Alias::new("probe_children"), Alias::new("parent_id"))
                    .to(parents(), Alias::new("id")),
            )
            .to_owned(),
    )
    .await
    .unwrap();
    (test_db, db)
}

async fn insert_parent(
    conn: &impl ConnectionTrait,
    id: uuid::Uuid,
    code: Option<&str>,
    kind: &str,
) -> Result<(), DbErr> {
    conn.execute(
        Query::insert()
            .into_table(parents())
            .columns([
                Alias::new("id"),
                Alias::new("code"),
                Alias::new("kind"),
                Alias::new("created_at"),
            ])
            .values_panic([
                id.into(),
                code.map(str::to_owned).into(),
                kind.into(),
                Timestamp::now().as_micros().into(),
            ]),
    )
    .await
    .map(|_| ())
}

fn violation(result: Result<(), DbErr>) -> ConstraintViolation {
    let err = result.expect_err("the write is refused");
    ConstraintViolation::from_db_err(&err).unwrap_or_else(|| panic!("not a violation: {err}"))
}

async fn constraints_are_enforced_and_named_the_same(backend: TestBackend) {
    let (_test_db, db) = setup(backend).await;
    let conn = db.conn();
    insert_parent(conn, new_id(), Some("one"), "a")
        .await
        .unwrap();

    let v = violation(insert_parent(conn, new_id(), Some("one"), "b").await);
    assert_eq!(v.kind, ConstraintKind::Unique);
    assert!(v.is("probe_parents_code_key"), "{v:?}");

    let v = violation(insert_parent(conn, new_id(), Some("two"), "c").await);
    assert_eq!(v.kind, ConstraintKind::Check);
    assert!(v.is("probe_parents_kind_check"), "{v:?}");

    let v = violation(insert_parent(conn, new_id(), None, "a").await);
    assert_eq!(v.kind, ConstraintKind::NotNull);
    assert!(v.is("probe_parents_code_not_null"), "{v:?}");

    let orphan = conn
        .execute(
            Query::insert()
                .into_table(Alias::new("probe_children"))
                .columns([Alias::new("id"), Alias::new("parent_id")])
                .values_panic([new_id().into(), new_id().into()]),
        )
        .await
        .map(|_| ());
    assert_eq!(violation(orphan).kind, ConstraintKind::ForeignKey);
    db.close().await;
}

async fn uuids_and_timestamps_round_trip(backend: TestBackend) {
    let (_test_db, db) = setup(backend).await;
    let conn = db.conn();
    let ids: Vec<uuid::Uuid> = (0..3).map(|_| new_id()).collect();
    for (i, id) in ids.iter().enumerate() {
        insert_parent(conn, *id, Some(&format!("c{i}")), "a")
            .await
            .unwrap();
    }
    let rows = conn
        .query_all(
            Query::select()
                .columns([Alias::new("id"), Alias::new("created_at")])
                .from(parents())
                .order_by(Alias::new("id"), Order::Asc),
        )
        .await
        .unwrap();
    let read: Vec<uuid::Uuid> = rows.iter().map(|r| r.try_get("", "id").unwrap()).collect();
    assert_eq!(read, ids, "v7 ids come back intact and in creation order");
    let created: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get("", "created_at").unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]));
    assert!(ids.iter().all(|id| id.get_version_num() == 7));
    db.close().await;
}

async fn a_failed_transaction_leaves_nothing_behind(backend: TestBackend) {
    let (_test_db, db) = setup(backend).await;
    let txn = db.begin().await.unwrap();
    insert_parent(&txn, new_id(), Some("kept?"), "a")
        .await
        .unwrap();
    let refused = insert_parent(&txn, new_id(), Some("bad"), "zzz").await;
    assert!(refused.is_err());
    txn.rollback().await.unwrap();
    let count = db
        .conn()
        .query_one(
            Query::select()
                .expr(Expr::col(Asterisk).count())
                .from(parents()),
        )
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(count, 0);

    // The closure form commits on Ok and rolls back on Err.
    let result: Result<(), sea_orm::TransactionError<DbErr>> = db
        .conn()
        .transaction(|txn| {
            Box::pin(async move {
                insert_parent(txn, new_id(), Some("x"), "a").await?;
                insert_parent(txn, new_id(), Some("x"), "a").await
            })
        })
        .await;
    assert!(result.is_err());
    let rows = db
        .conn()
        .query_all(Query::select().column(Alias::new("id")).from(parents()))
        .await
        .unwrap();
    assert!(rows.is_empty());
    db.close().await;
}

/// SQLite runs in WAL mode with foreign keys on every pooled connection.
#[tokio::test]
async fn sqlite_connections_use_wal_and_foreign_keys() {
    let test_db = TestDatabase::create(TestBackend::Sqlite).await;
    let db = Database::connect(&test_db.config()).await.unwrap();
    let pool = db.conn().get_sqlite_connection_pool();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = pool.acquire().await.unwrap();
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let (busy,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!((fk, mode.as_str(), busy), (1, "wal", 5000));
        held.push(conn);
    }
    drop(held);
    db.close().await;
}
