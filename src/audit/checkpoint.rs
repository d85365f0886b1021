//! Signed checkpoints of the chain head, kept where the database's
//! administrators cannot write.
//!
//! A keyed chain cannot be rewritten without the key, but it can be cut:
//! delete the newest events and move the head back, and what is left is a
//! whole chain. So every server, every `checkpoint_interval_secs` while the
//! chain grows and once more when it stops, writes the head (`seq`, hash,
//! where keying began, when) with a MAC under the audit chain key, both as
//! a log line and into the object store under `audit/checkpoints/`. Then
//! `carebase audit verify --checkpoint <file or "store">` finds a chain
//! shorter than a checkpoint (its tail was cut) or with another hash at a
//! checkpointed `seq` (it was rewritten). Several servers on one database
//! write the same checkpoints; duplicates are harmless.

use std::time::Duration;

use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::chain::hex;
use super::settings::AuditSettings;
use super::store::events;
use super::verify::read_head;
use crate::app::AppState;
use crate::crypto::DataKey;
use crate::db::Database;
use crate::storage::{FileStore, FileStoreError};
use crate::time::Timestamp;

/// Where checkpoints go in the object store, apart from every row's files.
pub const PREFIX: &str = "audit/checkpoints";

/// What a checkpoint's MAC is for, so it is never taken for an event's.
const PURPOSE: &str = "carebase/audit-checkpoint/v1";

/// The message of the log line that carries a checkpoint.
pub const LOG_MESSAGE: &str = "audit checkpoint";

/// The chain head at one moment, signed with the audit chain key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    /// The hex hash of the event at `seq`.
    pub hash: String,
    /// The first keyed `seq` then: a later head claiming another one was
    /// edited to pass keyed events off as unkeyed.
    pub keyed_from: i64,
    pub at: Timestamp,
    /// The data key that signed it.
    pub key_id: Uuid,
    /// Hex HMAC of the fields above under that key.
    pub mac: String,
}

/// The signed part of a checkpoint, in a fixed order.
#[derive(Serialize)]
struct Signed<'a> {
    seq: i64,
    hash: &'a str,
    keyed_from: i64,
    at: i64,
    key_id: Uuid,
}

impl Checkpoint {
    pub fn sign(key: &DataKey, seq: i64, hash: &[u8], keyed_from: i64, at: Timestamp) -> Self {
        let mut checkpoint = Self {
            seq,
            hash: hex(hash),
            keyed_from,
            at,
            key_id: key.id(),
            mac: String::new(),
        };
        checkpoint.mac = hex(&key.mac(PURPOSE, &checkpoint.signed_bytes()));
        checkpoint
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let signed = Signed {
            seq: self.seq,
            hash: &self.hash,
            keyed_from: self.keyed_from,
            at: self.at.as_micros(),
            key_id: self.key_id,
        };
        serde_json::to_vec(&signed).expect("integers, a string and a UUID serialize")
    }

    /// Whether `key` made this checkpoint, unchanged.
    pub fn is_genuine(&self, key: &DataKey) -> bool {
        self.key_id == key.id() && hex(&key.mac(PURPOSE, &self.signed_bytes())) == self.mac
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a checkpoint serializes")
    }

    /// `audit/checkpoints/<seq, zero-padded>.json`: listed in `seq` order,
    /// and one object per head however many servers write it.
    pub fn object_path(&self) -> String {
        format!("{PREFIX}/{:020}.json", self.seq)
    }
}

/// The checkpoints in `text`: a checkpoint file (one JSON object a line),
/// or log lines in either format, from which the lines carrying one are
/// taken and the rest skipped.
pub fn parse(text: &str) -> Vec<Checkpoint> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Checkpoint> {
    let line = line.trim();
    if let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(line) {
        return Some(checkpoint);
    }
    // A JSON log line holds the checkpoint as the text of a field.
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(line) {
        let text = fields.get("checkpoint")?.as_str()?;
        return serde_json::from_str(text).ok();
    }
    // A human log line: `… audit checkpoint checkpoint={…}`.
    let (_, rest) = line.split_once("checkpoint={")?;
    let json = format!("{{{rest}");
    serde_json::Deserializer::from_str(&json)
        .into_iter::<Checkpoint>()
        .next()?
        .ok()
}

