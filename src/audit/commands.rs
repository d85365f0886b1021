//! `carebase audit verify`: checks the chain from the command line.

use std::process::ExitCode;

use clap::{FromArgMatches, Subcommand};
use sea_orm_migration::MigrationName;

use super::VerifyReport;
use crate::config::Config;
use crate::db::{Database, migrate};

pub const NAME: &str = "audit";

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every event's hash and link, in order; exit code 1 names the
    /// first broken event.
    Verify,
}

pub fn commands() -> Vec<clap::Command> {
    let audit = clap::Command::new(NAME)
        .about("Check the audit log")
        .subcommand_required(true);
    vec![AuditCommand::augment_subcommands(audit)]
}

pub async fn run(args: &clap::ArgMatches, config: Config) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify = AuditCommand::from_arg_matches(args)?;
    let db = Database::connect(&config).await?;
    let result = verify(&db).await;
    db.close().await;
    result
}

/// Verifies the audit chain: exit code 0 when intact, 1 when broken. It
/// does not migrate: a database without the audit tables is an error.
async fn verify(db: &Database) -> anyhow::Result<ExitCode> {
    let audit_migration = super::migration::CreateAuditLog.name().to_owned();
    let applied = migrate::status(db)
        .await?
        .into_iter()
        .any(|m| m.name == audit_migration && m.applied);
    if !applied {
        anyhow::bail!(
            "this database has no audit log yet (migration {audit_migration} is pending); \
             check database_url, or run `carebase migrate up`"
        );
    }
    match super::verify(db).await? {
        VerifyReport::Intact { events, head } => {
            println!("audit log intact: {events} events, head hash {head}");
            Ok(ExitCode::SUCCESS)
        }
        VerifyReport::Broken(found) => {
            println!("audit log BROKEN: {found}");
            tracing::error!(seq = found.seq, "audit log broken: {found}");
            Ok(ExitCode::from(1))
        }
    }
}
