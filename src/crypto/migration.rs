//! The `crypto_keys` table: which master keys have encrypted this database.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;

pub struct CreateCryptoKeys;

impl MigrationName for CreateCryptoKeys {
    fn name(&self) -> &str {
        "m20261126_000001_crypto_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCryptoKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("crypto_keys"))
                    .col(
                        ColumnDef::new(Alias::new("key_id"))
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(schema::enumeration(
                        "crypto_keys",
                        "status",
                        &["active", "retired"],
                    ))
                    .col(schema::timestamp(Alias::new("created_at")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("crypto_keys")).to_owned())
            .await
    }
}