/// Why a checkpoint could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the audit chain head: {0}")]
    Database(#[from] DbErr),
    #[error("the audit chain key is not loaded")]
    NoKey,
    #[error("cannot write the checkpoint to the object store: {0}")]
    Store(#[from] FileStoreError),
}

/// Checkpoints the head as it is now: logs it, and writes it into `store`
/// when there is one. `None` while the chain is empty.
pub async fn take(
    db: &Database,
    store: Option<&FileStore>,
    at: Timestamp,
) -> Result<Option<Checkpoint>, CheckpointError> {
    let key = db.audit_key().ok_or(CheckpointError::NoKey)?;
    let head = read_head(db).await?;
    if head.last_seq == 0 {
        return Ok(None);
    }
    let checkpoint = Checkpoint::sign(key, head.last_seq, &head.last_hash, head.keyed_from, at);
    log(&checkpoint);
    if let Some(store) = store {
        let bytes = format!("{}\n", checkpoint.to_json()).into_bytes();
        store.put_record(&checkpoint.object_path(), bytes).await?;
    }
    Ok(Some(checkpoint))
}

/// The log line of a checkpoint: its JSON as one field, so it can be cut
/// out of the log into a file for `audit verify --checkpoint`.
pub fn log(checkpoint: &Checkpoint) {
    tracing::info!(checkpoint = %checkpoint.to_json(), "{LOG_MESSAGE}");
}

/// The checkpoints kept in `store`, and how many objects under the prefix
/// were not checkpoints.
pub async fn read_store(store: &FileStore) -> Result<(Vec<Checkpoint>, usize), FileStoreError> {
    let mut found = Vec::new();
    let mut unreadable = 0;
    for path in store.list_records(PREFIX).await? {
        let bytes = store.get_record(&path).await?;
        let parsed = parse(&String::from_utf8_lossy(&bytes));
        if parsed.is_empty() {
            unreadable += 1;
        }
        found.extend(parsed);
    }
    Ok((found, unreadable))
}

/// This server's checkpoint writer, until `stop`; then one last checkpoint.
pub fn spawn(state: AppState, stop: CancellationToken) -> JoinHandle<()> {
    let settings = state.config.section::<AuditSettings>();
    let every = Duration::from_secs(settings.checkpoint_interval_secs);
    let store = match FileStore::from_settings(&state.config.files(), &state.config.data_dir) {
        Ok(store) => Some(store),
        Err(e) => {
            tracing::error!(error = %e, "audit checkpoints go to the log only: no object store");
            None
        }
    };
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let stopping = tokio::select! {
                () = stop.cancelled() => true,
                () = tokio::time::sleep(every) => false,
            };
            last = checkpoint_if_moved(&state.db, store.as_ref(), last).await;
            if stopping {
                break;
            }
        }
    })
}

/// Takes a checkpoint unless the head is still at `last`, the `seq` of the
/// last one taken; returns the `seq` now checkpointed.
async fn checkpoint_if_moved(
    db: &Database,
    store: Option<&FileStore>,
    last: Option<i64>,
) -> Option<i64> {
    match read_head(db).await {
        Ok(head) if Some(head.last_seq) == last => return last,
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot read the audit chain head for a checkpoint");
            return last;
        }
    }
    match take(db, store, Timestamp::now()).await {
        Ok(taken) => taken.map(|c| c.seq).or(last),
        Err(e) => {
            tracing::error!(error = %e, "cannot take an audit checkpoint");
            last
        }
    }
}

/// What the checkpoints say about the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Every genuine checkpoint matches the chain; `newest` is the highest
    /// `seq` among them.
    Agrees { checked: usize, newest: i64 },
    /// No checkpoint was signed by this database's audit chain key.
    NoneGenuine,
    /// The chain ends before a checkpointed `seq`: its tail was cut off and
    /// the head moved back.
    Truncated { checkpoint: Checkpoint, head: i64 },
    /// The event at a checkpointed `seq` has another hash: the chain up to
    /// it was rewritten.
    Rewritten {
        checkpoint: Checkpoint,
        found: String,
    },
    /// The head says keying began elsewhere than the checkpoint recorded.
    KeyedFromMoved { checkpoint: Checkpoint, head: i64 },
}

