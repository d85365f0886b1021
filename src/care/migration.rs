//! The care tables: patients (seed 002).

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;

fn col(name: &str) -> Alias {
    Alias::new(name)
}

pub struct CreatePatients;

impl MigrationName for CreatePatients {
    fn name(&self) -> &str {
        "m20261126_000050_patients"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePatients {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sealed = |name: &str| ColumnDef::new(col(name)).binary().to_owned();
        let required = |name: &str| ColumnDef::new(col(name)).binary().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(col("patients"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("facility_id")).uuid().not_null())
                    .col(required("mrn_index"))
                    .col(required("mrn"))
                    .col(required("first_name"))
                    .col(required("last_name"))
                    .col(required("date_of_birth"))
                    .col(sealed("ssn"))
                    .col(sealed("phone"))
                    .col(sealed("email"))
                    .col(sealed("email_index"))
                    .col(sealed("phone_index"))
                    .col(sealed("address"))
                    .col(sealed("emergency_contact"))
                    .col(sealed("insurance"))
                    .col(required("allergies"))
                    .col(ColumnDef::new(col("gender")).string_len(20))
                    .col(ColumnDef::new(col("is_active")).boolean().not_null())
                    .col(ColumnDef::new(col("portal_account_id")).uuid())
                    .col(ColumnDef::new(col("created_by")).uuid())
                    .col(schema::timestamp(col("created_at")))
                    .col(schema::timestamp(col("updated_at")))
                    .foreign_key(&mut schema::foreign_key(
                        "patients",
                        "facility_id",
                        "facilities",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "patients",
                        "portal_account_id",
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::unique_index(
                "patients",
                &["facility_id", "mrn_index"],
            ))
            .await?;
        manager
            .create_index(schema::index("patients", &["facility_id", "email_index"]))
            .await?;
        manager
            .create_index(schema::index("patients", &["facility_id", "phone_index"]))
            .await?;
        manager
            .create_index(schema::index("patients", &["portal_account_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(col("patients")).to_owned())
            .await
    }
}
