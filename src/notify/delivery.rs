//! The delivery worker: one task per server that sends pending email
//! (through SMTP) and text messages (through Twilio), each channel only
//! when its transport is configured.
//!
//! Several servers may share one database, and any of them may stop at any
//! moment, so a message is claimed before it is sent: its row is marked
//! `sending` with a lease (`claimed_until`), in one transaction with the
//! select that found it (see [`outbox::claim`]). The worker then sends each
//! claimed message and records the outcome, fenced by its lease end, so a
//! worker that lost its claim changes nothing. A whole batch takes at most
//! `CLAIM_BATCH × SEND_TIMEOUT`, well under the lease, and no send starts
//! later than `SEND_TIMEOUT` before the lease ends: a message is never in
//! the hands of two workers at once. A server that dies mid-batch leaves its
//! claims to run out; another server then retries them. That is the one
//! case in which a message can go out twice (SMTP offers no way to ask
//! whether the relay got it), which is why the Message-ID is stable.
//! Twilio has no idempotency key for messages either; the same holds.
//! Leases are compared on each server's own clock: servers sharing a
//! database need clocks that agree to well within the lease (NTP does).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use super::Notifier;
use super::outbox::{self, Channel, Letter, Model, Outcome};
use super::sms::Texter;
use super::smtp::{Mailer, SendFailure};
use crate::crypto::DataKey;
use crate::db::Database;
use crate::time::Timestamp;

/// How often an idle worker looks for due messages.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How many messages a worker claims at once.
const CLAIM_BATCH: u64 = 10;
/// The longest one send may take, connection included.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a claim lasts; longer than a batch can take (10 × 60 s).
const LEASE: Duration = Duration::from_secs(15 * 60);
/// Attempts before a message that keeps failing temporarily is given up.
pub const MAX_ATTEMPTS: i32 = 8;
const FIRST_RETRY: Duration = Duration::from_secs(60);
const LONGEST_RETRY: Duration = Duration::from_secs(4 * 60 * 60);

/// The transports this server delivers through: at least one is set.
pub(super) struct Transports {
    pub mailer: Option<Arc<Mailer>>,
    pub texter: Option<Arc<Texter>>,
}

impl Transports {
    /// The channels there is a transport for.
    fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::with_capacity(2);
        if self.mailer.is_some() {
            channels.push(Channel::Email);
        }
        if self.texter.is_some() {
            channels.push(Channel::Sms);
        }
        channels
    }

    async fn send(&self, row: &Model, letter: &Letter) -> Result<(), SendFailure> {
        let missing = || SendFailure {
            permanent: false,
            reason: "no transport".to_owned(),
        };
        match row.channel {
            Channel::Email => match &self.mailer {
                Some(mailer) => mailer.send(row.id, letter).await,
                None => Err(missing()),
            },
            Channel::Sms => match &self.texter {
                Some(texter) => texter.send(letter).await,
                None => Err(missing()),
            },
        }
    }
}

/// Delivers until `shutdown` is cancelled. A failed round (the database is
/// away, a bug panicked) is logged and retried at the next poll, so one bad
/// moment does not stop this server's messages for good.
pub(super) async fn run(
    notifier: Notifier,
    transports: Arc<Transports>,
    shutdown: CancellationToken,
) {
    tracing::info!(
        relay = transports.mailer.as_ref().map(|m| m.relay()),
        sms = transports.texter.is_some(),
        "message delivery started"
    );
    loop {
        let round = tokio::spawn(deliver_batch(
            notifier.clone(),
            transports.clone(),
            shutdown.clone(),
        ));
        let batch_was_full = match round.await {
            Ok(Ok(claimed)) => claimed as u64 >= CLAIM_BATCH,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "message delivery round failed; retrying shortly");
                false
            }
            Err(e) => {
                tracing::error!(
                    panicked = e.is_panic(),
                    "message delivery round stopped; retrying shortly"
                );
                false
            }
        };
        if shutdown.is_cancelled() {
            break;
        }
        if batch_was_full {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
    tracing::info!("message delivery stopped");
}

