//! The tables and columns behind a lead that follows what happens to it
//! (`super::lifecycle`) and its facility's catalogue of sources
//! (`super::lead_sources`): why a move happened, the catalogue itself
//! (seeded with the sources every facility started with), the blind index
//! of a free source's canonical form, and the indexes the lead list's
//! filters use.

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::prelude::*;

use super::lead_sources::{self, DEFAULT_SOURCES};
use crate::db::migrate::schema::{self, col};

pub struct LeadLifecycle;

impl MigrationName for LeadLifecycle {
    fn name(&self) -> &str {
        "m20261208_000400_crm_lead_lifecycle"
    }
}

/// Indexes for the list's filters that had none: by clear source and by
/// readiness, each ending in the id the list pages by; and the free
/// source's canonical blind index.
const FILTER_INDEXES: [&[&str]; 3] = [
    &["facility_id", "source", "id"],
    &["facility_id", "readiness", "id"],
    &["facility_id", "source_key"],
];

fn sources_table() -> TableCreateStatement {
    Table::create()
        .table(col(lead_sources::TABLE))
        .col(schema::id(col("id")))
        .col(schema::uuid("facility_id"))
        .col(ColumnDef::new(col("name")).string_len(100).not_null())
        .col(ColumnDef::new(col("name_key")).string_len(200).not_null())
        .col(schema::optional_uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            lead_sources::TABLE,
            "facility_id",
            "facilities",
        ))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for LeadLifecycle {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for def in [
            ColumnDef::new(col("cause")).string_len(40).to_owned(),
            schema::optional_uuid("cause_id"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(col("lead_transitions"))
                        .add_column(def)
                        .to_owned(),
                )
                .await?;
        }
        schema::add_sealed_columns(manager, "leads", &["source_key"]).await?;
        for columns in FILTER_INDEXES {
            manager
                .create_index(schema::index("leads", columns))
                .await?;
        }
        manager.create_table(sources_table()).await?;
        manager
            .create_index(schema::unique_index(
                lead_sources::TABLE,
                &["facility_id", "name_key"],
            ))
            .await?;
        default_sources_for_existing_facilities(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_all(manager, &[lead_sources::TABLE]).await?;
        for columns in FILTER_INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("leads_{}_idx", columns.join("_")))
                        .table(col("leads"))
                        .to_owned(),
                )
                .await?;
        }
        schema::drop_columns(manager, "leads", &["source_key"]).await?;
        schema::drop_columns(manager, "lead_transitions", &["cause", "cause_id"]).await
    }
}

/// Every facility starts with the sources it could always use unsealed.
async fn default_sources_for_existing_facilities(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, "SELECT id FROM facilities"))
        .await?;
    for row in rows {
        let facility_id: uuid::Uuid = row.try_get("", "id")?;
        let mut insert = Query::insert();
        insert.into_table(col(lead_sources::TABLE)).columns([
            col("id"),
            col("facility_id"),
            col("name"),
            col("name_key"),
            col("created_at"),
        ]);
        let now = crate::time::Timestamp::now().as_micros();
        for name in DEFAULT_SOURCES {
            insert.values_panic([
                crate::db::new_id().into(),
                facility_id.into(),
                name.into(),
                lead_sources::key_of(name).into(),
                now.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}
