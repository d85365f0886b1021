//! The `carebase` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sea_orm_migration::MigrationName;
use tokio_util::sync::CancellationToken;

use crate::app::Server;
use crate::audit::VerifyReport;
use crate::config::{Config, LogFormat};
use crate::crypto::MasterKey;
use crate::crypto::registry::{self, KeySource};
use crate::db::{Database, migrate};
use crate::time::Timestamp;

#[derive(Debug, Parser)]
#[command(
    name = "carebase",
    version,
    about = "An open healthcare platform backend"
)]
pub struct Cli {
    /// A TOML configuration file (see carebase.example.toml).
    #[arg(long, global = true, env = "CAREBASE_CONFIG")]
    config: Option<PathBuf>,
    /// Log as readable lines (human) or JSON objects (json); overrides log_format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve,
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Manage the master key.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print the role catalogue and its permissions (docs/roles.md).
    Roles,
    /// Administer the installation.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Check the audit log.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Scheduling maintenance.
    Schedule {
        #[command(subcommand)]
        action: ScheduleAction,
    },
    /// Load a synthetic "Demo Clinic" (staff of every CRM role, a year of
    /// leads with their history, a few patients) into the configured
    /// database. Refuses a database that already has it. Prints a generated
    /// staff password once, unless --password-stdin gives it.
    Demo {
        /// How many leads to load.
        #[arg(long, default_value_t = 2000)]
        leads: u32,
        /// The generator's seed: the same seed loads the same leads.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Read the staff password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AdminAction {
    /// Make an account (new or existing) a system administrator. Prints a
    /// single-use setup code to redeem at POST /auth/accept-invitation,
    /// unless --password-stdin gives the password.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of printing a setup code.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ScheduleAction {
    /// Close every Saturday and Sunday from today for some months, whole
    /// days in each facility's time zone (seed 000's weekend blocks). Adds
    /// only the weekends not yet blocked, so it can run from cron.
    BlockWeekends {
        /// How many months ahead to block.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=36))]
        months: u32,
        /// Only this facility; every facility when absent.
        #[arg(long)]
        facility: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every event's hash and link, in order; exit code 1 names the
    /// first broken event.
    Verify,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Rewrap every data key under a new master key and make it the active
    /// one. Running servers keep serving; restart them with the new key.
    Rotate {
        /// The new key file; created (mode 0600) if it does not exist.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the newest N migrations (default 1).
    Down {
        #[arg(default_value_t = 1, conflicts_with = "all")]
        steps: u32,
        /// Roll back every migration.
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate the configuration and print it, secrets masked.
    Check,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(mut config) => {
            if let Some(format) = cli.log_format {
                config.log_format = format;
            }
            config
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Held to the end of main: dropping it flushes the queued log lines.
    let _log_flush = match crate::telemetry::init(config.log_format, &config.log_level) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `command`; the exit code is success unless the command found a
/// problem to report (errors are returned as errors).
async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            let server = Server::build(config).await?;
            let shutdown = CancellationToken::new();
            crate::http::serve::cancel_on_signal(shutdown.clone());
            server.run(shutdown).await?;
        }
        Command::Migrate { action } => {
            let db = Database::connect(&config).await?;
            let result = run_migrate(&db, action).await;
            db.close().await;
            result?;
        }
        Command::Config {
            action: ConfigAction::Check,
        } => {
            print!("{}", config.to_masked_toml());
            for warning in &config.warnings {
                println!("# warning: {warning}");
            }
            println!("# configuration is valid");
        }
        Command::Keys {
            action: KeysAction::Rotate { new_key_file },
        } => {
            let db = Database::connect(&config).await?;
            let result = rotate_master_key(&db, &config, &new_key_file).await;
            db.close().await;
            result?;
        }
        Command::Admin {
            action:
                AdminAction::Create {
                    email,
                    password_stdin,
                },
        } => create_admin(config, &email, password_stdin).await?,
        Command::Roles => {
            print!("{}", crate::access::roles::catalogue_markdown());
        }
        Command::Openapi => {
            println!(
                "{}",
                crate::http::api_docs::document(crate::contexts::routes()).to_pretty_json()?
            );
        }
        Command::Demo {
            leads,
            seed,
            password_stdin,
        } => crate::demo::run(config, leads, seed, password_stdin).await?,
        Command::Schedule {
            action: ScheduleAction::BlockWeekends { months, facility },
        } => {
            let db = Database::connect(&config).await?;
            let result = block_weekends(&db, facility, months).await;
            db.close().await;
            result?;
        }
        Command::Audit {
            action: AuditCommand::Verify,
        } => {
            let db = Database::connect(&config).await?;
            let result = run_audit_verify(&db).await;
            db.close().await;
            return result;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn block_weekends(
    db: &Database,
    facility: Option<uuid::Uuid>,
    months: u32,
) -> anyhow::Result<()> {
    migrate::up(db).await?;
    let report =
        crate::scheduling::maintenance::block_weekends(db, facility, months, Timestamp::now())
            .await?;
    if report.is_empty() {
        match facility {
            Some(id) => anyhow::bail!("there is no facility {id}"),
            None => println!("there are no facilities yet"),
        }
    }
    for done in report {
        println!(
            "{} ({}): blocked {} weekend days, {} were already blocked",
            done.facility, done.facility_id, done.added, done.already
        );
    }
    Ok(())
}

/// Verifies the audit chain: exit code 0 when intact, 1 when broken. It
/// does not migrate: a database without the audit tables is an error.
async fn run_audit_verify(db: &Database) -> anyhow::Result<ExitCode> {
    let audit_migration = crate::audit::migration::CreateAuditLog.name().to_owned();
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
    match crate::audit::verify(db).await? {
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

async fn create_admin(config: Config, email: &str, password_stdin: bool) -> anyhow::Result<()> {
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    let state = crate::AppState::open(config).await?;
    let result = crate::identity::bootstrap::create_system_admin(&state, email, password).await;
    state.audit.stop().await;
    state.db.close().await;
    let made = result?;
    let what = if made.existed {
        "existing account"
    } else {
        "new account"
    };
    println!(
        "{email} ({what} {}) is a system administrator.",
        made.account_id
    );
    if let Some(code) = made.setup_code {
        println!("Set its password with this single-use code (valid 7 days):\n\n  {code}\n");
        println!(
            "POST /auth/accept-invitation {{\"token\": \"<code>\", \"password\": \"<new password>\"}}"
        );
    }
    Ok(())
}

async fn rotate_master_key(
    db: &Database,
    config: &Config,
    new_key_file: &Path,
) -> anyhow::Result<()> {
    // Open the current key exactly as a starting server would, so rotation
    // never begins from a key the database does not know.
    migrate::up(db).await?;
    let (current, _) = registry::open_master_key(db, &KeySource::from_config(config)).await?;
    let next = match MasterKey::read(new_key_file)? {
        Some(key) => key,
        None => MasterKey::create(new_key_file)?,
    };
    let count = crate::crypto::data_keys::rotate(db, &current, &next).await?;
    println!(
        "rewrapped {count} data key(s) under master key {} ({}); key {} is retired.",
        next.id(),
        new_key_file.display(),
        current.id()
    );
    println!(
        "Next: back up {}, set master_key_file to it on every server, and restart them one at a time. \
         Servers still on the old key keep serving until restarted.",
        new_key_file.display()
    );
    Ok(())
}

async fn run_migrate(db: &Database, action: MigrateAction) -> anyhow::Result<()> {
    match action {
        MigrateAction::Up => {
            let applied = migrate::up(db).await?;
            if applied.is_empty() {
                println!("no pending migrations");
            }
            for name in applied {
                println!("applied {name}");
            }
        }
        MigrateAction::Down { steps, all } => {
            let steps = if all { u32::MAX } else { steps };
            let reverted = migrate::down(db, steps).await?;
            if reverted.is_empty() {
                println!("no applied migrations");
            }
            for name in reverted {
                println!("rolled back {name}");
            }
        }
        MigrateAction::Status => {
            for m in migrate::status(db).await? {
                let state = if m.applied { "applied" } else { "pending" };
                println!("{state:8} {}", m.name);
            }
        }
    }
    Ok(())
}
