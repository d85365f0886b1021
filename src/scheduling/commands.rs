//! `carebase schedule …`: scheduling's maintenance from the command line.

use std::process::ExitCode;

use clap::{FromArgMatches, Subcommand};

use crate::config::Config;
use crate::db::{Database, migrate};
use crate::time::Timestamp;

pub const NAME: &str = "schedule";

#[derive(Debug, Subcommand)]
enum ScheduleAction {
    /// Close every Saturday and Sunday from today for some months, whole
    /// days in each facility's time zone (seed 000's weekend blocks). Adds
    /// only the weekends not yet blocked, so it can run from cron, and never
    /// a day an administrator opened or unblocked.
    BlockWeekends {
        /// How many months ahead to block.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=36))]
        months: u32,
        /// Only this facility; every facility when absent.
        #[arg(long)]
        facility: Option<uuid::Uuid>,
    },
}

pub fn commands() -> Vec<clap::Command> {
    let schedule = clap::Command::new(NAME)
        .about("Scheduling maintenance")
        .subcommand_required(true);
    vec![ScheduleAction::augment_subcommands(schedule)]
}

pub async fn run(args: &clap::ArgMatches, config: Config) -> anyhow::Result<ExitCode> {
    let ScheduleAction::BlockWeekends { months, facility } =
        ScheduleAction::from_arg_matches(args)?;
    let db = Database::connect(&config).await?;
    let result = block_weekends(&db, &config, facility, months).await;
    db.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

async fn block_weekends(
    db: &Database,
    config: &Config,
    facility: Option<uuid::Uuid>,
    months: u32,
) -> anyhow::Result<()> {
    migrate::up(db).await?;
    crate::audit::key::open_for_command(db, config).await?;
    let report = super::maintenance::block_weekends(db, facility, months, Timestamp::now()).await?;
    if report.is_empty() {
        match facility {
            Some(id) => anyhow::bail!("there is no facility {id}"),
            None => println!("there are no facilities yet"),
        }
    }
    for done in report {
        println!(
            "{} ({}): blocked {} weekend days, {} were already blocked, {} left open by an administrator",
            done.facility, done.facility_id, done.added, done.already, done.left_open
        );
    }
    Ok(())
}
