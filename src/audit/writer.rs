//! Group commit for the events of reads.
//!
//! A read of patient data must not be answered before its audit event is
//! durable, but giving every read its own write transaction would make
//! reads queue on the chain lock one commit at a time. One writer task per
//! server takes every event queued while it was committing the last batch
//! and appends them all in one transaction: one lock, one commit, however
//! many readers wait on it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::chain::append;
use super::event::AuditEvent;
use crate::db::Database;
use crate::error::ApiError;

/// Events per transaction, about: a batch is closed once it holds this
/// many, so one commit (and the wait of its readers) stays short.
const MAX_BATCH_EVENTS: usize = 1000;

/// Requests waiting for the writer; beyond this, `record` waits to enqueue,
/// which slows readers down instead of growing memory without bound.
const QUEUE_CAPACITY: usize = 4096;

/// Why events could not be recorded. Cloneable because one failed commit
/// answers every request of its batch.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log could not be written: {0}")]
    Write(Arc<DbErr>),
    #[error("the audit writer has stopped")]
    Stopped,
}

impl From<AuditError> for ApiError {
    /// A read whose event cannot be recorded is not served.
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Stopped => ApiError::Unavailable("the server is shutting down".to_owned()),
            AuditError::Write(_) => ApiError::Internal(err.into()),
        }
    }
}

/// A handle to the server's audit writer task. Cheap to clone; every clone
/// feeds the same task.
#[derive(Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Request>,
    stop: CancellationToken,
    commits: Arc<AtomicU64>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// Events of one `record` call and where to answer it.
struct Request {
    events: Vec<AuditEvent>,
    done: oneshot::Sender<Result<(), AuditError>>,
}

impl AuditWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub fn start(db: Database) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE_CAPACITY);
        let stop = CancellationToken::new();
        let commits = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(db, requests, stop.clone(), commits.clone()));
        Self {
            queue,
            stop,
            commits,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Appends `events` to the audit log and returns once the transaction
    /// holding them has committed. An error means they are not in the log:
    /// the caller must not serve what they record.
    pub async fn record(&self, events: Vec<AuditEvent>) -> Result<(), AuditError> {
        if events.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Request { events, done })
            .await
            .map_err(|_| AuditError::Stopped)?;
        answer.await.map_err(|_| AuditError::Stopped)?
    }

    /// How many batches the writer has committed since it started.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Stops taking events, writes every event already queued, and returns
    /// when the task has ended. Later `record` calls fail with
    /// [`AuditError::Stopped`].
    pub async fn stop(&self) {
        self.stop.cancel();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the audit writer task failed");
        }
    }
}

impl fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditWriter")
            .field("commits", &self.commits())
            .field("stopped", &self.stop.is_cancelled())
            .finish()
    }
}

/// The writer task: one batch at a time until stopped or every handle is
/// dropped; when stopped, drains what is queued before ending.
async fn run(
    db: Database,
    mut requests: mpsc::Receiver<Request>,
    stop: CancellationToken,
    commits: Arc<AtomicU64>,
) {
    loop {
        let first = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            request = requests.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        write_batch(&db, first, &mut requests, &commits).await;
    }
    requests.close();
    while let Some(first) = requests.recv().await {
        write_batch(&db, first, &mut requests, &commits).await;
    }
}

/// Appends `first` and whatever else is queued (up to [`MAX_BATCH_EVENTS`])
/// in one transaction, then answers each request with the outcome.
async fn write_batch(
    db: &Database,
    first: Request,
    requests: &mut mpsc::Receiver<Request>,
    commits: &AtomicU64,
) {
    let mut events = first.events;
    let mut waiters = vec![first.done];
    while events.len() < MAX_BATCH_EVENTS {
        let Ok(request) = requests.try_recv() else {
            break;
        };
        events.extend(request.events);
        waiters.push(request.done);
    }
    let outcome = commit(db, events).await.map_err(|e| {
        tracing::error!(error = %e, requests = waiters.len(), "cannot write audit events");
        AuditError::Write(Arc::new(e))
    });
    if outcome.is_ok() {
        commits.fetch_add(1, Ordering::Relaxed);
    }
    for waiter in waiters {
        // A request whose caller has gone needs no answer.
        let _ = waiter.send(outcome.clone());
    }
}

async fn commit(db: &Database, events: Vec<AuditEvent>) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    append(&txn, events).await?;
    txn.commit().await
}
