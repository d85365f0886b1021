//! Throttling failed sign-ins so that they slow the attacker, not the
//! owner (OWASP's authentication guidance: per account and address limits
//! and delays rather than a global lock):
//! - one address guessing one account is blocked after [`PAIR_LIMIT`]
//!   failures;
//! - an account guessed from everywhere is blocked after [`ACCOUNT_LIMIT`],
//!   but only for addresses it has not signed in from before: the owner's
//!   usual device still gets in;
//! - an address failing against many accounts is slowed down (each failure
//!   answered after [`SLOW_DOWN`]) past [`ADDRESS_LIMIT`], but valid
//!   credentials from it are never refused: a clinic's shared address
//!   carries many people.
//!
//! Counters live in the database so every server behind a load balancer
//! sees the same ones. They are keyed by blind indexes of the address and
//! the email whether or not an account has it, so a blocked response says
//! nothing about which emails exist.

use std::net::IpAddr;
use std::time::Duration;

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QuerySelect};

use crate::crypto::DataKey;
use crate::time::Timestamp;

/// Failures allowed from one address against one email within the window.
pub const PAIR_LIMIT: i32 = 5;
/// Failures allowed against one email from everywhere within the window;
/// past it only addresses the account signed in from before may try.
pub const ACCOUNT_LIMIT: i32 = 20;
/// Failures from one address (over any emails) before its failures are
/// answered slowly.
pub const ADDRESS_LIMIT: i32 = 30;
pub const WINDOW_SECS: i64 = 15 * 60;
pub const BLOCK_SECS: i64 = 15 * 60;
/// How long a failure from a busy address waits before it is answered.
pub const SLOW_DOWN: Duration = Duration::from_secs(1);
/// How long after a successful sign-in an address counts as known.
pub const KNOWN_SECS: i64 = 30 * 24 * 60 * 60;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_throttle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub throttle_key: Vec<u8>,
    pub failures: i32,
    pub window_started_at: Timestamp,
    pub blocked_until: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The counters one sign-in attempt touches. A row under `known` records
/// the last successful sign-in of the email from the address
/// (`window_started_at`).
pub struct Counters {
    pair: Vec<u8>,
    email: Vec<u8>,
    address: Option<Vec<u8>>,
    known: Vec<u8>,
}

impl Counters {
    pub fn new(key: &DataKey, normalized_email: &str, address: Option<IpAddr>) -> Self {
        let address_text = address.map(|ip| ip.to_string()).unwrap_or_default();
        let pair_text = format!("{normalized_email}\n{address_text}");
        let index = |purpose: &str, text: &str| key.blind_index(purpose, text).as_bytes().to_vec();
        Self {
            pair: index("throttle-pair", &pair_text),
            email: index("throttle-email", normalized_email),
            address: address.map(|_| index("throttle-address", &address_text)),
            known: index("throttle-known", &pair_text),
        }
    }

    fn each(&self) -> impl Iterator<Item = (&Vec<u8>, i32)> {
        [(&self.pair, PAIR_LIMIT), (&self.email, ACCOUNT_LIMIT)]
            .into_iter()
            .chain(self.address.iter().map(|a| (a, ADDRESS_LIMIT)))
    }
}

/// Until when this sign-in is refused, if it is: this address has guessed
/// this email too often, or the email is under attack from everywhere and
/// this address is not one it signed in from before. A busy address alone
/// refuses nothing.
pub async fn blocked_until(
    db: &impl ConnectionTrait,
    counters: &Counters,
) -> Result<Option<Timestamp>, DbErr> {
    let now = Timestamp::now();
    let keys = vec![
        counters.pair.clone(),
        counters.email.clone(),
        counters.known.clone(),
    ];
    let rows = Entity::find()
        .filter(Column::ThrottleKey.is_in(keys))
        .all(db)
        .await?;
    let row = |key: &Vec<u8>| rows.iter().find(|r| &r.throttle_key == key);
    let blocked = |key: &Vec<u8>| {
        row(key)
            .and_then(|r| r.blocked_until)
            .filter(|until| *until > now)
    };
    let known =
        row(&counters.known).is_some_and(|r| r.window_started_at.plus_secs(KNOWN_SECS) > now);
    let email = blocked(&counters.email).filter(|_| !known);
    Ok(blocked(&counters.pair).max(email))
}

/// Refuses with 429 (and when to retry) an attempt [`blocked_until`] blocks.
pub async fn refuse_if_blocked(
    db: &impl ConnectionTrait,
    counters: &Counters,
) -> Result<(), crate::error::ApiError> {
    let Some(until) = blocked_until(db, counters).await? else {
        return Ok(());
    };
    let wait = (until.as_micros() - Timestamp::now().as_micros()) / 1_000_000;
    Err(crate::error::ApiError::TooManyRequests {
        retry_after_secs: u64::try_from(wait.max(1)).unwrap_or(1),
    })
}

