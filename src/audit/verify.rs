//! Checking the chain end to end, as an operator or an auditor would.
//!
//! The guard triggers stop changes made through the application's
//! connection; verification catches the rest (a superuser disabling the
//! triggers, a restored backup edited offline): any event changed, removed
//! or reordered since it was written. Events are keyed (an HMAC under the
//! audit chain key, see [`super::key`]), so an administrator without the
//! master key cannot rewrite an event and recompute the hashes after it.
//! Cutting the tail off and moving the head back leaves a shorter chain
//! that is whole; the signed checkpoints kept outside the database catch
//! that ([`super::checkpoint`]).

use std::fmt;

use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::chain::{GENESIS_HASH, expected_hash, hex};
use super::store::{chain, events};
use crate::crypto::DataKey;
use crate::db::Database;

/// Events read per query, so that verifying never holds the whole log in memory.
const PAGE: u64 = 1000;

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyReport {
    /// Every event up to the head links to the one before and hashes to
    /// what it says; `head` is the hex hash of the last one, and events
    /// from `keyed_from` on are keyed.
    Intact {
        events: u64,
        head: String,
        keyed_from: i64,
    },
    /// The first place where the chain is broken.
    Broken(ChainBreak),
}

/// Where the chain breaks: the event at `seq` (with its `id` when the event
/// exists) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub id: Option<Uuid>,
    pub reason: BreakReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakReason {
    /// The stored hash is not the hash of the stored columns: the event was
    /// changed after it was written.
    HashMismatch,
    /// The event does not link to the hash of the event before it: an event
    /// before it was changed and rehashed, or events were reordered.
    PrevHashMismatch,
    /// No event has this `seq`: it was deleted. `next` is the next `seq`
    /// present, if any.
    Missing { next: Option<i64> },
    /// The head row does not record the last event's hash.
    HeadMismatch,
    /// The event lies past the chain head at `head`: the head was moved back.
    AfterHead { head: i64 },
    /// The event is keyed, but there is no audit chain key to check it
    /// with: the database's `audit-chain` data key was deleted.
    KeyMissing,
    /// The head says keying begins at this `seq`, past its last event: it
    /// was edited so that keyed events would be taken for unkeyed ones.
    KeyedFromPastHead { head: i64 },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "event seq {} (id {id}) ", self.seq)?,
            None => write!(f, "event seq {} ", self.seq)?,
        }
        match self.reason {
            BreakReason::HashMismatch => {
                f.write_str("does not match its hash: it was changed after it was written")
            }
            BreakReason::PrevHashMismatch => f.write_str(
                "does not link to the event before it: that event was rewritten or events were reordered",
            ),
            BreakReason::Missing { next: Some(next) } => {
                write!(f, "is missing (the next event is seq {next}): it was deleted")
            }
            BreakReason::Missing { next: None } => {
                f.write_str("is missing (the chain head records it, the log ends before it)")
            }
            BreakReason::HeadMismatch => {
                f.write_str("is the last event, but the chain head records a different hash")
            }
            BreakReason::AfterHead { head } => write!(
                f,
                "lies past the chain head (seq {head}): the head was moved back"
            ),
            BreakReason::KeyMissing => f.write_str(
                "is keyed, but the database holds no audit chain key to check it: \
                 the `audit-chain` data key was deleted",
            ),
            BreakReason::KeyedFromPastHead { head } => write!(
                f,
                "is where the chain head says keying begins, past its last event (seq {head}): \
                 the head was edited"
            ),
        }
    }
}

