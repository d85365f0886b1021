//! The record of purged communication content (see `retention`).

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema::{self, col};

pub struct CreateCommunicationPurges;

impl MigrationName for CreateCommunicationPurges {
    fn name(&self) -> &str {
        "m20261208_000443_communication_purges"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCommunicationPurges {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table(col("communication_purges"))
            .col(schema::id(col("communication_id")))
            .col(schema::uuid("facility_id"))
            .col(
                ColumnDef::new(col("retention_category"))
                    .string()
                    .not_null()
                    .to_owned(),
            )
            .col(schema::timestamp(col("purged_at")))
            .foreign_key(&mut schema::foreign_key(
                "communication_purges",
                "communication_id",
                "communications",
            ))
            .to_owned();
        schema::create_all(
            manager,
            vec![table],
            &[("communication_purges", &["facility_id", "purged_at"])],
            &[],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_all(manager, &["communication_purges"]).await
    }
}
