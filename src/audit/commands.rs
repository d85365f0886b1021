//! `carebase audit verify`: checks the chain from the command line, and
//! with `--checkpoint` against the signed checkpoints kept outside the
//! database.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{FromArgMatches, Subcommand};
use sea_orm_migration::MigrationName;

use super::checkpoint::{self, Checkpoint, Finding};
use super::{VerifyReport, key};
use crate::config::Config;
use crate::db::{Database, migrate};
use crate::storage::FileStore;

pub const NAME: &str = "audit";

/// `--checkpoint store`: the checkpoints in the configured object store.
const FROM_STORE: &str = "store";

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every event's hash and link, in order; exit code 1 names the
    /// first broken event. Needs the master key once the chain is keyed.
    Verify {
        /// Also hold the chain against signed checkpoints: a file of them
        /// (or of log lines carrying them), or `store` for those in the
        /// object store. A chain shorter than a checkpoint, or with another
        /// hash at a checkpointed seq, exits 1.
        #[arg(long, value_name = "FILE|store")]
        checkpoint: Option<String>,
    },
}

pub fn commands() -> Vec<clap::Command> {
    let audit = clap::Command::new(NAME)
        .about("Check the audit log")
        .subcommand_required(true);
    vec![AuditCommand::augment_subcommands(audit)]
}

pub async fn run(args: &clap::ArgMatches, config: Config) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { checkpoint } = AuditCommand::from_arg_matches(args)?;
    let db = Database::connect(&config).await?;
    let result = verify(&db, &config, checkpoint.as_deref()).await;
    db.close().await;
    result
}

/// Verifies the audit chain: exit code 0 when intact (and in agreement
/// with the checkpoints, when given), 1 when not. It does not migrate: a
/// database without the audit tables is an error.
async fn verify(
    db: &Database,
    config: &Config,
    checkpoints: Option<&str>,
) -> anyhow::Result<ExitCode> {
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
    let head = super::verify::read_head(db).await?;
    if checkpoints.is_some() || head.keyed_from <= head.last_seq {
        key::open_for_check(db, config).await?;
    }
    match super::verify(db).await? {
        VerifyReport::Intact {
            events,
            head,
            keyed_from,
        } => {
            println!(
                "audit log intact: {events} events, keyed from seq {keyed_from}, head hash {head}"
            );
        }
        VerifyReport::Broken(found) => {
            println!("audit log BROKEN: {found}");
            tracing::error!(seq = found.seq, "audit log broken: {found}");
            return Ok(ExitCode::from(1));
        }
    }
    match checkpoints {
        Some(source) => against_checkpoints(db, config, source).await,
        None => Ok(ExitCode::SUCCESS),
    }
}

async fn against_checkpoints(
    db: &Database,
    config: &Config,
    source: &str,
) -> anyhow::Result<ExitCode> {
    let Some(key) = db.audit_key().cloned() else {
        println!(
            "audit log BROKEN: the database holds no audit chain key to check checkpoints with"
        );
        return Ok(ExitCode::from(1));
    };
    let found = read_checkpoints(config, source).await?;
    let forged = found.iter().filter(|c| !c.is_genuine(&key)).count();
    let finding = checkpoint::check(db, &key, &found).await?;
    if forged > 0 {
        println!(
            "{forged} of {} checkpoint(s) in {source} were not signed with this database's \
             audit chain key (forged, altered, or from another installation)",
            found.len()
        );
    }
    match finding {
        Finding::Agrees { .. } if forged == 0 => {
            println!("{finding}");
            Ok(ExitCode::SUCCESS)
        }
        Finding::Agrees { .. } => {
            println!("{finding}, but some checkpoints are not genuine");
            Ok(ExitCode::from(1))
        }
        other => {
            println!("audit log BROKEN: {other}");
            tracing::error!("audit log does not match its checkpoints: {other}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn read_checkpoints(config: &Config, source: &str) -> anyhow::Result<Vec<Checkpoint>> {
    if source == FROM_STORE {
        let store = FileStore::from_settings(&config.files(), &config.data_dir)?;
        let (found, unreadable) = checkpoint::read_store(&store).await?;
        if unreadable > 0 {
            println!(
                "{unreadable} object(s) under {} are not checkpoints",
                checkpoint::PREFIX
            );
        }
        return Ok(found);
    }
    let path = PathBuf::from(source);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read checkpoints from {}: {e}", path.display()))?;
    Ok(checkpoint::parse(&text))
}
