//! `carebase admin create`: the installation's first (or next) system
//! administrator, from the command line.

use std::process::ExitCode;

use clap::{FromArgMatches, Subcommand};

use crate::config::Config;

pub const NAME: &str = "admin";

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

pub fn commands() -> Vec<clap::Command> {
    let admin = clap::Command::new(NAME)
        .about("Administer the installation")
        .subcommand_required(true);
    vec![AdminAction::augment_subcommands(admin)]
}

pub async fn run(args: &clap::ArgMatches, config: Config) -> anyhow::Result<ExitCode> {
    let AdminAction::Create {
        email,
        password_stdin,
    } = AdminAction::from_arg_matches(args)?;
    create_admin(config, &email, password_stdin).await?;
    Ok(ExitCode::SUCCESS)
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
    let result = super::bootstrap::create_system_admin(&state, email, password).await;
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
