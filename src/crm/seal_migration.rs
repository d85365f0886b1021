//! Sealing what the CRM kept in clear: a lead's free-text source, its
//! outcome and type, and a web chat's visitor ref (a widget's cookie id
//! follows a person around).
//!
//! A source of the catalogue ([`leads::LEAD_SOURCES`], and since then the
//! facility's own, `super::lead_sources`) stays in clear, where
//! lists filter and statistics count on it; any other is sealed, its clear
//! column `Other` and a blind index beside it for `source=` filters. The
//! schema migration adds the columns; rows written before are sealed by
//! [`seal_clear_rows`] when the server starts, since only the running
//! server holds the keys. The clear columns stay, emptied.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{ActiveValue, QuerySelect};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

use super::chat;
use super::lead_sources;
use super::leads::{self, LEAD_SOURCES};
use super::score::ScoreFactor;
use crate::crypto::{Keyring, OTHER_LABEL, RowSealer};
use crate::db::Database;
use crate::db::migrate::schema;

/// How many rows one pass seals, each pass its own transaction.
const BATCH: u64 = 500;

pub struct SealCrmFreeText;

impl MigrationName for SealCrmFreeText {
    fn name(&self) -> &str {
        "m20261207_000196_seal_crm_free_text"
    }
}

const LEAD_COLUMNS: [&str; 4] = [
    "sealed_source",
    "source_index",
    "sealed_outcome",
    "sealed_lead_type",
];

#[async_trait::async_trait]
impl MigrationTrait for SealCrmFreeText {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::add_sealed_columns(manager, leads::TABLE, &LEAD_COLUMNS).await?;
        manager
            .create_index(schema::index(
                leads::TABLE,
                &["facility_id", "source_index"],
            ))
            .await?;
        schema::add_sealed_columns(manager, chat::TABLE, &["sealed_visitor_ref"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_columns(manager, chat::TABLE, &["sealed_visitor_ref"]).await?;
        manager
            .drop_index(
                sea_orm_migration::prelude::Index::drop()
                    .name("leads_facility_id_source_index_idx")
                    .table(schema::col(leads::TABLE))
                    .to_owned(),
            )
            .await?;
        schema::drop_columns(manager, leads::TABLE, &LEAD_COLUMNS).await
    }
}

/// Seals the leads' labels and the visitor refs still in clear; returns
/// how many rows it sealed. Each update names the clear values it replaces,
/// so two servers starting together, or a write racing the pass, never
/// lose a value.
pub async fn seal_clear_rows(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    Ok(seal_leads(db, keyring).await? + seal_visitor_refs(db, keyring).await?)
}

/// The clear value of `column`, or its absence, as an update's condition.
fn still(column: leads::Column, value: &Option<String>) -> Condition {
    match value {
        Some(v) => Condition::all().add(column.eq(v.clone())),
        None => Condition::all().add(column.is_null()),
    }
}

async fn seal_leads(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    use leads::{ActiveModel, Column, Entity};
    let clear_labels: Vec<&str> = LEAD_SOURCES.iter().copied().chain([OTHER_LABEL]).collect();
    // A source of its facility's catalogue is clear by right.
    let catalogued = Query::select()
        .column(lead_sources::Column::Name)
        .from(lead_sources::Entity)
        .and_where(
            Expr::col((lead_sources::Entity, lead_sources::Column::FacilityId))
                .equals((Entity, Column::FacilityId)),
        )
        .to_owned();
    let mut sealed = 0;
    loop {
        let rows = Entity::find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(Column::Source.is_not_in(clear_labels.clone()))
                            .add(Column::Source.not_in_subquery(catalogued.clone())),
                    )
                    .add(Column::Outcome.is_not_null())
                    .add(Column::LeadType.is_not_null()),
            )
            .limit(BATCH)
            .all(db.conn())
            .await?;
        if rows.is_empty() {
            return Ok(sealed);
        }
        let facilities: Vec<Uuid> = rows.iter().map(|r| r.facility_id).collect();
        let keys = keyring.facilities(&facilities).await?;
        let txn = db.begin().await?;
        for row in rows {
            let key = &keys[&row.facility_id];
            let seal = RowSealer::new(key, leads::TABLE, row.id);
            let mut active = ActiveModel {
                outcome: ActiveValue::Set(None),
                lead_type: ActiveValue::Set(None),
                ..Default::default()
            };
            if let Some(v) = &row.outcome {
                active.sealed_outcome = ActiveValue::Set(Some(seal.text("outcome", v)));
            }
            if let Some(v) = &row.lead_type {
                active.sealed_lead_type = ActiveValue::Set(Some(seal.text("lead_type", v)));
            }
            let (source, sealed_source) = seal.label("source", row.source.trim(), &LEAD_SOURCES);
            if sealed_source.is_some() {
                active.source_index = ActiveValue::Set(Some(leads::source_index(key, &row.source)));
                active.sealed_source = ActiveValue::Set(sealed_source);
                active.score_factors = ActiveValue::Set(without_source_text(&row.score_factors));
            }
            // Always written: a catalogue source stored with spaces around it
            // is taken trimmed, so no row is picked again by the next pass.
            active.source = ActiveValue::Set(source);
            let done = Entity::update_many()
                .set(active)
                .filter(Column::Id.eq(row.id))
                .filter(Column::Source.eq(row.source.clone()))
                .filter(still(Column::Outcome, &row.outcome))
                .filter(still(Column::LeadType, &row.lead_type))
                .exec(&*txn)
                .await?;
            sealed += done.rows_affected;
        }
        txn.commit().await?;
    }
}

/// The score's explanation with the source factor's text naming the clear
/// label, as a score taken now would: the old one quoted the source.
fn without_source_text(factors: &str) -> String {
    let mut factors: Vec<ScoreFactor> = serde_json::from_str(factors).unwrap_or_default();
    for factor in factors.iter_mut().filter(|f| f.factor == "source") {
        factor.detail = format!("source {OTHER_LABEL}");
    }
    serde_json::to_string(&factors).unwrap_or_else(|_| "[]".to_owned())
}

async fn seal_visitor_refs(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    use chat::{ActiveModel, Column, Entity};
    let mut sealed = 0;
    loop {
        let rows = Entity::find()
            .filter(Column::VisitorRef.is_not_null())
            .limit(BATCH)
            .all(db.conn())
            .await?;
        if rows.is_empty() {
            return Ok(sealed);
        }
        let facilities: Vec<Uuid> = rows.iter().map(|r| r.facility_id).collect();
        let keys = keyring.facilities(&facilities).await?;
        let txn = db.begin().await?;
        for row in rows {
            let Some(visitor_ref) = row.visitor_ref else {
                continue;
            };
            let seal = RowSealer::new(&keys[&row.facility_id], chat::TABLE, row.id);
            let done = Entity::update_many()
                .set(ActiveModel {
                    visitor_ref: ActiveValue::Set(None),
                    sealed_visitor_ref: ActiveValue::Set(Some(
                        seal.text("visitor_ref", &visitor_ref),
                    )),
                    ..Default::default()
                })
                .filter(Column::Id.eq(row.id))
                .filter(Column::VisitorRef.eq(visitor_ref))
                .exec(&*txn)
                .await?;
            sealed += done.rows_affected;
        }
        txn.commit().await?;
    }
}
