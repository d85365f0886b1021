//! The audit context: one append-only, hash-chained log of who did what to
//! which resource, for which facility and patient (DOMAIN.md, "audit").
//!
//! Handlers build an [`AuditEvent`]. A write appends it with [`append`] in
//! its own transaction, as the last statement before commit, so the change
//! and its event commit or fail together. A read hands it to the server's
//! [`AuditWriter`], which appends the events of concurrent reads in one
//! transaction and answers once they are durable. Either way the event gets
//! the next `seq` and a hash linking it to the event before, which
//! [`verify`] checks end to end; the database itself refuses to update or
//! delete an event. Hashes are keyed with a data key the database holds
//! only wrapped ([`key`]), and signed checkpoints of the head go to the log
//! and the object store ([`checkpoint`]), so a database administrator can
//! neither rewrite nor cut the chain unseen. The seeds' `communication_audit`
//! and `activity_logs` are views of the same table. docs/trust-core.md has
//! the design.

pub mod chain;
pub mod changes;
pub mod checkpoint;
pub mod commands;
pub mod event;
pub mod export;
pub mod key;
pub mod migration;
pub mod permissions;
pub mod routes;
pub mod search;
pub mod settings;
pub mod store;
pub mod timeline;
pub mod verify;
pub mod writer;

use std::process::ExitCode;

use sea_orm_migration::MigrationTrait;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::config::{Config, Section};
use crate::context::{ApiTag, Context, Job};
use crate::policy::Grant;

pub use chain::{append, commit};
pub use event::{
    ActorType, AuditAction, AuditActor, AuditEvent, ComplianceFlag, Redacted, RequestContext,
    redact,
};
pub use export::{write_csv, write_ndjson};
pub use search::{AuditFilter, MAX_PAGE, StoredEvent, search};
pub use verify::{BreakReason, ChainBreak, VerifyReport, verify};
pub use writer::{AuditError, AuditWriter};

/// The audit context, as the kernel sees it.
pub struct Audit;

#[async_trait::async_trait]
impl Context for Audit {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn commands(&self) -> Vec<clap::Command> {
        commands::commands()
    }

    async fn run_command(
        &self,
        _name: &str,
        args: &clap::ArgMatches,
        config: Config,
    ) -> anyhow::Result<ExitCode> {
        commands::run(args, config).await
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[ApiTag {
            name: "audit",
            description: "The audit log",
        }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::routes()
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreateAuditLog),
            Box::new(migration::AddLeadToAuditEvents),
            Box::new(migration::KeyTheChain),
        ]
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    fn settings(&self) -> Option<Section> {
        Some(Section::of::<settings::AuditSettings>())
    }

    async fn jobs(&self, state: &AppState, stop: &CancellationToken) -> Vec<Job> {
        vec![Job::new(
            "audit checkpoints",
            checkpoint::spawn(state.clone(), stop.clone()),
        )]
    }
}
