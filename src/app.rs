//! Putting a server together: state shared by every handler, and start-up.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::AuditWriter;
use crate::config::Config;
use crate::context::{Job, stop_jobs};
use crate::crypto::Keyring;
use crate::crypto::registry::{self, KeyOrigin, KeySource};
use crate::db::Database;
use crate::http;

/// What every handler can reach. One pointer, cloned for every request.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub db: Database,
    pub config: Config,
    pub keyring: Keyring,
    /// Records the audit events of reads (group commit); see [`AuditWriter`].
    pub audit: AuditWriter,
    /// What the contexts keep for their handlers (their `Context::open`).
    extensions: Extensions,
}

/// The state each context builds for its handlers, one value per type.
#[derive(Default)]
pub struct Extensions(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl Extensions {
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({} values)", self.0.len())
    }
}

/// What a context's `open` may use to build its state.
pub struct Opening<'a> {
    pub db: &'a Database,
    pub config: &'a Config,
    pub keyring: &'a Keyring,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Connects to the database, brings its schema up to date and opens the
    /// master key, creating the key on a fresh installation.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        crate::install_tls_provider();
        let db = Database::connect(&config).await?;
        let applied = crate::db::runtime_role::migrate_up(&config, &db).await?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), migrations = ?applied, "applied database migrations");
        }
        let (master_key, origin) =
            registry::open_master_key(&db, &KeySource::from_config(&config)).await?;
        if origin == KeyOrigin::Created {
            tracing::warn!(
                path = %config.master_key_path().display(),
                key_id = master_key.id(),
                "created a new master key. Back this file up now, apart from the database \
                 backups: without it, encrypted patient data cannot be read. Every server \
                 sharing this database needs the same file (set master_key_file)."
            );
        }
        tracing::info!(
            database = db.backend().name(),
            key_id = master_key.id(),
            "database ready"
        );
        let keyring = Keyring::new(db.clone(), master_key);
        crate::audit::key::use_key(&db, &keyring).await?;
        let audit = AuditWriter::start(db.dedicated(&config, 2).await?);
        let mut extensions = Extensions::default();
        let opening = Opening {
            db: &db,
            config: &config,
            keyring: &keyring,
        };
        for context in crate::contexts::all() {
            context
                .open(&opening, &mut extensions)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", context.name()))?;
        }
        Ok(Self(Arc::new(Shared {
            db,
            config,
            keyring,
            audit,
            extensions,
        })))
    }

    /// The state of type `T` that a context opened. Every context is opened
    /// by [`AppState::open`] before any handler or job runs, so a context
    /// asking for its own state always finds it.
    pub fn ext<T: Any + Send + Sync>(&self) -> &T {
        match self.extensions.get::<T>() {
            Some(value) => value,
            None => panic!(
                "{} was not opened: its context is missing from crate::contexts",
                std::any::type_name::<T>()
            ),
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    app: http::App,
    state: AppState,
}

impl Server {
    /// Opens the state for `config` and binds its listen address.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let state = AppState::open(config).await?;
        Self::bind(state, crate::contexts::routes()).await
    }

    /// Binds a server for `state` that answers the operational endpoints and
    /// the routes of `contexts`.
    pub async fn bind(state: AppState, contexts: OpenApiRouter<AppState>) -> anyhow::Result<Self> {
        let listen = state.config.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let app = http::router(state.clone(), contexts);
        Ok(Self {
            listener,
            app,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled and in-flight requests are done.
    /// Every context's background jobs run alongside and stop with the
    /// server, each given the shutdown grace to finish what it is doing.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, docs = %format!("http://{addr}/docs"), "carebase is listening");
        }
        let timeouts = http::serve::Timeouts {
            header: self.state.config.header_timeout(),
            grace: self.state.config.shutdown_grace(),
        };
        let stop_jobs_token = shutdown.child_token();
        let mut jobs: Vec<Job> = Vec::new();
        for context in crate::contexts::all() {
            jobs.extend(context.jobs(&self.state, &stop_jobs_token).await);
        }
        let served = http::serve::serve(self.listener, self.app, shutdown, timeouts).await;
        stop_jobs_token.cancel();
        stop_jobs(jobs, timeouts.grace).await;
        // After the last request, so every read it served has its event written.
        self.state.audit.stop().await;
        served?;
        self.state.db.close().await;
        tracing::info!("carebase stopped");
        Ok(())
    }
}
