//! The one way carebase talks to its database, on SQLite or PostgreSQL.
//!
//! Queries are written once with SeaORM (entities and the sea-query builder)
//! and rendered for whichever backend the URL names, chosen at run time.
//! This module owns the connection settings that make both backends behave
//! alike: SQLite in WAL mode with foreign keys enforced and a busy timeout,
//! PostgreSQL behind a bounded pool. Write transactions are explicit and, on
//! SQLite, take the write lock up front so that two writers queue on the busy
//! timeout instead of failing half-way.

pub mod check_values;
pub mod constraint;
pub mod migrate;
pub mod runtime_role;

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

use crate::config::{Config, mask_url};
use crate::crypto::DataKey;

pub use constraint::{ConstraintKind, ConstraintViolation};

/// A new primary key: UUID v7, so keys sort by creation time and index well.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Writes the changed columns of `row`, a row of facility `facility_id`
/// (`facility` is its facility column): the facility is part of the
/// UPDATE, so a store given a row from outside its caller's scope changes
/// nothing and answers `RecordNotUpdated`.
pub async fn update_in_facility<A>(
    db: &impl ConnectionTrait,
    row: A,
    facility: <A::Entity as EntityTrait>::Column,
    facility_id: Uuid,
) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    A::Entity::update(row)
        .validate()?
        .filter(facility.eq(facility_id))
        .exec(db)
        .await
}

/// Which database engine a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A parsed database URL: the backend is chosen by its scheme.
pub enum DatabaseUrl {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let scheme = url.split(':').next().unwrap_or_default();
        let shown = mask_url(url);
        match scheme {
            "sqlite" => SqliteConnectOptions::from_str(url)
                .map(DatabaseUrl::Sqlite)
                .map_err(|e| format!("database_url `{shown}` is not a valid SQLite URL: {e}")),
            "postgres" | "postgresql" => PgConnectOptions::from_str(url)
                .map(DatabaseUrl::Postgres)
                .map_err(|e| format!("database_url `{shown}` is not a valid PostgreSQL URL: {e}")),
            other => Err(format!(
                "database_url scheme `{other}` is not supported; use sqlite://path or postgres://user@host/db"
            )),
        }
    }
}

/// A pooled connection to the carebase database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Database {
    conn: DatabaseConnection,
    backend: Backend,
    /// SQLite only: writers of this process take turns here, in order,
    /// instead of in SQLite's busy handler, which sleeps in steps of up to
    /// 100 ms and so gives the unlucky writer a long wait.
    writers: Option<Arc<Mutex<()>>>,
    /// The key the audit chain is authenticated with, once the master key
    /// is open (`audit::chain::use_key`). Every transaction carries it, so
    /// that an append in any transaction can key its events; shared by the
    /// clones and dedicated pools of one handle.
    audit_key: Arc<OnceLock<Arc<DataKey>>>,
}

