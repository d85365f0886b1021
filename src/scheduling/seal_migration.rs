//! Sealing availability-block reasons that are free text (a named
//! patient's home visit). A reason of the catalogue
//! ([`BLOCK_REASONS`]) stays in clear; the weekend command finds its blocks
//! by theirs. The schema migration adds the sealed column; rows written
//! before are sealed by [`seal_clear_rows`] when the server starts, since
//! only the running server holds the keys.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QuerySelect};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

use super::schedules::{BLOCK_REASONS, BLOCK_TABLE, block};
use crate::crypto::{Keyring, OTHER_LABEL, RowSealer};
use crate::db::Database;
use crate::db::migrate::schema;

/// How many rows one pass seals, each pass its own transaction.
const BATCH: u64 = 500;

pub struct SealSchedulingFreeText;

impl MigrationName for SealSchedulingFreeText {
    fn name(&self) -> &str {
        "m20261207_000197_seal_scheduling_free_text"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SealSchedulingFreeText {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::add_sealed_columns(manager, BLOCK_TABLE, &["sealed_reason"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_columns(manager, BLOCK_TABLE, &["sealed_reason"]).await
    }
}

/// Seals the block reasons still in clear that are not of the catalogue;
/// returns how many it sealed. Each update names the clear reason it
/// replaces, so two servers starting together never lose one.
pub async fn seal_clear_rows(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    use block::{ActiveModel, Column, Entity};
    let clear: Vec<&str> = BLOCK_REASONS.iter().copied().chain([OTHER_LABEL]).collect();
    let mut sealed = 0;
    loop {
        let rows = Entity::find()
            .filter(Column::Reason.is_not_in(clear.clone()))
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
            let seal = RowSealer::new(&keys[&row.facility_id], BLOCK_TABLE, row.id);
            let (reason, sealed_reason) = seal.label("reason", row.reason.trim(), BLOCK_REASONS);
            let done = Entity::update_many()
                .set(ActiveModel {
                    reason: ActiveValue::Set(reason),
                    sealed_reason: ActiveValue::Set(sealed_reason),
                    ..Default::default()
                })
                .filter(Column::Id.eq(row.id))
                .filter(Column::Reason.eq(row.reason))
                .exec(&*txn)
                .await?;
            sealed += done.rows_affected;
        }
        txn.commit().await?;
    }
}
