//! Sealing what messaging kept in clear: conversation tags, and attachment
//! checksums (a plain SHA-256 confirms that a file someone holds is the one
//! stored; the row now keeps a keyed digest and the checksum sealed).
//!
//! The schema migration adds the sealed columns; the rows written before
//! are sealed by [`seal_clear_rows`] when the server starts, since only the
//! running server holds the keys. The clear columns stay, emptied, so an
//! older server reading the database fails on nothing.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QuerySelect};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

use super::attachments;
use super::conversations::{self, NO_CLEAR_TAGS};
use crate::crypto::{Keyring, RowSealer};
use crate::db::Database;
use crate::db::migrate::schema;
use crate::storage::file_digest;

/// How many rows one pass seals, each pass its own transaction.
const BATCH: u64 = 500;

pub struct SealMessagingFreeText;

impl MigrationName for SealMessagingFreeText {
    fn name(&self) -> &str {
        "m20261207_000195_seal_messaging_free_text"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SealMessagingFreeText {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::add_sealed_columns(manager, conversations::TABLE, &["sealed_tags"]).await?;
        schema::add_sealed_columns(
            manager,
            attachments::TABLE,
            &["sealed_sha256", "content_digest"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_columns(manager, conversations::TABLE, &["sealed_tags"]).await?;
        schema::drop_columns(
            manager,
            attachments::TABLE,
            &["sealed_sha256", "content_digest"],
        )
        .await
    }
}

/// Seals the tags and checksums still in clear; returns how many rows it
/// sealed. Each update names the clear value it replaces, so two servers
/// starting together, or a write racing the pass, never lose a value.
pub async fn seal_clear_rows(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    Ok(seal_tags(db, keyring).await? + seal_checksums(db, keyring).await?)
}

async fn seal_tags(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    use conversations::{ActiveModel, Column, Entity};
    let mut sealed = 0;
    loop {
        let rows = Entity::find()
            .filter(Column::Tags.ne(NO_CLEAR_TAGS))
            .limit(BATCH)
            .all(db.conn())
            .await?;
        if rows.is_empty() {
            return Ok(sealed);
        }
        let facilities: Vec<Uuid> = rows.iter().map(|r| r.facility_id).collect();
        let keys = keyring.facilities(&facilities).await?;
        let txn = db.begin().await?;
        for row in rows {
            let key = &keys[&row.facility_id];
            let tags: Vec<String> = serde_json::from_str(&row.tags).unwrap_or_default();
            let seal = RowSealer::new(key, conversations::TABLE, row.id);
            let done = Entity::update_many()
                .set(ActiveModel {
                    tags: ActiveValue::Set(NO_CLEAR_TAGS.to_owned()),
                    sealed_tags: ActiveValue::Set(conversations::seal_tags(&seal, &tags)),
                    ..Default::default()
                })
                .filter(Column::Id.eq(row.id))
                .filter(Column::Tags.eq(row.tags))
                .exec(&*txn)
                .await?;
            sealed += done.rows_affected;
        }
        txn.commit().await?;
    }
}

async fn seal_checksums(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    use attachments::{ActiveModel, Column, Entity};
    let mut sealed = 0;
    loop {
        let rows = Entity::find()
            .filter(Column::Sha256.is_not_null())
            .limit(BATCH)
            .all(db.conn())
            .await?;
        if rows.is_empty() {
            return Ok(sealed);
        }
        let facilities: Vec<Uuid> = rows.iter().map(|r| r.facility_id).collect();
        let keys = keyring.facilities(&facilities).await?;
        let txn = db.begin().await?;
        for row in rows {
            let Some(sha256) = row.sha256 else { continue };
            let key = &keys[&row.facility_id];
            let seal = RowSealer::new(key, attachments::TABLE, row.id);
            let done = Entity::update_many()
                .set(ActiveModel {
                    sha256: ActiveValue::Set(None),
                    sealed_sha256: ActiveValue::Set(Some(seal.text("sha256", &sha256))),
                    content_digest: ActiveValue::Set(Some(file_digest(key, &sha256))),
                    ..Default::default()
                })
                .filter(Column::Id.eq(row.id))
                .filter(Column::Sha256.eq(sha256))
                .exec(&*txn)
                .await?;
            sealed += done.rows_affected;
        }
        txn.commit().await?;
    }
}
