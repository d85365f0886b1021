//! Constraint violations, told apart the same way on both backends.
//!
//! The database is the last line that keeps two bookings, two emails or an
//! unknown status out. When it refuses a write, the caller needs to know
//! which rule was broken to answer with a precise 409 or 422 instead of a
//! 500. PostgreSQL names the constraint; SQLite only describes it, so this
//! module rebuilds PostgreSQL's default names from SQLite's message. That
//! works because migrations name constraints by the same convention (see
//! [`crate::db::migrate::schema`]): unique indexes `<table>_<columns>_key`,
//! checks `<table>_<column>_check`.

use sea_orm::{DbErr, RuntimeErr};
use sqlx::error::ErrorKind;

/// The kind of rule a write broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    ForeignKey,
    Check,
    NotNull,
}

/// A write refused by a constraint. `name` is the constraint's name when the
/// backend tells it: always on PostgreSQL; on SQLite for unique, check and
/// not-null violations, but not for foreign keys, which SQLite reports
/// without saying which one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstraintViolation {
    pub kind: ConstraintKind,
    pub name: Option<String>,
}

impl ConstraintViolation {
    /// Classifies a database error; `None` when it is not a constraint violation.
    pub fn from_db_err(err: &DbErr) -> Option<Self> {
        let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
        else {
            return None;
        };
        let sqlx::Error::Database(db) = e.as_ref() else {
            return None;
        };
        let kind = match db.kind() {
            ErrorKind::UniqueViolation => ConstraintKind::Unique,
            ErrorKind::ForeignKeyViolation => ConstraintKind::ForeignKey,
            ErrorKind::NotNullViolation => ConstraintKind::NotNull,
            ErrorKind::CheckViolation => ConstraintKind::Check,
            _ => return None,
        };
        let name = if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            match (kind, pg.table(), pg.column()) {
                (ConstraintKind::NotNull, Some(table), Some(column)) => {
                    Some(format!("{table}_{column}_not_null"))
                }
                _ => pg.constraint().map(str::to_owned),
            }
        } else {
            sqlite_constraint_name(kind, db.message())
        };
        Some(Self { kind, name })
    }

    /// True when this is the named constraint.
    pub fn is(&self, name: &str) -> bool {
        self.name.as_deref() == Some(name)
    }
}

/// Rebuilds PostgreSQL's constraint name from SQLite's message, e.g.
/// `UNIQUE constraint failed: leads.facility_id, leads.email_index` becomes
/// `leads_facility_id_email_index_key`.
fn sqlite_constraint_name(kind: ConstraintKind, message: &str) -> Option<String> {
    let (_, subject) = message.split_once("constraint failed: ")?;
    match kind {
        ConstraintKind::Unique => {
            let mut table = None;
            let mut columns = Vec::new();
            for qualified in subject.split(", ") {
                let (t, c) = qualified.split_once('.')?;
                table.get_or_insert(t);
                columns.push(c);
            }
            Some(format!("{}_{}_key", table?, columns.join("_")))
        }
        ConstraintKind::NotNull => {
            let (table, column) = subject.split_once('.')?;
            Some(format!("{table}_{column}_not_null"))
        }
        ConstraintKind::Check => Some(subject.to_owned()),
        ConstraintKind::ForeignKey => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_messages_become_postgres_style_names() {
        assert_eq!(
            sqlite_constraint_name(
                ConstraintKind::Unique,
                "UNIQUE constraint failed: leads.facility_id, leads.email_index"
            )
            .as_deref(),
            Some("leads_facility_id_email_index_key")
        );
        assert_eq!(
            sqlite_constraint_name(
                ConstraintKind::NotNull,
                "NOT NULL constraint failed: leads.email"
            )
            .as_deref(),
            Some("leads_email_not_null")
        );
        assert_eq!(
            sqlite_constraint_name(
                ConstraintKind::Check,
                "CHECK constraint failed: leads_status_check"
            )
            .as_deref(),
            Some("leads_status_check")
        );
        assert_eq!(
            sqlite_constraint_name(ConstraintKind::ForeignKey, "FOREIGN KEY constraint failed"),
            None
        );
    }
}
