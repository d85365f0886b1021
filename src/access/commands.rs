//! `carebase roles`: the role catalogue, as docs/roles.md shows it.

use std::process::ExitCode;

use crate::config::Config;

pub const NAME: &str = "roles";

pub fn commands() -> Vec<clap::Command> {
    vec![
        clap::Command::new(NAME)
            .about("Print the role catalogue and its permissions (docs/roles.md)"),
    ]
}

pub fn run(_config: Config) -> ExitCode {
    print!("{}", crate::policy::roles::catalogue_markdown());
    ExitCode::SUCCESS
}
