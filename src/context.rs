//! The contract between the kernel and a domain context.
//!
//! A context (a folder under `src/` named after a context of
//! ../shared/DOMAIN.md) declares everything the kernel needs from it through
//! one [`Context`] value: its routes and OpenAPI tags, its migrations, its
//! permissions with the role bundles that hold them, its settings section,
//! its background jobs, its state, its reactions to other contexts' events
//! its demo data and its command-line commands.
//! `lib.rs` lists them, in one place (`CONTEXTS`); the kernel asks that list and
//! names no context itself, so adding a context is one folder and one line.

use std::any::Any;
use std::process::ExitCode;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sea_orm_migration::MigrationTrait;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::app::{AppState, Extensions, Opening};
use crate::config::{Config, Section};
use crate::db::Transaction;
use crate::demo::Demo;
use crate::error::ApiError;
use crate::policy::{Grant, Permission};
use crate::time::Timestamp;

/// An OpenAPI tag a context's operations are grouped under.
#[derive(Clone, Copy, Debug)]
pub struct ApiTag {
    pub name: &'static str,
    pub description: &'static str,
}

/// A background task a context runs beside the server, stopped with it.
pub struct Job {
    /// Said in the warning when the job outlives the shutdown grace.
    pub name: &'static str,
    pub handle: JoinHandle<()>,
}

impl Job {
    pub fn new(name: &'static str, handle: JoinHandle<()>) -> Self {
        Self { name, handle }
    }
}

/// What a context's reaction may use: the state, the transaction of the
/// change that raised the event, and a place for work that must wait until
/// that transaction has committed (a realtime notice, for example).
pub struct Reaction<'a> {
    pub state: &'a AppState,
    pub txn: &'a Transaction,
    pub now: Timestamp,
    after_commit: Vec<BoxFuture<'static, ()>>,
}

impl<'a> Reaction<'a> {
    fn new(state: &'a AppState, txn: &'a Transaction, now: Timestamp) -> Self {
        Self {
            state,
            txn,
            now,
            after_commit: Vec::new(),
        }
    }

    /// Runs `work` once the change's transaction has committed.
    pub fn after_commit(&mut self, work: BoxFuture<'static, ()>) {
        self.after_commit.push(work);
    }

    fn into_after_commit(self) -> AfterCommit {
        AfterCommit(self.after_commit)
    }
}

/// Work that waits for a commit; run it with [`AfterCommit::run`] once the
/// transaction is committed, or drop it if the transaction is not.
#[must_use = "run it after the commit"]
#[derive(Default)]
pub struct AfterCommit(Vec<BoxFuture<'static, ()>>);

impl AfterCommit {
    pub async fn run(self) {
        for work in self.0 {
            work.await;
        }
    }
}

/// Everything a context contributes to the server. Every method has a
/// default that contributes nothing, so a context declares only what it has.
#[async_trait]
pub trait Context: Sync {
    /// The context's name, as ../shared/DOMAIN.md names it.
    fn name(&self) -> &'static str;

    /// The OpenAPI tags its operations use.
    fn tags(&self) -> &'static [ApiTag] {
        &[]
    }

    /// Its HTTP routes, with their OpenAPI annotations.
    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
    }

    /// Its migrations. The kernel applies every context's migrations in the
    /// order of their names (`m<date>_<sequence>_…`), whatever the context.
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }

    /// Its permissions, each with the role bundles that hold it.
    fn permissions(&self) -> &'static [Grant] {
        &[]
    }

    /// Those of its permissions that only a person may use, never an API
    /// key: powers over people (roles, invitations, keys, break-glass).
    fn people_only(&self) -> &'static [Permission] {
        &[]
    }

    /// Its settings section (`Section::of::<TheSettings>()`): a TOML table
    /// and `CAREBASE_<SECTION>__<KEY>` variables, loaded and checked with
    /// the rest of the configuration; read with `config.section::<T>()`.
    fn settings(&self) -> Option<Section> {
        None
    }

    /// Builds the state its handlers share (clients, hubs, stores) into
    /// `extensions`, once per server, after the database is ready.
    async fn open(
        &self,
        _opening: &Opening<'_>,
        _extensions: &mut Extensions,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    /// Starts its background jobs; they stop when `stop` is cancelled.
    async fn jobs(&self, _state: &AppState, _stop: &CancellationToken) -> Vec<Job> {
        Vec::new()
    }

    /// Reacts to an event another context raised, in that change's
    /// transaction. Events are plain types owned by the context that raises
    /// them; a context downcasts the ones it cares about.
    async fn react(
        &self,
        _reaction: &mut Reaction<'_>,
        _event: &(dyn Any + Send + Sync),
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// Loads its part of `carebase demo`, writing through its own stores:
    /// it reads what earlier contexts left in `demo.made` and leaves there,
    /// under its own types, what later ones need.
    async fn demo(&self, _demo: &mut Demo<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    /// Its command-line commands (`carebase <name> …`), built with clap;
    /// `carebase --help` lists them beside the kernel's.
    fn commands(&self) -> Vec<clap::Command> {
        Vec::new()
    }

    /// Runs its command `name` with the arguments clap matched, the
    /// configuration loaded and logging on. The exit code is success unless
    /// the command found a problem to report; failures are errors.
    async fn run_command(
        &self,
        name: &str,
        _args: &clap::ArgMatches,
        _config: Config,
    ) -> anyhow::Result<ExitCode> {
        anyhow::bail!("{} has no command `{name}`", self.name())
    }
}

/// Tells every context of `event`, raised by a change in `txn`, in the
/// order of `crate::contexts`. The caller commits `txn` and then runs what
/// is returned; a reaction that fails fails the change.
pub async fn publish(
    state: &AppState,
    txn: &Transaction,
    now: Timestamp,
    event: &(dyn Any + Send + Sync),
) -> Result<AfterCommit, ApiError> {
    let mut reaction = Reaction::new(state, txn, now);
    for context in crate::contexts::all() {
        context.react(&mut reaction, event).await?;
    }
    Ok(reaction.into_after_commit())
}

/// Waits for every job to stop, at most `grace` each, and names the ones
/// that did not.
pub async fn stop_jobs(jobs: Vec<Job>, grace: Duration) {
    for job in jobs {
        if tokio::time::timeout(grace, job.handle).await.is_err() {
            tracing::warn!(
                job = job.name,
                "a background job did not stop within the shutdown grace"
            );
        }
    }
}