/// Walks every event in `seq` order up to the chain head, page by page,
/// recomputing hashes and links; reports the first break.
///
/// The head is read first and only events up to it are checked, so appends
/// that commit while this runs neither disturb nor extend the check.
/// Keyed events are checked with the chain key `db` holds
/// ([`super::key::use_key`]).
pub async fn verify(db: &Database) -> Result<VerifyReport, DbErr> {
    let head = read_head(db).await?;
    if head.keyed_from > head.last_seq + 1 {
        return Ok(VerifyReport::Broken(ChainBreak {
            seq: head.keyed_from,
            id: None,
            reason: BreakReason::KeyedFromPastHead {
                head: head.last_seq,
            },
        }));
    }
    let mut walk = Walk::new(head.keyed_from, db.audit_key().map(|k| k.as_ref()));
    loop {
        let page = events::Entity::find()
            .filter(events::Column::Seq.gt(walk.last_seq))
            .filter(events::Column::Seq.lte(head.last_seq))
            .order_by_asc(events::Column::Seq)
            .limit(PAGE)
            .all(db.conn())
            .await?;
        let full = page.len() as u64 == PAGE;
        for row in &page {
            if let Some(found) = walk.step(row) {
                return Ok(VerifyReport::Broken(found));
            }
        }
        if !full {
            break;
        }
    }
    if let Some(found) = past_the_head(db).await? {
        return Ok(VerifyReport::Broken(found));
    }
    Ok(walk.finish(&head))
}

/// The head of the chain as last committed.
pub async fn read_head(db: &Database) -> Result<chain::Model, DbErr> {
    chain::Entity::find_by_id(chain::HEAD)
        .one(db.conn())
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the audit_chain head row is missing".to_owned()))
}

/// The newest event when it lies past the head. Its head is read after it:
/// an append commits its events and the head together, so a legitimate
/// event is never newer than a head read after it.
async fn past_the_head(db: &Database) -> Result<Option<ChainBreak>, DbErr> {
    let newest = events::Entity::find()
        .order_by_desc(events::Column::Seq)
        .one(db.conn())
        .await?;
    let head = read_head(db).await?;
    Ok(newest
        .filter(|row| row.seq > head.last_seq)
        .map(|row| ChainBreak {
            seq: row.seq,
            id: Some(row.id),
            reason: BreakReason::AfterHead {
                head: head.last_seq,
            },
        }))
}

/// The state of a walk along the chain.
struct Walk<'k> {
    last_seq: i64,
    last_id: Option<Uuid>,
    last_hash: Vec<u8>,
    count: u64,
    keyed_from: i64,
    key: Option<&'k DataKey>,
}

impl<'k> Walk<'k> {
    fn new(keyed_from: i64, key: Option<&'k DataKey>) -> Self {
        Self {
            last_seq: 0,
            last_id: None,
            last_hash: GENESIS_HASH.to_vec(),
            count: 0,
            keyed_from,
            key,
        }
    }

    /// Checks the next row; returns the break if it is one.
    fn step(&mut self, row: &events::Model) -> Option<ChainBreak> {
        let expected = self.last_seq + 1;
        let broken = |seq, id, reason| Some(ChainBreak { seq, id, reason });
        if row.seq != expected {
            return broken(
                expected,
                None,
                BreakReason::Missing {
                    next: Some(row.seq),
                },
            );
        }
        if row.prev_hash != self.last_hash {
            return broken(row.seq, Some(row.id), BreakReason::PrevHashMismatch);
        }
        match expected_hash(row, self.keyed_from, self.key) {
            None => return broken(row.seq, Some(row.id), BreakReason::KeyMissing),
            Some(hash) if row.hash != hash => {
                return broken(row.seq, Some(row.id), BreakReason::HashMismatch);
            }
            Some(_) => {}
        }
        self.last_seq = row.seq;
        self.last_id = Some(row.id);
        self.last_hash.clone_from(&row.hash);
        self.count += 1;
        None
    }

    /// Checks that the walk ended where the head says the chain ends.
    fn finish(self, head: &chain::Model) -> VerifyReport {
        if self.last_seq < head.last_seq {
            return VerifyReport::Broken(ChainBreak {
                seq: self.last_seq + 1,
                id: None,
                reason: BreakReason::Missing { next: None },
            });
        }
        if self.last_hash != head.last_hash {
            return VerifyReport::Broken(ChainBreak {
                seq: self.last_seq,
                id: self.last_id,
                reason: BreakReason::HeadMismatch,
            });
        }
        VerifyReport::Intact {
            events: self.count,
            head: hex(&self.last_hash),
            keyed_from: self.keyed_from,
        }
    }
}
