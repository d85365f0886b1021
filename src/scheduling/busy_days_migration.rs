//! `appointment_busy_days` (see [`super::free_busy`]) and the triggers that
//! keep it equal to the appointments.
//!
//! Triggers, not application code: they run in the transaction of every
//! write to `appointments`, from any path and any server, so the table is
//! never stale and no code that books, cancels or moves has to remember
//! it. Each trigger rewrites the whole provider-day an appointment leaves
//! and the one it enters, from the appointments themselves (a day holds a
//! few dozen), instead of patching the text.
//!
//! On PostgreSQL two transactions may rewrite one provider-day at once (a
//! cancellation and a status change need not hold the provider's booking
//! lock); each takes a transaction-level advisory lock on the provider-day
//! first, and the rewrite that follows reads the appointments with a fresh
//! snapshot (a plpgsql statement in READ COMMITTED takes one), so the last
//! writer sees the first one's commit. SQLite has one writer at a time.
//!
//! Like the audit log's guard, this is schema written per backend:
//! PostgreSQL runs trigger bodies as functions, SQLite inline.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

use crate::db::migrate::schema::{self, col, uuid};

pub struct AddBusyDays;

impl MigrationName for AddBusyDays {
    fn name(&self) -> &str {
        "m20261208_000460_scheduling_busy_days"
    }
}

/// A day in microseconds, as the SQL below divides by it.
const DAY: &str = "86400000000";

/// The text of provider `p`'s appointments whose `busy_from` falls on day
/// `d` (both SQL expressions): `busy_from,busy_until,status` joined by `;`,
/// empty when there are none. The range keeps it on the
/// `(provider_id, busy_from)` index; the division is the day's definition.
fn day_text(backend: DbBackend, p: &str, d: &str) -> String {
    let aggregate = match backend {
        DbBackend::Postgres => "string_agg",
        _ => "group_concat",
    };
    format!(
        "COALESCE((SELECT {aggregate}(busy_from || ',' || busy_until || ',' || status, ';') \
         FROM appointments WHERE provider_id = {p} \
         AND busy_from > ({d} - 1) * {DAY} AND busy_from < ({d} + 1) * {DAY} \
         AND busy_from / {DAY} = {d}), '')"
    )
}

fn sqlite_refresh(row: &str) -> String {
    let p = format!("{row}.provider_id");
    let d = format!("({row}.busy_from / {DAY})");
    format!(
        "INSERT OR REPLACE INTO appointment_busy_days (provider_id, day, spans) \
         VALUES ({p}, {d}, {});",
        day_text(DbBackend::Sqlite, &p, &d)
    )
}

fn sqlite_up() -> Vec<String> {
    let (old, new) = (sqlite_refresh("OLD"), sqlite_refresh("NEW"));
    vec![
        format!(
            "CREATE TRIGGER appointment_busy_days_insert AFTER INSERT ON appointments \
             BEGIN {new} END"
        ),
        format!(
            "CREATE TRIGGER appointment_busy_days_update \
             AFTER UPDATE OF provider_id, busy_from, busy_until, status ON appointments \
             BEGIN {old} {new} END"
        ),
        format!(
            "CREATE TRIGGER appointment_busy_days_delete AFTER DELETE ON appointments \
             BEGIN {old} END"
        ),
    ]
}

const SQLITE_DOWN: [&str; 3] = [
    "DROP TRIGGER IF EXISTS appointment_busy_days_delete",
    "DROP TRIGGER IF EXISTS appointment_busy_days_update",
    "DROP TRIGGER IF EXISTS appointment_busy_days_insert",
];

/// An arbitrary number naming the provider-day locks among carebase's
/// advisory locks (the two-key form, apart from the migrations' one key).
const LOCK_CLASS: i32 = 460;

fn postgres_up() -> Vec<String> {
    let text = day_text(DbBackend::Postgres, "p", "d");
    vec![
        format!(
            "CREATE FUNCTION appointment_busy_days_refresh(p uuid, starts bigint) \
             RETURNS void LANGUAGE plpgsql AS $$ \
             DECLARE d bigint := starts / {DAY}; \
             BEGIN \
             PERFORM pg_advisory_xact_lock({LOCK_CLASS}, hashtext(p::text || '/' || d::text)); \
             INSERT INTO appointment_busy_days (provider_id, day, spans) VALUES (p, d, {text}) \
             ON CONFLICT (provider_id, day) DO UPDATE SET spans = EXCLUDED.spans; \
             END $$"
        ),
        format!(
            "CREATE FUNCTION appointment_busy_days_sync() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
             IF TG_OP <> 'INSERT' THEN \
             PERFORM appointment_busy_days_refresh(OLD.provider_id, OLD.busy_from); END IF; \
             IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.provider_id <> NEW.provider_id \
             OR OLD.busy_from / {DAY} <> NEW.busy_from / {DAY})) THEN \
             PERFORM appointment_busy_days_refresh(NEW.provider_id, NEW.busy_from); END IF; \
             RETURN NULL; \
             END $$"
        ),
        "CREATE TRIGGER appointment_busy_days_sync \
         AFTER INSERT OR DELETE OR UPDATE OF provider_id, busy_from, busy_until, status \
         ON appointments FOR EACH ROW EXECUTE FUNCTION appointment_busy_days_sync()"
            .to_owned(),
    ]
}

const POSTGRES_DOWN: [&str; 3] = [
    "DROP TRIGGER IF EXISTS appointment_busy_days_sync ON appointments",
    "DROP FUNCTION IF EXISTS appointment_busy_days_sync()",
    "DROP FUNCTION IF EXISTS appointment_busy_days_refresh(uuid, bigint)",
];

/// Fills the table from the appointments already there.
fn backfill(backend: DbBackend) -> String {
    let aggregate = match backend {
        DbBackend::Postgres => "string_agg",
        _ => "group_concat",
    };
    format!(
        "INSERT INTO appointment_busy_days (provider_id, day, spans) \
         SELECT provider_id, busy_from / {DAY}, \
         {aggregate}(busy_from || ',' || busy_until || ',' || status, ';') \
         FROM appointments GROUP BY provider_id, busy_from / {DAY}"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for AddBusyDays {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(col("appointment_busy_days"))
                    .col(uuid("provider_id"))
                    .col(ColumnDef::new(col("day")).big_integer().not_null())
                    .col(ColumnDef::new(col("spans")).text().not_null())
                    .primary_key(Index::create().col(col("provider_id")).col(col("day")))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        db.execute_unprepared(&backfill(backend)).await?;
        let triggers = match backend {
            DbBackend::Postgres => postgres_up(),
            _ => sqlite_up(),
        };
        for sql in triggers {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let drops: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &POSTGRES_DOWN,
            _ => &SQLITE_DOWN,
        };
        for sql in drops {
            db.execute_unprepared(sql).await?;
        }
        schema::drop_all(manager, &["appointment_busy_days"]).await
    }
}
