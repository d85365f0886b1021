//! `carebase retention purge [--dry-run]`: the retention purge from the
//! command line (cron, or to see what it would do first).

use std::process::ExitCode;

use clap::{FromArgMatches, Subcommand};

use super::retention::{self, RetentionReport, RetentionSettings};
use crate::config::Config;
use crate::db::{Database, migrate};
use crate::time::Timestamp;

pub const NAME: &str = "retention";

#[derive(Debug, Subcommand)]
enum RetentionAction {
    /// Remove the content of communications past their retention period
    /// (metadata and the audit log stay); prints the count per category.
    Purge {
        /// Only report what would be purged.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn commands() -> Vec<clap::Command> {
    let retention = clap::Command::new(NAME)
        .about("Data retention")
        .subcommand_required(true);
    vec![RetentionAction::augment_subcommands(retention)]
}

pub async fn run(args: &clap::ArgMatches, config: Config) -> anyhow::Result<ExitCode> {
    let RetentionAction::Purge { dry_run } = RetentionAction::from_arg_matches(args)?;
    let db = Database::connect(&config).await?;
    let result = run_purge(&db, &config, dry_run).await;
    db.close().await;
    let report = result?;
    for (category, count) in &report.communications {
        let verb = if report.dry_run {
            "would purge"
        } else {
            "purged"
        };
        println!("{category}: {verb} the content of {count} communications");
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_purge(
    db: &Database,
    config: &Config,
    dry_run: bool,
) -> anyhow::Result<RetentionReport> {
    migrate::up(db).await?;
    let keyring = crate::audit::key::open_for_command(db, config).await?;
    let settings = config.section::<RetentionSettings>();
    let now = Timestamp::now();
    if dry_run {
        Ok(retention::report(db.conn(), &settings, None, now).await?)
    } else {
        retention::purge(db, &keyring, &settings, now).await
    }
}
