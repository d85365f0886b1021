//! Access tables: facilities (tenants) and memberships (seed 002's
//! `user_roles`: account × facility × role × department, with a primary flag).

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;
use crate::policy::Role;

fn col(name: &str) -> Alias {
    Alias::new(name)
}

pub struct CreateFacilities;

impl MigrationName for CreateFacilities {
    fn name(&self) -> &str {
        "m20261126_000040_facilities"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateFacilities {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(col("facilities"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("name")).string_len(255).not_null())
                    .col(ColumnDef::new(col("npi")).string_len(20))
                    .col(ColumnDef::new(col("address_line1")).string_len(255))
                    .col(ColumnDef::new(col("city")).string_len(100))
                    .col(ColumnDef::new(col("state")).string_len(50))
                    .col(ColumnDef::new(col("zip_code")).string_len(20))
                    .col(ColumnDef::new(col("facility_type")).string_len(100))
                    .col(ColumnDef::new(col("time_zone")).string_len(64).not_null())
                    .col(ColumnDef::new(col("settings")).text().not_null())
                    .col(ColumnDef::new(col("is_active")).boolean().not_null())
                    .col(schema::timestamp(col("created_at")))
                    .col(schema::timestamp(col("updated_at")))
                    .to_owned(),
            )
            .await?;
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        manager
            .create_table(
                Table::create()
                    .table(col("memberships"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("account_id")).uuid().not_null())
                    .col(ColumnDef::new(col("facility_id")).uuid())
                    .col(schema::enumeration("memberships", "role", &roles))
                    .col(ColumnDef::new(col("department")).string_len(100).not_null())
                    .col(ColumnDef::new(col("is_primary")).boolean().not_null())
                    .col(schema::timestamp(col("assigned_at")))
                    .col(ColumnDef::new(col("assigned_by")).uuid())
                    .col(ColumnDef::new(col("revoked_at")).big_integer())
                    .foreign_key(&mut schema::foreign_key(
                        "memberships",
                        "account_id",
                        "accounts",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "memberships",
                        "facility_id",
                        "facilities",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::index("memberships", &["account_id"]))
            .await?;
        manager
            .create_index(schema::index("memberships", &["facility_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["memberships", "facilities"] {
            manager
                .drop_table(Table::drop().table(col(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Emergency ("break glass") access grants; after the patients they open.
pub struct CreateEmergencyAccess;

impl MigrationName for CreateEmergencyAccess {
    fn name(&self) -> &str {
        "m20261126_000055_emergency_access"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEmergencyAccess {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(col("emergency_access"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("account_id")).uuid().not_null())
                    .col(ColumnDef::new(col("facility_id")).uuid().not_null())
                    .col(ColumnDef::new(col("patient_id")).uuid().not_null())
                    .col(ColumnDef::new(col("reason")).binary().not_null())
                    .col(schema::timestamp(col("granted_at")))
                    .col(schema::timestamp(col("expires_at")))
                    .col(ColumnDef::new(col("reviewed_at")).big_integer())
                    .col(ColumnDef::new(col("reviewed_by")).uuid())
                    .foreign_key(&mut schema::foreign_key(
                        "emergency_access",
                        "account_id",
                        "accounts",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "emergency_access",
                        "facility_id",
                        "facilities",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "emergency_access",
                        "patient_id",
                        "patients",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::index(
                "emergency_access",
                &["account_id", "patient_id"],
            ))
            .await?;
        manager
            .create_index(schema::index(
                "emergency_access",
                &["facility_id", "reviewed_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(col("emergency_access")).to_owned())
            .await
    }
}

/// An emergency grant remembers the membership it was granted under, so it
/// ends when that membership (or its clinical role) does.
pub struct RecordEmergencyMembership;

impl MigrationName for RecordEmergencyMembership {
    fn name(&self) -> &str {
        "m20261207_000170_emergency_access_membership"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RecordEmergencyMembership {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(col("emergency_access"))
                    .add_column(ColumnDef::new(col("granted_under")).uuid())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(col("emergency_access"))
                    .drop_column(col("granted_under"))
                    .to_owned(),
            )
            .await
    }
}

/// Invitations into a facility (a staff role, or a patient's portal): a
/// role is held only once the invited person accepts.
pub struct CreateInvitations;

impl MigrationName for CreateInvitations {
    fn name(&self) -> &str {
        "m20261207_000190_invitations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInvitations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        manager
            .create_table(
                Table::create()
                    .table(col("invitations"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("account_id")).uuid().not_null())
                    .col(ColumnDef::new(col("facility_id")).uuid().not_null())
                    .col(schema::enumeration("invitations", "role", &roles))
                    .col(ColumnDef::new(col("department")).string_len(100).not_null())
                    .col(ColumnDef::new(col("patient_id")).uuid())
                    .col(ColumnDef::new(col("invited_by")).uuid().not_null())
                    .col(schema::timestamp(col("created_at")))
                    .col(schema::timestamp(col("expires_at")))
                    .col(ColumnDef::new(col("accepted_at")).big_integer())
                    .foreign_key(&mut schema::foreign_key(
                        "invitations",
                        "account_id",
                        "accounts",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "invitations",
                        "facility_id",
                        "facilities",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::index("invitations", &["account_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(col("invitations")).to_owned())
            .await
    }
}
