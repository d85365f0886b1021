//! The crypto tables: `crypto_keys` (which master keys this database has
//! known) and `data_keys` (the wrapped data keys).

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

pub struct CreateDataKeys;

impl MigrationName for CreateDataKeys {
    fn name(&self) -> &str {
        "m20261126_000010_data_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDataKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("data_keys"))
                    .col(schema::id(Alias::new("id")))
                    .col(
                        ColumnDef::new(Alias::new("scope"))
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("wrapped")).binary().not_null())
                    .col(
                        ColumnDef::new(Alias::new("master_key_id"))
                            .string_len(32)
                            .not_null(),
                    )
                    .col(schema::timestamp(Alias::new("created_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::unique_index("data_keys", &["scope"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("data_keys")).to_owned())
            .await
    }
}

/// Keeps each data key's wrapping under the master key it was rotated away
/// from, so that rotation is online.
pub struct KeepPreviousWrap;

impl MigrationName for KeepPreviousWrap {
    fn name(&self) -> &str {
        "m20261207_000199_data_keys_previous_wrap"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for KeepPreviousWrap {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("data_keys"))
                    .add_column(ColumnDef::new(Alias::new("previous_wrapped")).binary())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("data_keys"))
                    .add_column(ColumnDef::new(Alias::new("previous_master_key_id")).string_len(32))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["previous_master_key_id", "previous_wrapped"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("data_keys"))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
