//! Throttling failed sign-ins, per email and per client address.
//!
//! Counters live in the database so every server behind a load balancer
//! sees the same ones. The email counter is keyed by a blind index of the
//! address whether or not an account has it, so a blocked response says
//! nothing about which emails exist.

use std::net::IpAddr;

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QuerySelect};

use crate::crypto::DataKey;
use crate::time::Timestamp;

/// Failures allowed per email within the window before it is blocked.
pub const EMAIL_LIMIT: i32 = 5;
/// Failures allowed per client address within the window (a clinic's
/// shared address carries many users, so more).
pub const ADDRESS_LIMIT: i32 = 30;
pub const WINDOW_SECS: i64 = 15 * 60;
pub const BLOCK_SECS: i64 = 15 * 60;

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

/// The counters one sign-in attempt touches.
pub struct Counters {
    email: Vec<u8>,
    address: Option<Vec<u8>>,
}

impl Counters {
    pub fn new(key: &DataKey, normalized_email: &str, address: Option<IpAddr>) -> Self {
        Self {
            email: key
                .blind_index("throttle-email", normalized_email)
                .as_bytes()
                .to_vec(),
            address: address.map(|ip| {
                key.blind_index("throttle-address", &ip.to_string())
                    .as_bytes()
                    .to_vec()
            }),
        }
    }

    fn each(&self) -> impl Iterator<Item = (&Vec<u8>, i32)> {
        std::iter::once((&self.email, EMAIL_LIMIT))
            .chain(self.address.iter().map(|a| (a, ADDRESS_LIMIT)))
    }
}

/// Until when sign-in is blocked for these counters, if it is.
pub async fn blocked_until(
    db: &impl ConnectionTrait,
    counters: &Counters,
) -> Result<Option<Timestamp>, DbErr> {
    let now = Timestamp::now();
    let keys: Vec<Vec<u8>> = counters.each().map(|(k, _)| k.clone()).collect();
    let rows = Entity::find()
        .filter(Column::ThrottleKey.is_in(keys))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.blocked_until)
        .filter(|until| *until > now)
        .max())
}

/// Counts a failure against every counter, blocking those over their limit.
pub async fn record_failure(db: &impl ConnectionTrait, counters: &Counters) -> Result<(), DbErr> {
    let now = Timestamp::now();
    for (key, limit) in counters.each() {
        // Make sure the row exists, then lock it (PostgreSQL) and count.
        Entity::insert(ActiveModel {
            throttle_key: ActiveValue::Set(key.clone()),
            failures: ActiveValue::Set(0),
            window_started_at: ActiveValue::Set(now),
            blocked_until: ActiveValue::Set(None),
        })
        .on_conflict_do_nothing_on([Column::ThrottleKey])
        .exec(db)
        .await?;
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
        let mut active: ActiveModel = row.into();
        active.failures = ActiveValue::Set(failures);
        active.window_started_at = ActiveValue::Set(window_started_at);
        active.blocked_until =
            ActiveValue::Set(blocked_until.or(active.blocked_until.take().flatten()));
        active.update(db).await?;
    }
    Ok(())
}

/// Forgets the email's failures after a successful sign-in. The address
/// counter stays: one success must not reset a guessing run from that address.
pub async fn clear_email(db: &impl ConnectionTrait, counters: &Counters) -> Result<(), DbErr> {
    Entity::delete_by_id(counters.email.clone())
        .exec(db)
        .await?;
    Ok(())
}
