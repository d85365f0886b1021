//! Changing the values a checked column allows (see
//! `migrate::schema::enumeration`), for a later migration that adds a
//! status or a kind. PostgreSQL swaps the named constraint. SQLite cannot
//! alter a constraint, so the table is rebuilt the way SQLite's own
//! documentation prescribes (ALTER TABLE, "other kinds of table schema
//! changes"): a new table with the changed definition, the rows copied, the
//! old one dropped, the new one renamed, its indexes and triggers made
//! again.

use sea_orm::{ConnectionTrait, DbErr, Statement};
use sea_orm_migration::SchemaManager;

/// Lets `table.column` hold exactly `values` from now on.
pub async fn allow_values(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
    values: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let name = format!("{table}_{column}_check");
    let check = check_clause(column, values);
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            db.execute_unprepared(&format!(
                r#"ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}", ADD CONSTRAINT "{name}" {check}"#
            ))
            .await?;
        }
        sea_orm::DbBackend::Sqlite => rebuild_sqlite(db, table, &name, &check).await?,
        other => {
            return Err(DbErr::Migration(format!("{other:?} is not supported")));
        }
    }
    Ok(())
}

/// `CHECK ("column" IN ('a', 'b'))`, as sea-query writes it.
fn check_clause(column: &str, values: &[&str]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    format!(r#"CHECK ("{column}" IN ({}))"#, quoted.join(", "))
}

async fn rebuild_sqlite(
    db: &impl ConnectionTrait,
    table: &str,
    name: &str,
    check: &str,
) -> Result<(), DbErr> {
    let schema = |kind: &str| {
        Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = $1 AND tbl_name = $2 AND sql IS NOT NULL",
            [kind.into(), table.into()],
        )
    };
    let definition: String = match db.query_one_raw(schema("table")).await? {
        Some(row) => row.try_get("", "sql")?,
        None => return Err(DbErr::Migration(format!("no table {table}"))),
    };
    // Dropping the old table drops its indexes and triggers: both are made
    // again on the new one, from their own definitions.
    let mut indexes = Vec::new();
    for kind in ["index", "trigger"] {
        for row in db.query_all_raw(schema(kind)).await? {
            indexes.push(row.try_get::<String>("", "sql")?);
        }
    }
    let rebuilt = with_check(&definition, name, check)
        .ok_or_else(|| DbErr::Migration(format!("{table} has no constraint {name}")))?;
    let new_table = format!("{table}__rebuilt");
    let created = rebuilt.replacen(
        &format!(r#"CREATE TABLE "{table}""#),
        &format!(r#"CREATE TABLE "{new_table}""#),
        1,
    );
    db.execute_unprepared(&created).await?;
    db.execute_unprepared(&format!(
        r#"INSERT INTO "{new_table}" SELECT * FROM "{table}""#
    ))
    .await?;
    db.execute_unprepared(&format!(r#"DROP TABLE "{table}""#))
        .await?;
    db.execute_unprepared(&format!(r#"ALTER TABLE "{new_table}" RENAME TO "{table}""#))
        .await?;
    for index in indexes {
        db.execute_unprepared(&index).await?;
    }
    Ok(())
}

/// `definition` with the check of the constraint `name` replaced by
/// `check`; none when the definition has no such constraint.
fn with_check(definition: &str, name: &str, check: &str) -> Option<String> {
    let marker = format!(r#"CONSTRAINT "{name}" CHECK ("#);
    let start = definition.find(&marker)? + marker.len() - "CHECK (".len();
    let mut depth = 0usize;
    let mut in_quote = false;
    for (offset, c) in definition[start..].char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            '(' if !in_quote => depth += 1,
            ')' if !in_quote => {
                depth -= 1;
                if depth == 0 {
                    let end = start + offset + 1;
                    return Some(format!(
                        "{}{check}{}",
                        &definition[..start],
                        &definition[end..]
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_check_and_only_it_is_replaced() {
        let definition = r#"CREATE TABLE "t" ( "id" uuid_text NOT NULL PRIMARY KEY, "kind" varchar NOT NULL CONSTRAINT "t_kind_check" CHECK ("kind" IN ('a', 'b(c)')), "other" varchar CONSTRAINT "t_other_check" CHECK ("other" IN ('x')) )"#;
        let check = check_clause("kind", &["a", "b(c)", "it's"]);
        let rebuilt = with_check(definition, "t_kind_check", &check).unwrap();
        assert_eq!(
            rebuilt,
            r#"CREATE TABLE "t" ( "id" uuid_text NOT NULL PRIMARY KEY, "kind" varchar NOT NULL CONSTRAINT "t_kind_check" CHECK ("kind" IN ('a', 'b(c)', 'it''s')), "other" varchar CONSTRAINT "t_other_check" CHECK ("other" IN ('x')) )"#
        );
        assert!(with_check(definition, "t_missing_check", &check).is_none());
    }
}