impl Database {
    /// Opens the pool for the configured database, creating the SQLite file
    /// (and its directory) when it does not exist yet.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        Self::connect_with(config, config.db_max_connections).await
    }

    /// A pool of its own for one task, so that task never waits behind the
    /// requests queued on the main pool (the audit writer, whose commit
    /// every read waits for). Its writers still take turns with this one's.
    pub async fn dedicated(&self, config: &Config, max_connections: u32) -> anyhow::Result<Self> {
        let mut db = Self::connect_with(config, max_connections).await?;
        db.writers.clone_from(&self.writers);
        db.audit_key.clone_from(&self.audit_key);
        Ok(db)
    }

    pub(crate) async fn connect_with(
        config: &Config,
        max_connections: u32,
    ) -> anyhow::Result<Self> {
        let url = config.database_url();
        let acquire_timeout = Duration::from_secs(config.db_acquire_timeout_secs);
        match DatabaseUrl::parse(url.expose()).map_err(anyhow::Error::msg)? {
            DatabaseUrl::Sqlite(options) => {
                let options = options
                    .create_if_missing(true)
                    // FULL: a commit is on disk before it returns, so an audit
                    // event acknowledged to a reader survives a power cut too.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_millis(config.sqlite_busy_timeout_ms));
                if let Some(dir) = options.get_filename().parent() {
                    create_private_dir(dir)?;
                }
                switch_to_wal(&options).await?;
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .test_before_acquire(false)
                    .acquire_timeout(acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open the SQLite database: {e}"))?;
                Ok(Self {
                    conn: pool.into(),
                    backend: Backend::Sqlite,
                    writers: Some(Arc::new(Mutex::new(()))),
                    audit_key: Arc::default(),
                })
            }
            DatabaseUrl::Postgres(options) => {
                let options = options.application_name("carebase");
                // No ping before every use (a round trip per query): idle
                // and old connections are retired by time instead.
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .test_before_acquire(false)
                    .min_connections(0)
                    .acquire_timeout(acquire_timeout)
                    .idle_timeout(Duration::from_secs(600))
                    .max_lifetime(Duration::from_secs(1800))
                    .connect_with(options)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot connect to PostgreSQL at {}: {e}",
                            mask_url(url.expose())
                        )
                    })?;
                Ok(Self {
                    conn: pool.into(),
                    backend: Backend::Postgres,
                    writers: None,
                    audit_key: Arc::default(),
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Gives this handle (and its clones) the audit chain's key; the first
    /// key given stays, as one database has one.
    pub fn use_audit_key(&self, key: Arc<DataKey>) {
        let _ = self.audit_key.set(key);
    }

    pub fn audit_key(&self) -> Option<&Arc<DataKey>> {
        self.audit_key.get()
    }

    /// The connection for reads outside a transaction.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Starts a transaction that will write. On SQLite it first waits its
    /// turn among this process's writers, then takes the write lock at once
    /// (`BEGIN IMMEDIATE`), because a deferred transaction that reads and
    /// then writes fails with "database is locked" when another writer got
    /// in between. Never begin a second transaction while holding one: on
    /// SQLite the second would wait for the first forever.
    pub async fn begin(&self) -> Result<Transaction, DbErr> {
        let turn = match &self.writers {
            Some(writers) => Some(writers.clone().lock_owned().await),
            None => None,
        };
        let mut options = TransactionOptions::default();
        if self.backend == Backend::Sqlite {
            options.sqlite_transaction_mode = Some(SqliteTransactionMode::Immediate);
        }
        let txn = self.conn.begin_with_options(options).await?;
        Ok(Transaction {
            txn,
            audit_key: self.audit_key.get().cloned(),
            _turn: turn,
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.ping().await
    }

    /// Closes every pooled connection; later queries fail.
    pub async fn close(&self) {
        match self.backend {
            Backend::Sqlite => self.conn.get_sqlite_connection_pool().close().await,
            Backend::Postgres => self.conn.get_postgres_connection_pool().close().await,
        }
    }

    /// Runs one statement given as SQL text. Only for statements that have
    /// no parameters and read the same on both backends (DDL in tests, pragmas).
    pub async fn execute_unprepared(&self, sql: &str) -> Result<(), DbErr> {
        self.conn.execute_unprepared(sql).await.map(|_| ())
    }
}

/// Puts the SQLite file in WAL mode once, before the pool opens. WAL is a
/// property of the file, so pooled connections then need not ask for it;
/// asking takes an exclusive lock that the busy timeout does not wait for,
/// and fails when several connections (or processes) open a new file at once.
async fn switch_to_wal(options: &SqliteConnectOptions) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    let options = options.clone().journal_mode(SqliteJournalMode::Wal);
    let mut attempt = 0;
    loop {
        match options.connect().await {
            Ok(conn) => return conn.close().await.map_err(Into::into),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("5") && attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
            }
            Err(e) => anyhow::bail!("cannot open the SQLite database: {e}"),
        }
    }
}

/// A transaction from [`Database::begin`]. It holds the process's SQLite
/// write turn until committed or dropped (rolled back).
pub struct Transaction {
    txn: DatabaseTransaction,
    audit_key: Option<Arc<DataKey>>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Transaction {
    /// The audit chain's key of the database this transaction runs on.
    pub fn audit_key(&self) -> Option<&DataKey> {
        self.audit_key.as_deref()
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for Transaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Transaction {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: sea_orm::Statement) -> Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(
        &self,
        stmt: sea_orm::Statement,
    ) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(
        &self,
        stmt: sea_orm::Statement,
    ) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transaction")
    }
}

/// Creates a directory readable by its owner only, as it will hold the
/// database and the master key.
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| anyhow::anyhow!("cannot create directory {}: {e}", dir.display()))
}
