//! Which master key this database belongs to.
//!
//! The first server to start on an empty database records its key id; every
//! later start must present the same key. A missing key file is never
//! replaced by a fresh key once data exists, because data encrypted under
//! the lost key would silently become unreadable.

use std::path::Path;

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};

use super::MasterKey;
use crate::db::Database;
use crate::db::migrate::hold_startup_lock;
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "crypto_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: String,
    pub status: KeyStatus,
    pub created_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Whether a key still encrypts new data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum KeyStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "retired")]
    Retired,
}

/// What happened when the master key was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The key file existed and matches the database.
    Existing,
    /// No key file and no encrypted data: a new key was made.
    Created,
}

/// Opens the master key at `path` and checks it against the database,
/// creating both on first start. Runs under the startup lock so that two
/// servers starting together on a fresh PostgreSQL cannot record two keys.
pub async fn open_master_key(db: &Database, path: &Path) -> anyhow::Result<(MasterKey, KeyOrigin)> {
    let txn = db.begin().await?;
    hold_startup_lock(db, &txn).await?;
    let recorded: Vec<String> = Entity::find()
        .filter(Column::Status.eq(KeyStatus::Active))
        .all(&txn)
        .await?
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    let (key, origin) = match MasterKey::read(path)? {
        Some(key) => (key, KeyOrigin::Existing),
        None if recorded.is_empty() => (MasterKey::create(path)?, KeyOrigin::Created),
        None => anyhow::bail!(
            "the master key file {} is missing, but this database is encrypted with key {}. \
             Restore the key file from your backup; carebase will not make a new key for existing data.",
            path.display(),
            recorded.join(", ")
        ),
    };
    if recorded.is_empty() {
        record(&txn, &key).await?;
    } else if !recorded.iter().any(|id| id == key.id()) {
        anyhow::bail!(
            "the master key in {} (key {}) is not the key this database is encrypted with ({}). \
             Point master_key_file at the right key.",
            path.display(),
            key.id(),
            recorded.join(", ")
        );
    }
    txn.commit().await?;
    Ok((key, origin))
}

async fn record(db: &impl ConnectionTrait, key: &MasterKey) -> Result<(), DbErr> {
    ActiveModel {
        key_id: ActiveValue::Set(key.id().to_owned()),
        status: ActiveValue::Set(KeyStatus::Active),
        created_at: ActiveValue::Set(Timestamp::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
