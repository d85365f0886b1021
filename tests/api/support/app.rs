//! Starts the real carebase on a real database for each test.
//!
//! Every test gets its own database: a fresh SQLite file in a temporary
//! directory, or a fresh PostgreSQL database created on the server named by
//! `CAREBASE_TEST_POSTGRES_URL` and dropped when the test ends. The server
//! is the production one (`AppState::open`, `http::router`, `serve`) on a
//! random port, reached over real HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use carebase::config::{Config, SecretString};
use carebase::{AppState, Server};
use sqlx::Connection;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use super::probes::probe_routes;

pub const POSTGRES_URL_VAR: &str = "CAREBASE_TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests create their databases on: the one
/// `CAREBASE_TEST_POSTGRES_URL` names now, or the one found when the tests
/// were built.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty() && u != "off")
        .or_else(|| option_env!("CAREBASE_TEST_POSTGRES_BUILT_WITH").map(str::to_owned))
}

/// A database for one test, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    pub dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: TestBackend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            TestBackend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("carebase.db").display()),
                dir,
                postgres: None,
            },
            TestBackend::Postgres => {
                let admin = postgres_admin_url().expect("a PostgreSQL to test on (see build.rs)");
                let name = format!("carebase_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                Self {
                    url: with_database(&admin, &name),
                    dir,
                    postgres: Some((admin, name)),
                }
            }
        }
    }

    /// A configuration for a server on this database, listening on a free port.
    pub fn config(&self) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: self.dir.path().join("data"),
            database_url: Some(SecretString::new(self.url.clone())),
            db_max_connections: 5,
            ..Config::default()
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // a thread with its own runtime removes the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Replaces the database name of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Held so the database lives as long as the server.
    pub _db: TestDatabase,
}

impl TestApp {
    /// The production API on a fresh database of `backend`.
    pub async fn spawn(backend: TestBackend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// As [`TestApp::spawn`], with the configuration adjusted first.
    pub async fn spawn_with(backend: TestBackend, adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDatabase::create(backend).await;
        let mut config = db.config();
        adjust(&mut config);
        Self::start(db, config, carebase::contexts::routes()).await
    }

    /// The production API plus the probe routes below, to drive the kernel's
    /// extractors and layers with bodies, panics and slow handlers.
    pub async fn spawn_with_probes(backend: TestBackend, adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDatabase::create(backend).await;
        let mut config = db.config();
        adjust(&mut config);
        let api = carebase::contexts::routes().merge(probe_routes());
        Self::start(db, config, api).await
    }

    async fn start(db: TestDatabase, config: Config, api: OpenApiRouter<AppState>) -> Self {
        let state = AppState::open(config).await.expect("the server starts");
        let server = Server::bind(state.clone(), api).await.unwrap();
        let addr = server.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(server.run(shutdown.clone()));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            addr,
            client,
            state,
            shutdown,
            server,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Stops the server (draining it) and starts a new one on the same
    /// database and configuration, adjusted by `adjust`.
    pub async fn restart(self, adjust: impl FnOnce(&mut Config)) -> Self {
        let TestApp {
            state,
            server,
            shutdown,
            _db: db,
            ..
        } = self;
        let mut config = state.config.clone();
        shutdown.cancel();
        server.await.unwrap().unwrap();
        drop(state);
        adjust(&mut config);
        Self::start(db, config, carebase::contexts::routes()).await
    }

    /// Stops the server and waits until it has drained.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
    }

    /// Another carebase server on the same database and configuration, as
    /// a deployment with several servers on one PostgreSQL runs them.
    pub async fn second_server(&self) -> SecondServer {
        self.second_server_with(|_| {}).await
    }

    /// As [`Self::second_server`], with its configuration adjusted (another
    /// master key file, say).
    pub async fn second_server_with(&self, adjust: impl FnOnce(&mut Config)) -> SecondServer {
        let mut config = self.state.config.clone();
        adjust(&mut config);
        let state = AppState::open(config).await.unwrap();
        let server = Server::bind(state, carebase::contexts::routes())
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(server.run(shutdown.clone()));
        SecondServer {
            addr,
            shutdown,
            run,
        }
    }
}

/// A server beside the test's own (see [`TestApp::second_server`]).
pub struct SecondServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    run: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl SecondServer {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.run.await.unwrap().unwrap();
    }
}
