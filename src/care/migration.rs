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

/// Care journeys (seed 001's contacts) and their stage moves; after the CRM
/// tables, whose care pathways and leads they refer to.
pub struct CreateJourneys;

impl MigrationName for CreateJourneys {
    fn name(&self) -> &str {
        "m20261126_000085_care_journeys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateJourneys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let uuid = |name: &str| ColumnDef::new(col(name)).uuid().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(col("care_journeys"))
                    .col(schema::id(col("id")))
                    .col(uuid("facility_id"))
                    .col(uuid("patient_id"))
                    .col(uuid("pathway_id"))
                    .col(uuid("stage_id"))
                    .col(ColumnDef::new(col("health_coach_id")).uuid())
                    .col(ColumnDef::new(col("lead_id")).uuid())
                    .col(ColumnDef::new(col("notes")).binary())
                    .col(schema::timestamp(col("enrolled_at")))
                    .col(schema::timestamp(col("updated_at")))
                    .foreign_key(&mut schema::foreign_key(
                        "care_journeys",
                        "facility_id",
                        "facilities",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "care_journeys",
                        "patient_id",
                        "patients",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "care_journeys",
                        "pathway_id",
                        "pipelines",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "care_journeys",
                        "stage_id",
                        "pipeline_stages",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "care_journeys",
                        "health_coach_id",
                        "accounts",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "care_journeys",
                        "lead_id",
                        "leads",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::unique_index(
                "care_journeys",
                &["patient_id", "pathway_id"],
            ))
            .await?;
        for columns in [
            &["facility_id", "stage_id", "id"][..],
            &["facility_id", "health_coach_id", "id"][..],
        ] {
            manager
                .create_index(schema::index("care_journeys", columns))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(col("care_journey_moves"))
                    .col(schema::id(col("id")))
                    .col(uuid("journey_id"))
                    .col(ColumnDef::new(col("from_stage_id")).uuid())
                    .col(uuid("to_stage_id"))
                    .col(ColumnDef::new(col("actor_id")).uuid())
                    .col(schema::timestamp(col("occurred_at")))
                    .foreign_key(&mut schema::foreign_key(
                        "care_journey_moves",
                        "journey_id",
                        "care_journeys",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::index("care_journey_moves", &["journey_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["care_journey_moves", "care_journeys"] {
            manager
                .drop_table(Table::drop().table(col(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The care-team link statuses and sides as they were when this migration
/// was written; a test keeps them equal to the types.
pub(super) const LINK_STATUSES: [&str; 4] = ["requested", "active", "ended", "blocked"];
pub(super) const LINK_SIDES: [&str; 2] = ["patient", "provider"];

pub struct CreateCareTeamLinks;

impl MigrationName for CreateCareTeamLinks {
    fn name(&self) -> &str {
        "m20261126_000130_care_team_links"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCareTeamLinks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = "care_team_links";
        let uuid = |name: &str| ColumnDef::new(col(name)).uuid().not_null().to_owned();
        let blocked_by = ColumnDef::new(col("blocked_by"))
            .string()
            .null()
            .check(Check::named(
                col("care_team_links_blocked_by_check"),
                Expr::col(col("blocked_by")).is_in(LINK_SIDES),
            ))
            .to_owned();
        manager
            .create_table(
                Table::create()
                    .table(col(table))
                    .col(schema::id(col("id")))
                    .col(uuid("facility_id"))
                    .col(uuid("patient_id"))
                    .col(uuid("provider_id"))
                    .col(schema::enumeration(table, "status", &LINK_STATUSES))
                    .col(schema::enumeration(table, "requested_by", &LINK_SIDES))
                    .col(blocked_by)
                    .col(uuid("created_by"))
                    .col(schema::timestamp(col("created_at")))
                    .col(schema::timestamp(col("updated_at")))
                    .col(schema::optional_timestamp(col("accepted_at")))
                    .col(schema::optional_timestamp(col("ended_at")))
                    .foreign_key(&mut schema::foreign_key(table, "facility_id", "facilities"))
                    .foreign_key(&mut schema::foreign_key(table, "patient_id", "patients"))
                    .foreign_key(&mut schema::foreign_key(table, "provider_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        // One link per pair (seed 004's patient_doctor_links_unique); the
        // policy engine reads a provider's active links on every request.
        manager
            .create_index(schema::unique_index(table, &["patient_id", "provider_id"]))
            .await?;
        manager
            .create_index(schema::index(table, &["provider_id", "status"]))
            .await?;
        manager
            .create_index(schema::index(table, &["facility_id", "id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(col("care_team_links")).to_owned())
            .await
    }
}

/// A patient's contact preference (`email` or `sms`) for reminders; none
/// until someone records it, and then reminders go by email.
pub struct AddContactPreference;

impl MigrationName for AddContactPreference {
    fn name(&self) -> &str {
        "m20261208_000441_patient_contact_preference"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddContactPreference {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(col("patients"))
                    .add_column(schema::optional_enumeration(
                        "patients",
                        "preferred_contact",
                        &["email", "sms"],
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_columns(manager, "patients", &["preferred_contact"]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::care::care_team::{LinkSide, LinkStatus};

    #[test]
    fn the_checked_values_are_the_types_values() {
        assert_eq!(LINK_STATUSES, LinkStatus::ALL.map(LinkStatus::as_str));
        assert_eq!(LINK_SIDES, LinkSide::ALL.map(LinkSide::as_str));
    }
}
