//! The audit tables, the guard that makes `audit_events` append-only, and
//! the seeds' audit views over it.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

use crate::audit::chain::GENESIS_HASH;
use crate::db::migrate::schema;

pub struct CreateAuditLog;

impl MigrationName for CreateAuditLog {
    fn name(&self) -> &str {
        "m20261126_000020_audit"
    }
}

const EVENTS: &str = "audit_events";
const CHAIN: &str = "audit_chain";

/// The guard's message, the same on both backends.
pub const APPEND_ONLY: &str = "audit events are append-only";

#[async_trait::async_trait]
impl MigrationTrait for CreateAuditLog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(events_table()).await?;
        manager
            .create_index(schema::unique_index(EVENTS, &["seq"]))
            .await?;
        for columns in SEARCH_INDEXES {
            manager.create_index(index(columns)).await?;
        }
        manager.create_table(chain_table()).await?;
        manager.exec_stmt(chain_genesis()).await?;
        for sql in guard_up(manager.get_database_backend()) {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        for sql in VIEWS_UP {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in VIEWS_DOWN {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        for sql in guard_down(manager.get_database_backend()) {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        manager
            .drop_table(Table::drop().table(Alias::new(CHAIN)).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new(EVENTS)).to_owned())
            .await
    }
}

/// The values `actor_type` and `action` may take, as of this migration.
const ACTOR_TYPES: [&str; 3] = ["account", "api_key", "system"];
const ACTIONS: [&str; 12] = [
    "create",
    "read",
    "update",
    "delete",
    "login",
    "logout",
    "login_failed",
    "document_access",
    "patient_access",
    "export",
    "emergency_access",
    "permission_denied",
];

fn nullable_uuid(column: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(column)).uuid().null().take()
}

fn nullable_text(column: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(column)).string().null().take()
}

fn hash_column(column: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(column))
        .binary_len(32)
        .not_null()
        .take()
}

fn events_table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new(EVENTS))
        .col(schema::id(Alias::new("id")))
        .col(ColumnDef::new(Alias::new("seq")).big_integer().not_null())
        .col(schema::timestamp(Alias::new("occurred_at")))
        .col(schema::enumeration(EVENTS, "actor_type", &ACTOR_TYPES))
        .col(nullable_uuid("actor_id"))
        .col(nullable_text("actor_job"))
        .col(nullable_uuid("session_id"))
        .col(schema::enumeration(EVENTS, "action", &ACTIONS))
        .col(
            ColumnDef::new(Alias::new("resource_type"))
                .string()
                .not_null(),
        )
        .col(nullable_uuid("resource_id"))
        .col(nullable_uuid("facility_id"))
        .col(nullable_uuid("patient_id"))
        .col(ColumnDef::new(Alias::new("changes")).text().null())
        .col(nullable_text("client_addr"))
        .col(nullable_text("user_agent"))
        .col(nullable_text("request_id"))
        .col(
            ColumnDef::new(Alias::new("compliance_flags"))
                .text()
                .not_null(),
        )
        .col(hash_column("prev_hash"))
        .col(hash_column("hash"))
        .to_owned()
}

/// The searches of the admin API, each ending in `seq` so that a page of
/// one patient's (actor's, facility's, resource's) events is an index range.
const SEARCH_INDEXES: [&[&str]; 5] = [
    &["patient_id", "seq"],
    &["actor_id", "seq"],
    &["facility_id", "seq"],
    &["resource_type", "resource_id", "seq"],
    &["occurred_at"],
];

/// A plain index named `<table>_<columns>_idx`, as PostgreSQL would name it.
fn index(columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("{EVENTS}_{}_idx", columns.join("_")))
        .table(Alias::new(EVENTS));
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.take()
}

fn chain_table() -> TableCreateStatement {
    let id = Alias::new("id");
    Table::create()
        .table(Alias::new(CHAIN))
        .col(
            ColumnDef::new(id.clone())
                .integer()
                .not_null()
                .primary_key()
                .check(Check::named(
                    Alias::new("audit_chain_id_check"),
                    Expr::col(id).eq(1),
                )),
        )
        .col(
            ColumnDef::new(Alias::new("last_seq"))
                .big_integer()
                .not_null(),
        )
        .col(hash_column("last_hash"))
        .to_owned()
}

/// The head of an empty chain: no event yet, and the hash every first
/// event links to.
fn chain_genesis() -> InsertStatement {
    Query::insert()
        .into_table(Alias::new(CHAIN))
        .columns([
            Alias::new("id"),
            Alias::new("last_seq"),
            Alias::new("last_hash"),
        ])
        .values_panic([1.into(), 0i64.into(), GENESIS_HASH.to_vec().into()])
        .to_owned()
}

// The guard is the one piece of schema written per backend. Neither the
// schema builder nor standard SQL can express a trigger that both backends
// accept: PostgreSQL runs trigger bodies as functions (plpgsql) and alone
// has TRUNCATE triggers, SQLite has inline bodies and RAISE(ABORT). The
// triggers carry the same names on both, so tests and operators can refer
// to them alike.

