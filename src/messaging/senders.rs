//! The names of the people who sent messages (seed 002's "recent messages
//! with sender names"): one query for a page, opened with the
//! installation key that seals account names.

use std::collections::HashMap;

use sea_orm::QuerySelect;
use sea_orm::entity::prelude::*;

use super::messages;
use crate::app::AppState;
use crate::crypto::FieldRef;
use crate::identity::accounts;

/// Each sender of `rows` and their name, when they gave one.
pub async fn names(
    state: &AppState,
    rows: &[messages::Model],
) -> anyhow::Result<HashMap<Uuid, Option<String>>> {
    let mut ids: Vec<Uuid> = rows.iter().filter_map(|r| r.sender_id).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(Uuid, Option<crate::crypto::Sealed>)> = accounts::Entity::find()
        .select_only()
        .column(accounts::Column::Id)
        .column(accounts::Column::FullName)
        .filter(accounts::Column::Id.is_in(ids))
        .into_tuple()
        .all(state.db.conn())
        .await?;
    let key = state.keyring.installation().await?;
    found
        .into_iter()
        .map(|(id, sealed)| {
            let name = sealed
                .map(|s| key.open_string(FieldRef::new(accounts::TABLE, "full_name", id), &s))
                .transpose()?;
            Ok((id, name))
        })
        .collect()
}