/// Counts a failure against every counter, blocking those over their
/// limit; true when the address is busy and the answer should wait
/// [`SLOW_DOWN`].
pub async fn record_failure(db: &impl ConnectionTrait, counters: &Counters) -> Result<bool, DbErr> {
    let now = Timestamp::now();
    let mut slow = false;
    for (key, limit) in counters.each() {
        // Make sure the row exists, then lock it (PostgreSQL) and count.
        ensure_counter(db, key, now).await?;
        let Some(row) = Entity::find_by_id(key.clone())
            .lock_exclusive()
            .one(db)
            .await?
        else {
            continue;
        };
        let (failures, window_started_at) = if row.window_started_at.plus_secs(WINDOW_SECS) <= now {
            (1, now)
        } else {
            (row.failures + 1, row.window_started_at)
        };
        let blocked_until = (failures >= limit).then(|| now.plus_secs(BLOCK_SECS));
        if Some(key) == counters.address.as_ref() && failures >= limit {
            slow = true;
        }
        let mut active: ActiveModel = row.into();
        active.failures = ActiveValue::Set(failures);
        active.window_started_at = ActiveValue::Set(window_started_at);
        active.blocked_until =
            ActiveValue::Set(blocked_until.or(active.blocked_until.take().flatten()));
        active.update(db).await?;
    }
    Ok(slow)
}

/// After a successful sign-in: forgets this address's failures against
/// the email, and remembers the address as one the email signs in from.
/// The email and address counters stay: one success must not reset a
/// guessing run.
pub async fn record_success(db: &impl ConnectionTrait, counters: &Counters) -> Result<(), DbErr> {
    Entity::delete_by_id(counters.pair.clone()).exec(db).await?;
    let now = Timestamp::now();
    Entity::insert(ActiveModel {
        throttle_key: ActiveValue::Set(counters.known.clone()),
        failures: ActiveValue::Set(0),
        window_started_at: ActiveValue::Set(now),
        blocked_until: ActiveValue::Set(None),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(Column::ThrottleKey)
            .update_column(Column::WindowStartedAt)
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// Requests that may send a mail (recovery, sign-up) per email address and
/// per client address within [`WINDOW_SECS`]: enough for a person who
/// lost a message, too few to flood a mailbox or the mail server.
pub const MAIL_PER_EMAIL: i32 = 3;
pub const MAIL_PER_ADDRESS: i32 = 20;

/// Counts a request that may send a mail to `normalized_email`; refuses it
/// (429) past either limit. Known and unknown emails count alike, so the
/// refusal says nothing about which exist.
pub async fn limit_mail(
    db: &impl ConnectionTrait,
    key: &DataKey,
    normalized_email: &str,
    address: Option<IpAddr>,
) -> Result<(), crate::error::ApiError> {
    let email = key.blind_index("mail-email", normalized_email);
    let mut counters = vec![(email.as_bytes().to_vec(), MAIL_PER_EMAIL)];
    if let Some(ip) = address {
        let address = key.blind_index("mail-address", &ip.to_string());
        counters.push((address.as_bytes().to_vec(), MAIL_PER_ADDRESS));
    }
    let now = Timestamp::now();
    let mut refused_until = None;
    for (counter, limit) in counters {
        let row = count(db, counter, now).await?;
        if row.failures > limit {
            let until = row.window_started_at.plus_secs(WINDOW_SECS);
            refused_until = refused_until.max(Some(until));
        }
    }
    match refused_until {
        Some(until) => {
            let wait = (until.as_micros() - now.as_micros()) / 1_000_000;
            Err(crate::error::ApiError::TooManyRequests {
                retry_after_secs: u64::try_from(wait.max(1)).unwrap_or(1),
            })
        }
        None => Ok(()),
    }
}

/// Makes the counter `key` exist (at zero, its window starting `now`)
/// unless it does.
async fn ensure_counter(
    db: &impl ConnectionTrait,
    key: &[u8],
    now: Timestamp,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        throttle_key: ActiveValue::Set(key.to_vec()),
        failures: ActiveValue::Set(0),
        window_started_at: ActiveValue::Set(now),
        blocked_until: ActiveValue::Set(None),
    })
    .on_conflict_do_nothing_on([Column::ThrottleKey])
    .exec(db)
    .await?;
    Ok(())
}

/// Adds one to the counter `key` in its window (a new window once the old
/// one ran out) and returns it.
async fn count(db: &impl ConnectionTrait, key: Vec<u8>, now: Timestamp) -> Result<Model, DbErr> {
    ensure_counter(db, &key, now).await?;
    let expired = Column::WindowStartedAt.lte(now.plus_secs(-WINDOW_SECS));
    Entity::update_many()
        .col_expr(Column::Failures, Expr::value(0))
        .col_expr(Column::WindowStartedAt, Expr::value(now))
        .filter(Column::ThrottleKey.eq(key.clone()))
        .filter(expired)
        .exec(db)
        .await?;
    // One statement, so two servers counting at once both count.
    Entity::update_many()
        .col_expr(
            Column::Failures,
            sea_orm::sea_query::ExprTrait::add(Expr::col(Column::Failures), 1),
        )
        .filter(Column::ThrottleKey.eq(key.clone()))
        .exec(db)
        .await?;
    Entity::find_by_id(key)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("a throttle counter".to_owned()))
}

/// Runs `work` after the answer, so that what it does (or does not do)
/// cannot be told from the answer's timing. A failure is logged.
pub fn off_the_request_path(
    what: &'static str,
    work: impl std::future::Future<Output = Result<(), crate::error::ApiError>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(error) = work.await {
            tracing::warn!(%error, "{what} failed after its answer");
        }
    });
}
