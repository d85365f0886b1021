//! Which master key this database belongs to (`crypto_keys`).
//!
//! The first server to start on an empty database records its key id; every
//! later start must present the active key. A missing key file is never
//! replaced by a fresh key once data exists, because data encrypted under
//! the lost key would silently become unreadable. Rotation retires the old
//! key and records the new one, in the same transaction that rewraps the
//! data keys.

use std::path::PathBuf;

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder};

use super::MasterKey;
use crate::config::{Config, SecretString};
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

/// Whether a master key is the one that wraps the data keys now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum KeyStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "retired")]
    Retired,
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A file, created on first start when the database holds no data yet;
    /// refused when others may read it, unless `allow_readable` says so.
    File { path: PathBuf, allow_readable: bool },
    /// The `master_key` setting (`CAREBASE_MASTER_KEY`); never created.
    Value(SecretString),
}

impl KeySource {
    pub fn from_config(config: &Config) -> Self {
        match &config.master_key {
            Some(value) => KeySource::Value(value.clone()),
            None => KeySource::File {
                path: config.master_key_path(),
                allow_readable: config.allow_readable_master_key,
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            KeySource::File { path, .. } => format!("the master key file {}", path.display()),
            KeySource::Value(_) => "the master_key setting".to_owned(),
        }
    }
}

/// What happened when the master key was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The key existed and matches the database.
    Existing,
    /// No key file and no encrypted data: a new key was made.
    Created,
}

/// Opens the master key and checks it against the database, creating both
/// on first start. Runs under the startup lock so that two servers starting
/// together on a fresh PostgreSQL cannot record two keys.
pub async fn open_master_key(
    db: &Database,
    source: &KeySource,
) -> anyhow::Result<(MasterKey, KeyOrigin)> {
    let txn = db.begin().await?;
    hold_startup_lock(db, &txn).await?;
    let active = active_key_ids(&txn).await?;
    let (key, origin) = match source {
        KeySource::Value(text) => (
            MasterKey::from_text(text.expose(), "the master_key setting")?,
            KeyOrigin::Existing,
        ),
        KeySource::File {
            path,
            allow_readable,
        } => match MasterKey::read(path, *allow_readable)? {
            Some(key) => (key, KeyOrigin::Existing),
            None if active.is_empty() => (MasterKey::create(path)?, KeyOrigin::Created),
            None => anyhow::bail!(
                "the master key file {} is missing, but this database is encrypted with key {}. \
                 Restore the key file from your backup; carebase will not make a new key for existing data.",
                path.display(),
                active.join(", ")
            ),
        },
    };
    if active.is_empty() {
        record(&txn, key.id(), KeyStatus::Active).await?;
    } else if !active.iter().any(|id| id == key.id()) {
        anyhow::bail!(
            "{} holds key {}, but this database is encrypted with key {}. \
             Point master_key_file (or master_key) at the right key.",
            source.describe(),
            key.id(),
            active.join(", ")
        );
    }
    txn.commit().await?;
    Ok((key, origin))
}

/// The ids of the active master keys (one, except mid-rotation).
pub async fn active_key_ids(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Ok(Entity::find()
        .filter(Column::Status.eq(KeyStatus::Active))
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|k| k.key_id)
        .collect())
}

/// Records that `retired` no longer wraps data keys and `active` does.
pub async fn record_rotation(
    db: &impl ConnectionTrait,
    retired: &MasterKey,
    active: &MasterKey,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(KeyStatus::Retired))
        .filter(Column::KeyId.eq(retired.id()))
        .exec(db)
        .await?;
    match Entity::find_by_id(active.id().to_owned()).one(db).await? {
        Some(_) => {
            Entity::update_many()
                .col_expr(Column::Status, Expr::value(KeyStatus::Active))
                .filter(Column::KeyId.eq(active.id()))
                .exec(db)
                .await?;
        }
        None => record(db, active.id(), KeyStatus::Active).await?,
    }
    Ok(())
}

async fn record(db: &impl ConnectionTrait, key_id: &str, status: KeyStatus) -> Result<(), DbErr> {
    ActiveModel {
        key_id: ActiveValue::Set(key_id.to_owned()),
        status: ActiveValue::Set(status),
        created_at: ActiveValue::Set(Timestamp::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
