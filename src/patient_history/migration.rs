//! Seed 002's `patient_history`: one row per visit, its clinical content
//! sealed.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema::{self, create_all, drop_all, optional_uuid, sealed, uuid};

pub struct CreatePatientHistory;

impl MigrationName for CreatePatientHistory {
    fn name(&self) -> &str {
        "m20261206_000150_patient_history"
    }
}

/// A patient's history is listed newest visit first, paged by id within
/// equal visit times.
const INDEXES: &[(&str, &[&str])] = &[(
    "patient_history",
    &["facility_id", "patient_id", "visit_date", "id"],
)];

#[async_trait::async_trait]
impl MigrationTrait for CreatePatientHistory {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, vec![table()], INDEXES, &[]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["patient_history"]).await
    }
}

fn table() -> TableCreateStatement {
    let t = "patient_history";
    Table::create()
        .table(schema::col(t))
        .col(schema::id(schema::col("id")))
        .col(uuid("facility_id"))
        .col(uuid("patient_id"))
        .col(schema::timestamp(schema::col("visit_date")))
        .col(schema::optional_timestamp(schema::col("discharge_date")))
        .col(
            ColumnDef::new(schema::col("department"))
                .string_len(100)
                .null(),
        )
        .col(sealed("primary_diagnosis"))
        .col(sealed("secondary_diagnoses"))
        .col(sealed("medications"))
        .col(sealed("procedures"))
        .col(sealed("vital_signs"))
        .col(sealed("notes"))
        .col(optional_uuid("attending_physician_id"))
        .col(uuid("recorded_by"))
        .col(schema::timestamp(schema::col("created_at")))
        .col(schema::timestamp(schema::col("updated_at")))
        .foreign_key(&mut schema::foreign_key(t, "facility_id", "facilities"))
        .foreign_key(&mut schema::foreign_key(t, "patient_id", "patients"))
        .foreign_key(&mut schema::foreign_key(
            t,
            "attending_physician_id",
            "accounts",
        ))
        .foreign_key(&mut schema::foreign_key(t, "recorded_by", "accounts"))
        .to_owned()
}
