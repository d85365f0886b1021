//! The `outbox` table: every message carebase sends, kept until an
//! administrator or a retention job removes it.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;

pub struct CreateOutbox;

impl MigrationName for CreateOutbox {
    fn name(&self) -> &str {
        "m20261126_000025_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("outbox"))
                    .col(schema::id(Alias::new("id")))
                    .col(schema::enumeration("outbox", "channel", &["email", "sms"]))
                    // Sealed under the installation data key: tokens and PHI.
                    .col(ColumnDef::new(Alias::new("recipient")).binary().not_null())
                    .col(ColumnDef::new(Alias::new("subject")).binary().not_null())
                    .col(ColumnDef::new(Alias::new("body")).binary().not_null())
                    .col(ColumnDef::new(Alias::new("kind")).string_len(64).not_null())
                    .col(schema::enumeration(
                        "outbox",
                        "status",
                        &["pending", "sending", "sent", "failed", "held"],
                    ))
                    .col(
                        ColumnDef::new(Alias::new("attempts"))
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(schema::timestamp(Alias::new("next_attempt_at")))
                    .col(schema::optional_timestamp(Alias::new("claimed_until")))
                    .col(schema::optional_timestamp(Alias::new("sent_at")))
                    .col(
                        ColumnDef::new(Alias::new("last_error"))
                            .string_len(64)
                            .null(),
                    )
                    .col(schema::timestamp(Alias::new("created_at")))
                    .to_owned(),
            )
            .await?;
        // What the delivery workers claim: due pending messages, expired leases.
        manager
            .create_index(schema::index("outbox", &["status", "next_attempt_at"]))
            .await?;
        // The administrator's listing, newest first.
        manager
            .create_index(schema::index("outbox", &["created_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("outbox")).to_owned())
            .await
    }
}

/// Outbox messages say which facility they are about (its administrators
/// read them), who caused them (the one reader shown their code) and
/// whether they carry a code. Messages written before are taken to carry
/// one, so no code written earlier is shown over the API.
pub struct RecordOutboxReach;

impl MigrationName for RecordOutboxReach {
    fn name(&self) -> &str {
        "m20261207_000180_outbox_reach"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RecordOutboxReach {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            ColumnDef::new(Alias::new("facility_id")).uuid().to_owned(),
            ColumnDef::new(Alias::new("requested_by")).uuid().to_owned(),
            ColumnDef::new(Alias::new("carries_code"))
                .boolean()
                .not_null()
                .default(true)
                .to_owned(),
        ];
        // One column per statement: SQLite adds one at a time.
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("outbox"))
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(schema::index("outbox", &["facility_id", "created_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("outbox_facility_id_created_at_idx")
                    .table(Alias::new("outbox"))
                    .to_owned(),
            )
            .await?;
        for column in ["carries_code", "requested_by", "facility_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("outbox"))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
