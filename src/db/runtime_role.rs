//! PostgreSQL with two roles: the one that owns the tables migrates, the
//! one the server runs as only reads and writes rows. A role that does not
//! own a table cannot alter it, drop it or disable its triggers, so the
//! server's own credentials, if stolen, cannot switch off the audit
//! triggers; audit events it may only add and read.

use sea_orm::{ConnectionTrait, Statement};

use super::{Database, migrate};
use crate::config::{Config, SecretString};

/// Tables the serving role reads and appends to, but never changes.
const APPEND_ONLY: &[&str] = &["audit_events", "seaql_migrations"];

/// Brings the schema up to date, as the owner role when
/// `migration_database_url` is set (then granting the serving role what it
/// needs), else on `db` itself. Returns the migrations applied.
pub async fn migrate_up(config: &Config, db: &Database) -> anyhow::Result<Vec<String>> {
    let Some(owner_url) = &config.migration_database_url else {
        return Ok(migrate::up(db).await?);
    };
    let mut owner_config = config.clone();
    owner_config.database_url = Some(owner_url.clone());
    let owner = Database::connect_with(&owner_config, 1).await?;
    let result = async {
        let applied = migrate::up(&owner).await?;
        grant_serving_role(&owner, &config.database_url()).await?;
        anyhow::Ok(applied)
    }
    .await;
    owner.close().await;
    result
}

/// Grants the role of `serving_url` the rows of every table of the current
/// schema (appending only to the audit log and the migration history).
async fn grant_serving_role(owner: &Database, serving_url: &SecretString) -> anyhow::Result<()> {
    let role = role_of(serving_url)?;
    let conn = owner.conn();
    let current = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT current_user::text, current_schema()::text",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL did not say who is connected"))?;
    let owner_role: String = current.try_get_by_index(0)?;
    let schema: String = current.try_get_by_index(1)?;
    anyhow::ensure!(
        owner_role != role,
        "migration_database_url and database_url name the same role ({role}): the serving role must not own the tables"
    );
    let (role, schema) = (quote(&role), quote(&schema));
    let mut statements = vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
        format!("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
    ];
    for table in APPEND_ONLY {
        statements.push(format!(
            "REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.{table} FROM {role}"
        ));
    }
    let txn = owner.begin().await?;
    for statement in statements {
        txn.execute_unprepared(&statement).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The user name in a `postgres://user@host/db` URL.
fn role_of(url: &SecretString) -> anyhow::Result<String> {
    let parsed =
        url::Url::parse(url.expose()).map_err(|_| anyhow::anyhow!("database_url is not a URL"))?;
    let user = parsed.username();
    anyhow::ensure!(
        !user.is_empty(),
        "database_url names no user: with migration_database_url it must name the serving role"
    );
    Ok(percent_encoding::percent_decode_str(user)
        .decode_utf8_lossy()
        .into_owned())
}

/// An SQL identifier, quoted.
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_role_is_read_from_the_url() {
        let url = SecretString::new("postgres://care%20base:pw@db.example/clinic".to_owned());
        assert_eq!(role_of(&url).unwrap(), "care base");
        let none = SecretString::new("postgres://db.example/clinic".to_owned());
        assert!(role_of(&none).is_err());
        assert_eq!(quote(r#"we"ird"#), r#""we""ird""#);
    }
}