const PG_GUARD_UP: [&str; 3] = [
    "CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events \
     FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events \
     FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()",
];

const PG_GUARD_DOWN: [&str; 3] = [
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events",
    "DROP FUNCTION IF EXISTS audit_events_refuse_change()",
];

const SQLITE_GUARD_UP: [&str; 2] = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
];

const SQLITE_GUARD_DOWN: [&str; 2] = [
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS audit_events_no_update",
];

fn guard_up(backend: DbBackend) -> &'static [&'static str] {
    match backend {
        DbBackend::Postgres => &PG_GUARD_UP,
        _ => &SQLITE_GUARD_UP,
    }
}

fn guard_down(backend: DbBackend) -> &'static [&'static str] {
    match backend {
        DbBackend::Postgres => &PG_GUARD_DOWN,
        _ => &SQLITE_GUARD_DOWN,
    }
}

// The seeds' audit tables, kept as read-only views of the one log so that
// their queries keep working. Plain standard SQL, the same text on both
// backends.
const VIEWS_UP: [&str; 2] = [
    // Seed 000: communications, with its `contains_phi` flag.
    "CREATE VIEW communication_audit AS \
     SELECT id, seq, occurred_at, actor_type, actor_id, session_id, action, \
            resource_id AS communication_id, facility_id, patient_id, changes, \
            client_addr, user_agent, request_id, compliance_flags, \
            compliance_flags LIKE '%\"phi\"%' AS contains_phi \
     FROM audit_events WHERE resource_type = 'communication'",
    // Seed 001: what each signed-in user did to which entity.
    "CREATE VIEW activity_logs AS \
     SELECT id, resource_type AS entity_type, resource_id AS entity_id, action, \
            changes AS details, actor_id AS user_id, occurred_at AS created_at \
     FROM audit_events WHERE actor_type = 'account'",
];

const VIEWS_DOWN: [&str; 2] = [
    "DROP VIEW IF EXISTS activity_logs",
    "DROP VIEW IF EXISTS communication_audit",
];

/// Adds the lead an event concerns, so a CRM lead's timeline (its own
/// events and those of its tasks, interests and communications) is one
/// index range, as a patient's is by `patient_id`.
pub struct AddLeadToAuditEvents;

impl MigrationName for AddLeadToAuditEvents {
    fn name(&self) -> &str {
        "m20261126_000070_audit_lead"
    }
}

// Seed 000's view, now also naming the lead a communication was with.
const COMMUNICATION_VIEW_WITH_LEAD: &str = "CREATE VIEW communication_audit AS \
     SELECT id, seq, occurred_at, actor_type, actor_id, session_id, action, \
            resource_id AS communication_id, facility_id, patient_id, lead_id, changes, \
            client_addr, user_agent, request_id, compliance_flags, \
            compliance_flags LIKE '%\"phi\"%' AS contains_phi \
     FROM audit_events WHERE resource_type = 'communication'";

#[async_trait::async_trait]
impl MigrationTrait for AddLeadToAuditEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP VIEW IF EXISTS communication_audit")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new(EVENTS))
                    .add_column(ColumnDef::new(Alias::new("lead_id")).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager.create_index(index(&["lead_id", "seq"])).await?;
        db.execute_unprepared(COMMUNICATION_VIEW_WITH_LEAD).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP VIEW IF EXISTS communication_audit")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(format!("{EVENTS}_lead_id_seq_idx"))
                    .table(Alias::new(EVENTS))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new(EVENTS))
                    .drop_column(Alias::new("lead_id"))
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(VIEWS_UP[0]).await?;
        Ok(())
    }
}

/// Keys the chain from the next event on: the events already written keep
/// their plain SHA-256 hashes (and still verify), every later one is an
/// HMAC under the audit chain key. A fresh database is keyed from seq 1.
pub struct KeyTheChain;

impl MigrationName for KeyTheChain {
    fn name(&self) -> &str {
        "m20261207_000310_audit_keyed_chain"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for KeyTheChain {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new(CHAIN))
                    .add_column(
                        ColumnDef::new(Alias::new("keyed_from"))
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE audit_chain SET keyed_from = last_seq + 1")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new(CHAIN))
                    .drop_column(Alias::new("keyed_from"))
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::{ActorType, AuditAction};
    use sea_orm::Iterable;

    #[test]
    fn the_checks_allow_exactly_the_values_of_the_types() {
        let actions: Vec<&str> = AuditAction::iter().map(AuditAction::as_str).collect();
        assert_eq!(actions, ACTIONS);
        let actors: Vec<&str> = ActorType::iter().map(ActorType::as_str).collect();
        assert_eq!(actors, ACTOR_TYPES);
    }

    #[test]
    fn the_guard_message_is_the_same_on_both_backends() {
        assert!(PG_GUARD_UP[0].contains(APPEND_ONLY));
        assert!(SQLITE_GUARD_UP.iter().all(|sql| sql.contains(APPEND_ONLY)));
    }
}
