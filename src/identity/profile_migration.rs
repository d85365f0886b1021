//! The profiles table: one row per account that has said who it is.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema::{self, col, sealed};

pub struct CreateProfiles;

impl MigrationName for CreateProfiles {
    fn name(&self) -> &str {
        "m20261208_000442_profiles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProfiles {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(col("profiles"))
                    .col(schema::id(col("account_id")))
                    .col(sealed("first_name"))
                    .col(sealed("last_name"))
                    .col(sealed("licence_number"))
                    .col(sealed("npi"))
                    .col(sealed("certification"))
                    .col(sealed("address"))
                    .col(ColumnDef::new(col("country")).string_len(2).to_owned())
                    .col(schema::optional_timestamp(col("verified_at")))
                    .col(schema::optional_uuid("verified_by"))
                    .col(schema::timestamp(col("updated_at")))
                    .foreign_key(&mut schema::foreign_key(
                        "profiles",
                        "account_id",
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_all(manager, &["profiles"]).await
    }
}
