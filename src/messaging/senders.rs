//! The names of the people who sent messages (seed 002's "recent messages
//! with sender names"): one query for a page, opened with the
//! installation key that seals account names.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::messages;
use crate::crypto::DataKey;
use crate::identity::accounts;

/// Each sender of `rows` and their name, when they gave one. Reads on
/// `db`: inside a transaction, pass the transaction, never the pool (a
/// handler holding a connection must not wait for a second one). `key` is
/// the installation's key, which seals account names.
pub async fn names(
    db: &impl ConnectionTrait,
    key: &DataKey,
    rows: &[messages::Model],
) -> anyhow::Result<HashMap<Uuid, Option<String>>> {
    let mut ids: Vec<Uuid> = rows.iter().filter_map(|r| r.sender_id).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    accounts::names(db, key, &ids).await
}
