//! The `carebase` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::Server;
use crate::config::{Config, LogFormat};
use crate::crypto::MasterKey;
use crate::crypto::registry::{self, KeySource};
use crate::db::{Database, migrate};

#[derive(Debug, Parser)]
#[command(
    name = "carebase",
    version,
    about = "An open healthcare platform backend",
    subcommand_required = true
)]
pub struct Cli {
    /// A TOML configuration file (see carebase.example.toml).
    #[arg(long, global = true, env = "CAREBASE_CONFIG")]
    config: Option<PathBuf>,
    /// Log as readable lines (human) or JSON objects (json); overrides log_format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// A kernel command; `None` when the command is a context's (see
    /// `Context::commands`), which `main` hands to that context.
    #[command(subcommand)]
    command: Option<Command>,
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
enum KeysAction {
    /// Rewrap every data key under a new master key and make it the active
    /// one. Running servers keep serving; restart them with the new key.
    Rotate {
        /// The new key file; created (mode 0600) if it does not exist.
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Once every server runs on the new key: drop the data keys' wrappings
    /// under retired master keys, so a retired key opens nothing.
    ForgetRetired,
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
    let mut command = Cli::command();
    for context in crate::contexts::all() {
        command = command.subcommands(context.commands());
    }
    let matches = command.get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
    let ran = match cli.command {
        Some(command) => runtime.block_on(run(command, config)),
        None => runtime.block_on(run_context_command(&matches, config)),
    };
    match ran {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Hands a context's command to the context that declared it.
async fn run_context_command(
    matches: &clap::ArgMatches,
    config: Config,
) -> anyhow::Result<ExitCode> {
    let Some((name, args)) = matches.subcommand() else {
        anyhow::bail!("no command given");
    };
    let owner = crate::contexts::all()
        .iter()
        .find(|context| context.commands().iter().any(|c| c.get_name() == name));
    match owner {
        Some(context) => context.run_command(name, args, config).await,
        None => anyhow::bail!("no command `{name}`"),
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
            // Migrations are the table owner's to run, when it is another role.
            let mut owner = config.clone();
            if let Some(url) = &config.migration_database_url {
                owner.database_url = Some(url.clone());
            }
            let db = Database::connect(&owner).await?;
            let result = run_migrate(&db, &config, action).await;
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
        Command::Keys {
            action: KeysAction::ForgetRetired,
        } => {
            let db = Database::connect(&config).await?;
            let result = crate::crypto::data_keys::forget_retired(&db).await;
            db.close().await;
            println!(
                "dropped the retired master key's wrapping of {} data key(s); a retired key opens nothing now.",
                result?
            );
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
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_master_key(
    db: &Database,
    config: &Config,
    new_key_file: &Path,
) -> anyhow::Result<()> {
    // Open the current key exactly as a starting server would, so rotation
    // never begins from a key the database does not know.
    crate::db::runtime_role::migrate_up(config, db).await?;
    let (current, _) = registry::open_master_key(db, &KeySource::from_config(config)).await?;
    let next = match MasterKey::read(new_key_file, config.allow_readable_master_key)? {
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
         Servers still on the old key keep serving until restarted (they answer 503 only for a facility \
         whose data key is made after now). Once all run on the new key: `carebase keys forget-retired`.",
        new_key_file.display()
    );
    Ok(())
}

async fn run_migrate(db: &Database, config: &Config, action: MigrateAction) -> anyhow::Result<()> {
    match action {
        MigrateAction::Up => {
            let applied = crate::db::runtime_role::migrate_up(config, db).await?;
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
