//! Putting a server together: state shared by every handler, and start-up.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::AuditWriter;
use crate::config::Config;
use crate::crypto::Keyring;
use crate::crypto::registry::{self, KeyOrigin, KeySource};
use crate::db::{Database, migrate};
use crate::http;
use crate::identity::Identity;
use crate::messaging::files::FileStore;
use crate::messaging::realtime::{self, Notice, Realtime};
use crate::messaging::video::VideoRooms;
use crate::notify::Notifier;

/// What every handler can reach. One pointer, cloned for every request.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub db: Database,
    pub config: Config,
    pub keyring: Keyring,
    pub identity: Identity,
    /// Records the audit events of reads (group commit); see [`AuditWriter`].
    pub audit: AuditWriter,
    /// Every outgoing message goes through it.
    pub notifier: Notifier,
    /// Conversation events to WebSocket clients, across servers.
    pub realtime: Realtime,
    /// Makes the rooms of video calls: Daily, or carebase's built-in rooms.
    pub video: Arc<dyn VideoRooms>,
    /// Where message attachments are kept, sealed.
    pub files: FileStore,
    /// SQLite: this server's own event queue, taken by `Server::run`.
    local_events: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Notice>>>,
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
        let applied = migrate::up(&db).await?;
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
        let identity = Identity::new(&config, &master_key);
        let keyring = Keyring::new(db.clone(), master_key);
        let audit = AuditWriter::start(db.dedicated(&config, 2).await?);
        let notifier = Notifier::open(db.clone(), &keyring, &config).await?;
        let (realtime, local_events) = Realtime::new(&db);
        let video = crate::messaging::video::rooms_from(&config.video())
            .map_err(|e| anyhow::anyhow!("video settings: {e}"))?;
        let files = FileStore::from_settings(&config.files(), &config.data_dir)
            .map_err(|e| anyhow::anyhow!("attachment storage: {e}"))?;
        Ok(Self(Arc::new(Shared {
            db,
            config,
            keyring,
            identity,
            audit,
            notifier,
            realtime,
            video,
            files,
            local_events: std::sync::Mutex::new(local_events),
        })))
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
        Self::bind(state, http::context_routes()).await
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
    /// The idle chat session sweep and the appointment reminder sender run
    /// alongside and stop with the server.
    /// The mail delivery worker runs alongside and stops with the server:
    /// the message it is sending is finished (within the shutdown grace),
    /// the rest of its batch is handed back for another server or the next
    /// start.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, docs = %format!("http://{addr}/docs"), "carebase is listening");
        }
        let timeouts = http::serve::Timeouts {
            header: self.state.config.header_timeout(),
            grace: self.state.config.shutdown_grace(),
        };
        let stop_delivery = shutdown.child_token();
        let delivery = self.state.notifier.spawn_delivery(stop_delivery.clone());
        let stop_sweeps = shutdown.child_token();
        let sweeps = crate::crm::chat::spawn_idle_sweep(self.state.db.clone(), stop_sweeps.clone());
        let reminders =
            crate::scheduling::reminders::spawn_sender(self.state.clone(), stop_sweeps.clone());
        let missed_calls =
            crate::messaging::calls::spawn_missed_sweep(self.state.clone(), stop_sweeps.clone());
        let local_events = self
            .state
            .local_events
            .lock()
            .ok()
            .and_then(|mut events| events.take());
        let events =
            realtime::spawn_delivery(self.state.clone(), local_events, stop_sweeps.clone()).await;
        let served = http::serve::serve(self.listener, self.app, shutdown, timeouts).await;
        stop_delivery.cancel();
        stop_sweeps.cancel();
        if tokio::time::timeout(timeouts.grace, sweeps).await.is_err() {
            tracing::warn!("the idle chat session sweep did not stop within the shutdown grace");
        }
        // A reminder batch cut short rolls back; the next run sends it.
        if tokio::time::timeout(timeouts.grace, reminders)
            .await
            .is_err()
        {
            tracing::warn!("the reminder sender did not stop within the shutdown grace");
        }
        if let Some(delivery) = delivery
            && tokio::time::timeout(timeouts.grace, delivery)
                .await
                .is_err()
        {
            tracing::warn!(
                "mail delivery did not stop within the shutdown grace; \
                 the message it was sending is retried once its claim runs out"
            );
        }
        if tokio::time::timeout(timeouts.grace, missed_calls)
            .await
            .is_err()
        {
            tracing::warn!("the missed-call sweep did not stop within the shutdown grace");
        }
        if tokio::time::timeout(timeouts.grace, events).await.is_err() {
            tracing::warn!("realtime delivery did not stop within the shutdown grace");
        }
        // After the last request, so every read it served has its event written.
        self.state.audit.stop().await;
        served?;
        self.state.db.close().await;
        tracing::info!("carebase stopped");
        Ok(())
    }
}
