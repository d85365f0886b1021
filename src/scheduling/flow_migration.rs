//! Appointments for the people who have them (issue 14): appointments
//! that are not clinic slots (`off_schedule`), one booking lock per person
//! so no provider, patient or lead is booked twice at once, and the
//! weekend days an administrator deliberately opened or unblocked, which
//! `carebase schedule block-weekends` leaves alone.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema::{self, col, optional_uuid, uuid};

pub(super) const WEEKEND_SKIP_CAUSES: [&str; 2] = ["opened", "deleted"];

pub struct AppointmentsForPeople;

impl MigrationName for AppointmentsForPeople {
    fn name(&self) -> &str {
        "m20261208_000420_appointments_for_people"
    }
}

const INDEXES: [(&str, &[&str]); 2] = [
    ("weekend_skips", &["facility_id", "day_start"]),
    ("weekend_skips", &["block_id"]),
];

#[async_trait::async_trait]
impl MigrationTrait for AppointmentsForPeople {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(col("appointments"))
                    .add_column(
                        ColumnDef::new(col("off_schedule"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        schema::create_all(
            manager,
            vec![booking_locks(), weekend_skips()],
            &INDEXES,
            &[],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_all(manager, &["weekend_skips", "booking_locks"]).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(col("appointments"))
                    .drop_column(col("off_schedule"))
                    .to_owned(),
            )
            .await
    }
}

/// One row per person (provider account, patient or lead) ever booked:
/// every booking bumps the rows of the people it books, in id order, so
/// two bookings of one person never check for overlaps at once (a row
/// lock on PostgreSQL; SQLite's write lock already serializes them).
fn booking_locks() -> TableCreateStatement {
    Table::create()
        .table(col("booking_locks"))
        .col(schema::id(col("person_id")))
        .col(
            ColumnDef::new(col("bookings"))
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        )
        .to_owned()
}

/// A weekend day (local midnight to midnight) the weekend command skips:
/// an administrator opened it (a facility-wide opening block, `block_id`)
/// or deleted its weekend block (`block_id` the block that was deleted).
fn weekend_skips() -> TableCreateStatement {
    Table::create()
        .table(col("weekend_skips"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(schema::timestamp(col("day_start")))
        .col(schema::timestamp(col("day_end")))
        .col(schema::enumeration(
            "weekend_skips",
            "cause",
            &WEEKEND_SKIP_CAUSES,
        ))
        .col(uuid("block_id"))
        .col(optional_uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            "weekend_skips",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "weekend_skips",
            "created_by",
            "accounts",
        ))
        .to_owned()
}
