//! Sealing a visit's department, kept in clear at first: where a patient
//! was seen (an oncology ward, a sexual-health clinic) says what they have.
//! The schema migration adds the sealed column; visits written before are
//! sealed by [`seal_clear_rows`] when the server starts, since only the
//! running server holds the keys. The clear column stays, emptied.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QuerySelect};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

use super::visits::{self, ActiveModel, Column, Entity};
use crate::crypto::{Keyring, RowSealer};
use crate::db::Database;
use crate::db::migrate::schema;

/// How many rows one pass seals, each pass its own transaction.
const BATCH: u64 = 500;

pub struct SealVisitDepartment;

impl MigrationName for SealVisitDepartment {
    fn name(&self) -> &str {
        "m20261207_000198_seal_visit_department"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SealVisitDepartment {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::add_sealed_columns(manager, visits::TABLE, &["sealed_department"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_columns(manager, visits::TABLE, &["sealed_department"]).await
    }
}

/// Seals the departments still in clear; returns how many it sealed. Each
/// update names the clear value it replaces, so two servers starting
/// together never lose one.
pub async fn seal_clear_rows(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    let mut sealed = 0;
    loop {
        let rows = Entity::find()
            .filter(Column::Department.is_not_null())
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
            let Some(department) = row.department else {
                continue;
            };
            let seal = RowSealer::new(&keys[&row.facility_id], visits::TABLE, row.id);
            let done = Entity::update_many()
                .set(ActiveModel {
                    department: ActiveValue::Set(None),
                    sealed_department: ActiveValue::Set(Some(seal.text("department", &department))),
                    ..Default::default()
                })
                .filter(Column::Id.eq(row.id))
                .filter(Column::Department.eq(department))
                .exec(&*txn)
                .await?;
            sealed += done.rows_affected;
        }
        txn.commit().await?;
    }
}