/// Claims one batch and sends it; returns how many messages were claimed.
/// On shutdown the current send finishes and the rest is handed back.
async fn deliver_batch(
    notifier: Notifier,
    transports: Arc<Transports>,
    shutdown: CancellationToken,
) -> Result<usize, super::NotifyError> {
    let db = notifier.db();
    let now = Timestamp::now();
    let channels = transports.channels();
    if !outbox::any_claimable(db, now, &channels).await? {
        return Ok(0);
    }
    let lease_end = now.saturating_add(LEASE);
    let rows = outbox::claim(db, now, lease_end, CLAIM_BATCH, &channels).await?;
    for (i, row) in rows.iter().enumerate() {
        let too_late = Timestamp::now().saturating_add(SEND_TIMEOUT) >= lease_end;
        if shutdown.is_cancelled() || too_late {
            outbox::release(db, &rows[i..], lease_end).await?;
            break;
        }
        deliver(db, notifier.key(), &transports, row, lease_end).await?;
    }
    Ok(rows.len())
}

/// Sends one claimed message and records what happened.
async fn deliver(
    db: &Database,
    key: &DataKey,
    transports: &Transports,
    row: &Model,
    lease_end: Timestamp,
) -> Result<(), sea_orm::DbErr> {
    let attempt = row.attempts.saturating_add(1);
    let result = match Letter::open(key, row) {
        Ok(letter) => tokio::time::timeout(SEND_TIMEOUT, transports.send(row, &letter))
            .await
            .unwrap_or_else(|_| {
                Err(SendFailure {
                    permanent: false,
                    reason: "timeout".to_owned(),
                })
            }),
        Err(e) => {
            tracing::error!(message_id = %row.id, error = %e, "an outbox message cannot be opened");
            Err(SendFailure {
                permanent: true,
                reason: "unreadable".to_owned(),
            })
        }
    };
    let now = Timestamp::now();
    let outcome = outcome(result, attempt, now);
    log(row, attempt, &outcome);
    if !outbox::record_attempt(db, row, lease_end, outcome, now).await? {
        tracing::warn!(
            message_id = %row.id,
            "the claim on an outbox message ran out before its outcome was recorded"
        );
    }
    Ok(())
}

/// Sent; given up (refused for good, or out of attempts); or retried later.
fn outcome(result: Result<(), SendFailure>, attempt: i32, now: Timestamp) -> Outcome {
    match result {
        Ok(()) => Outcome::Sent,
        Err(failure) if failure.permanent || attempt >= MAX_ATTEMPTS => Outcome::Failed {
            error: failure.reason,
        },
        Err(failure) => Outcome::Retry {
            at: now.saturating_add(retry_delay(attempt)),
            error: failure.reason,
        },
    }
}

/// One minute after the first failure, doubling each time, at most four
/// hours: a relay that is down for maintenance is not hammered, and eight
/// attempts span a little over four hours.
fn retry_delay(attempt: i32) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

fn log(row: &Model, attempt: i32, outcome: &Outcome) {
    match outcome {
        Outcome::Sent => {
            tracing::info!(message_id = %row.id, channel = ?row.channel, kind = row.kind, attempt, "message sent")
        }
        Outcome::Retry { at, error } => tracing::warn!(
            message_id = %row.id, channel = ?row.channel, kind = row.kind, attempt, error, retry_at = %at,
            "message not sent; will retry"
        ),
        Outcome::Failed { error } => tracing::error!(
            message_id = %row.id, channel = ?row.channel, kind = row.kind, attempt, error,
            "message not sent; given up (it stays readable in the outbox)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_a_minute_to_four_hours() {
        let minutes = |attempt| retry_delay(attempt).as_secs() / 60;
        assert_eq!(minutes(1), 1);
        assert_eq!(minutes(2), 2);
        assert_eq!(minutes(7), 64);
        assert_eq!(minutes(9), 240);
        assert_eq!(minutes(i32::MAX), 240);
        assert_eq!(minutes(0), 1);
    }

    #[test]
    fn permanent_refusals_and_the_last_attempt_give_up() {
        let now = Timestamp::now();
        let fail = |permanent| {
            Err(SendFailure {
                permanent,
                reason: "smtp 4xx".to_owned(),
            })
        };
        assert!(matches!(outcome(Ok(()), 1, now), Outcome::Sent));
        assert!(matches!(
            outcome(fail(true), 1, now),
            Outcome::Failed { .. }
        ));
        assert!(matches!(
            outcome(fail(false), MAX_ATTEMPTS, now),
            Outcome::Failed { .. }
        ));
        match outcome(fail(false), 1, now) {
            Outcome::Retry { at, error } => {
                assert_eq!(at, now.saturating_add(Duration::from_secs(60)));
                assert_eq!(error, "smtp 4xx");
            }
            _ => panic!("a first temporary failure is retried"),
        }
    }
}
