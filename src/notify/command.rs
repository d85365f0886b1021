//! `carebase outbox --to <address>`: the messages waiting for (or sent to)
//! one address, in full, for the operator of an installation without a
//! mail server. Over the API no one is shown another person's recovery or
//! sign-in code; the operator on the server, who holds the master key
//! anyway, can read it here and pass it on. The read is audited.

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::config::Config;

pub const NAME: &str = "outbox";

/// Show the outbox's messages to one address, codes included.
#[derive(Debug, Parser)]
#[command(name = NAME)]
struct OutboxCommand {
    /// The email address or phone number the messages went to.
    #[arg(long)]
    to: String,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 10)]
    limit: u64,
}

pub fn commands() -> Vec<clap::Command> {
    vec![<OutboxCommand as clap::CommandFactory>::command()]
}

pub async fn run(args: &clap::ArgMatches, config: Config) -> anyhow::Result<ExitCode> {
    let command = <OutboxCommand as clap::FromArgMatches>::from_arg_matches(args)?;
    let state = crate::AppState::open(config).await?;
    let result = show(&state, &command).await;
    state.audit.stop().await;
    state.db.close().await;
    result
}

async fn show(state: &crate::AppState, command: &OutboxCommand) -> anyhow::Result<ExitCode> {
    let txn = state.db.begin().await?;
    let mut shown = Vec::new();
    let mut after = None;
    // Newest first, page by page, until enough messages to the address.
    loop {
        let page = super::list(&*txn, &state.keyring, after, super::MAX_PAGE, None).await?;
        let Some(last) = page.last().map(|m| m.id) else {
            break;
        };
        shown.extend(page.into_iter().filter(|m| m.recipient == command.to));
        if shown.len() as u64 >= command.limit {
            break;
        }
        after = Some(last);
    }
    shown.truncate(usize::try_from(command.limit).unwrap_or(usize::MAX));
    let ids: Vec<uuid::Uuid> = shown.iter().map(|m| m.id).collect();
    let event = AuditEvent::new(
        AuditActor::System {
            job: "carebase outbox".to_owned(),
        },
        AuditAction::Read,
        "outbox",
    )
    .changes(redact(json!({ "messages": ids }), &[]));
    audit::commit(txn, vec![event]).await?;
    for message in &shown {
        println!(
            "{} {} {:?} {}\n{}\n",
            message.created_at, message.kind, message.status, message.subject, message.body
        );
    }
    if shown.is_empty() {
        println!("no message to {}", command.to);
    }
    Ok(ExitCode::SUCCESS)
}