impl Finding {
    pub fn agrees(&self) -> bool {
        matches!(self, Finding::Agrees { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Agrees { checked, newest } => write!(
                f,
                "{checked} checkpoint(s) agree with the chain (the newest at seq {newest})"
            ),
            Finding::NoneGenuine => {
                f.write_str("no checkpoint signed with this database's audit chain key was found")
            }
            Finding::Truncated { checkpoint, head } => write!(
                f,
                "the chain ends at seq {head}, but the checkpoint of {} recorded seq {}: \
                 events were cut off its tail and the head moved back",
                checkpoint.at, checkpoint.seq
            ),
            Finding::Rewritten { checkpoint, found } => write!(
                f,
                "event seq {} has hash {found}, but the checkpoint of {} recorded {}: \
                 the chain up to it was rewritten",
                checkpoint.seq, checkpoint.at, checkpoint.hash
            ),
            Finding::KeyedFromMoved { checkpoint, head } => write!(
                f,
                "the chain head says keying began at seq {head}, but the checkpoint of {} \
                 recorded seq {}: the head was edited",
                checkpoint.at, checkpoint.keyed_from
            ),
        }
    }
}

/// Holds the chain against `checkpoints`, newest first, and reports the
/// first disagreement. Checkpoints `key` did not sign are skipped (the
/// caller counts them with [`Checkpoint::is_genuine`]).
pub async fn check(
    db: &Database,
    key: &DataKey,
    checkpoints: &[Checkpoint],
) -> Result<Finding, DbErr> {
    let mut genuine: Vec<&Checkpoint> = checkpoints.iter().filter(|c| c.is_genuine(key)).collect();
    genuine.sort_by_key(|c| std::cmp::Reverse(c.seq));
    genuine.dedup_by_key(|c| c.seq);
    let Some(newest) = genuine.first().map(|c| c.seq) else {
        return Ok(Finding::NoneGenuine);
    };
    let head = read_head(db).await?;
    for checkpoint in &genuine {
        let cut = || Finding::Truncated {
            checkpoint: (*checkpoint).clone(),
            head: head.last_seq,
        };
        if head.last_seq < checkpoint.seq {
            return Ok(cut());
        }
        if head.keyed_from != checkpoint.keyed_from {
            return Ok(Finding::KeyedFromMoved {
                checkpoint: (*checkpoint).clone(),
                head: head.keyed_from,
            });
        }
        let event = events::Entity::find()
            .filter(events::Column::Seq.eq(checkpoint.seq))
            .one(db.conn())
            .await?;
        let Some(event) = event else {
            return Ok(cut());
        };
        let found = hex(&event.hash);
        if found != checkpoint.hash {
            return Ok(Finding::Rewritten {
                checkpoint: (*checkpoint).clone(),
                found,
            });
        }
    }
    Ok(Finding::Agrees {
        checked: genuine.len(),
        newest,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    fn key() -> DataKey {
        DataKey::new(Uuid::now_v7(), &[3u8; 32])
    }

    fn sample(key: &DataKey) -> Checkpoint {
        Checkpoint::sign(
            key,
            42,
            &[0xab; 32],
            7,
            Timestamp::from_micros(1_795_000_000_000_000),
        )
    }

    #[test]
    fn a_checkpoint_is_genuine_only_unchanged_and_under_its_key() {
        let key = key();
        let checkpoint = sample(&key);
        assert!(checkpoint.is_genuine(&key));
        assert_eq!(
            checkpoint.object_path(),
            "audit/checkpoints/00000000000000000042.json"
        );
        let changed: [fn(&mut Checkpoint); 4] = [
            |c| c.seq = 41,
            |c| c.hash = "00".repeat(32),
            |c| c.keyed_from = 1,
            |c| c.at = Timestamp::from_micros(0),
        ];
        for change in changed {
            let mut forged = checkpoint.clone();
            change(&mut forged);
            assert!(!forged.is_genuine(&key), "{forged:?}");
        }
        let other = DataKey::new(key.id(), &[4u8; 32]);
        assert!(!checkpoint.is_genuine(&other));
    }

    /// A writer the test's subscriber logs into.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn the_log_line_carries_the_checkpoint_in_both_formats() {
        let key = key();
        let checkpoint = sample(&key);
        let human = Captured::default();
        let writer = human.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || log(&checkpoint));
        let json = Captured::default();
        let writer = json.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || log(&checkpoint));

        for (format, text) in [("human", human.text()), ("json", json.text())] {
            assert!(text.contains(LOG_MESSAGE), "{format}: {text}");
            let log_file = format!("an unrelated line\n{text}another line\n");
            assert_eq!(
                parse(&log_file),
                vec![checkpoint.clone()],
                "{format}: {text}"
            );
            assert!(parse(&log_file)[0].is_genuine(&key));
        }
        let file = format!("{}\n\n{}\n", checkpoint.to_json(), checkpoint.to_json());
        assert_eq!(parse(&file).len(), 2);
    }
}
