//! Schema migrations: written once with the sea-query schema builder, run on
//! both backends, each with a working `down`.
//!
//! Each context keeps its migrations in its own folder; this module lists
//! them in the order they apply. Applying runs in one transaction holding a
//! PostgreSQL advisory lock, so that several carebase servers starting on one
//! database at once migrate it exactly once, and a failed migration leaves
//! nothing half-applied.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

use super::{Backend, Database};

/// The kernel's migrations and every context's, applied in the order of
/// their names (`m<date>_<sequence>_…`): a context's migrations interleave
/// with the others' as they were written, whatever the contexts' order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all: Vec<Box<dyn MigrationTrait>> = vec![
            Box::new(crate::crypto::migration::CreateCryptoKeys),
            Box::new(crate::crypto::migration::CreateDataKeys),
            Box::new(crate::crypto::migration::KeepPreviousWrap),
        ];
        for context in crate::contexts::all() {
            all.extend(context.migrations());
        }
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

/// One migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// An arbitrary number that names carebase's advisory lock on PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x6361_7265_6261_7365; // "carebase"

/// Takes the startup lock for the rest of `txn` (PostgreSQL); SQLite's
/// `BEGIN IMMEDIATE` already holds the only write lock there is.
pub async fn hold_startup_lock(db: &Database, txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if db.backend() == Backend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [MIGRATION_LOCK_KEY.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Applies every pending migration; returns the names applied.
pub async fn up(db: &Database) -> Result<Vec<String>, DbErr> {
    let txn = db.begin().await?;
    hold_startup_lock(db, &txn).await?;
    let pending = names(Migrator::get_pending_migrations(&txn).await?);
    Migrator::up(&*txn, None).await?;
    txn.commit().await?;
    Ok(pending)
}

/// Rolls back the newest `steps` applied migrations; returns their names.
pub async fn down(db: &Database, steps: u32) -> Result<Vec<String>, DbErr> {
    let txn = db.begin().await?;
    hold_startup_lock(db, &txn).await?;
    let mut applied = names(Migrator::get_applied_migrations(&txn).await?);
    applied.reverse();
    applied.truncate(steps as usize);
    Migrator::down(&*txn, Some(steps)).await?;
    txn.commit().await?;
    Ok(applied)
}

/// Every known migration with its state, without writing anything.
pub async fn status(db: &Database) -> Result<Vec<MigrationState>, DbErr> {
    Ok(Migrator::get_migration_with_status_read_only(db.conn())
        .await?
        .into_iter()
        .map(|m| MigrationState {
            name: m.name().to_owned(),
            applied: m.status() == sea_orm_migration::MigrationStatus::Applied,
        })
        .collect())
}

fn names(migrations: Vec<sea_orm_migration::Migration>) -> Vec<String> {
    migrations.iter().map(|m| m.name().to_owned()).collect()
}

/// Column and constraint builders that keep every migration consistent with
/// the conventions the rest of the kernel relies on.
pub mod schema {
    use sea_orm_migration::prelude::*;

    /// A column (or table) named by a string.
    pub fn col(name: &str) -> Alias {
        Alias::new(name)
    }

    /// A reference that must be there.
    pub fn uuid(name: &str) -> ColumnDef {
        ColumnDef::new(col(name)).uuid().not_null().to_owned()
    }

    /// A reference that may be absent.
    pub fn optional_uuid(name: &str) -> ColumnDef {
        ColumnDef::new(col(name)).uuid().to_owned()
    }

    /// A sealed field (see `crypto::RowSealer`); absent when not given.
    pub fn sealed(name: &str) -> ColumnDef {
        ColumnDef::new(col(name)).binary().to_owned()
    }

    /// Adds sealed columns to `table`, one statement each (SQLite adds one
    /// column at a time).
    pub async fn add_sealed_columns(
        manager: &SchemaManager<'_>,
        table: &str,
        columns: &[&str],
    ) -> Result<(), DbErr> {
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(col(table))
                        .add_column(sealed(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// Drops `columns` from `table`, one statement each.
    pub async fn drop_columns(
        manager: &SchemaManager<'_>,
        table: &str,
        columns: &[&str],
    ) -> Result<(), DbErr> {
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(col(table))
                        .drop_column(col(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// Creates a context's `tables` in order, then its plain and unique
    /// indexes (named by [`index`] and [`unique_index`]).
    pub async fn create_all(
        manager: &SchemaManager<'_>,
        tables: Vec<TableCreateStatement>,
        indexes: &[(&str, &[&str])],
        unique: &[(&str, &[&str])],
    ) -> Result<(), DbErr> {
        for table in tables {
            manager.create_table(table).await?;
        }
        for (table, columns) in indexes {
            manager.create_index(index(table, columns)).await?;
        }
        for (table, columns) in unique {
            manager.create_index(unique_index(table, columns)).await?;
        }
        Ok(())
    }

    /// Drops `tables` in order (children first).
    pub async fn drop_all(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
        for table in tables {
            manager
                .drop_table(Table::drop().table(col(table)).to_owned())
                .await?;
        }
        Ok(())
    }

    /// A UUID primary key (the value is a v7 UUID made by [`crate::db::new_id`]).
    pub fn id(column: impl IntoIden) -> ColumnDef {
        ColumnDef::new(column)
            .uuid()
            .not_null()
            .primary_key()
            .take()
    }

    /// A point in time: microseconds since the Unix epoch, UTC, as BIGINT on
    /// both backends. SQLite has no timestamp type and sqlx writes times as
    /// text of varying length there, which does not sort; integers do.
    pub fn timestamp(column: impl IntoIden) -> ColumnDef {
        ColumnDef::new(column).big_integer().not_null().take()
    }

    /// A point in time that may not have happened (yet): nullable, else as
    /// [`timestamp`].
    pub fn optional_timestamp(column: impl IntoIden) -> ColumnDef {
        ColumnDef::new(column).big_integer().null().take()
    }

    /// A column restricted to `values`, with a check named
    /// `<table>_<column>_check` so both backends report the same name.
    pub fn enumeration(table: &str, column: &str, values: &[&str]) -> ColumnDef {
        let name = format!("{table}_{column}_check");
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        ColumnDef::new(Alias::new(column))
            .string()
            .not_null()
            .check(Check::named(
                Alias::new(name),
                Expr::col(Alias::new(column)).is_in(values),
            ))
            .take()
    }

    /// As [`enumeration`], for a column that may be empty (NULL passes the
    /// check on both backends).
    pub fn optional_enumeration(table: &str, column: &str, values: &[&str]) -> ColumnDef {
        let name = format!("{table}_{column}_check");
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        ColumnDef::new(Alias::new(column))
            .string()
            .null()
            .check(Check::named(
                Alias::new(name),
                Expr::col(Alias::new(column)).is_in(values),
            ))
            .take()
    }

    /// A foreign key from `from.column` to `to.id`, named
    /// `<from>_<column>_fkey` as PostgreSQL would name it.
    pub fn foreign_key(from: &str, column: &str, to: &str) -> ForeignKeyCreateStatement {
        ForeignKey::create()
            .name(format!("{from}_{column}_fkey"))
            .from(Alias::new(from), Alias::new(column))
            .to(Alias::new(to), Alias::new("id"))
            .to_owned()
    }

    /// A plain index named `<table>_<columns>_idx`.
    pub fn index(table: &str, columns: &[&str]) -> IndexCreateStatement {
        named_index(table, columns, "idx")
    }

    /// A unique index named `<table>_<columns>_key`, PostgreSQL's own naming
    /// for unique constraints, which SQLite's messages are mapped back to.
    pub fn unique_index(table: &str, columns: &[&str]) -> IndexCreateStatement {
        let mut index = named_index(table, columns, "key");
        index.unique();
        index
    }

    fn named_index(table: &str, columns: &[&str], suffix: &str) -> IndexCreateStatement {
        let mut index = Index::create();
        index
            .name(format!("{table}_{}_{suffix}", columns.join("_")))
            .table(Alias::new(table));
        for column in columns {
            index.col(Alias::new(*column));
        }
        index.take()
    }
}
