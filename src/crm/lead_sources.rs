//! Seed 001's `lead_source` as a catalogue per facility: the spellings its
//! statistics count by. Every facility starts with seed 001's sources and
//! the two carebase scores (Referral, Web Chat); its administrators add
//! and remove entries.
//!
//! A source given with a lead is matched to the catalogue ignoring case
//! and spacing (`" google  ads"` is the catalogue's `Google Ads`) and
//! stored in the catalogue's spelling, in clear: an entry names a channel,
//! never a person, and statistics group on it. A source the catalogue does
//! not know is *free*: accepted only when the facility allows free sources
//! (`crm.allow_free_lead_sources`, default **true**: integrations and
//! imports send labels no administrator listed yet, and refusing them
//! would turn working feeds into errors), sealed (it may name a referrer),
//! counted as `Other`, and found by the blind index of its canonical form
//! (`source_key`). With the setting false, an unknown source is a 422 on
//! `source` that does not repeat the value.
//!
//! So one source is never split by spelling: catalogue sources are stored
//! in one spelling, adding an entry moves the free sources that match it
//! into it (one UPDATE through the index), and rows written before the
//! catalogue existed are canonicalised once at start-up
//! ([`canonicalise_stored`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::leads;
use crate::crypto::{BlindIndex, DataKey, Keyring, OTHER_LABEL, RowSealer};
use crate::db::{Database, new_id};
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

pub const TABLE: &str = "lead_sources";
/// The unique index that keeps one entry per canonical form.
pub const KEY_CONSTRAINT: &str = "lead_sources_facility_id_name_key_key";
/// The facility setting that admits sources outside the catalogue.
pub const FREE_SOURCES_SETTING: &str = "crm.allow_free_lead_sources";
/// Longest source, as the lead's own field.
pub const MAX_NAME: usize = 100;

/// What every facility's catalogue starts with.
pub const DEFAULT_SOURCES: [&str; 10] = leads::LEAD_SOURCES;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_sources")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    /// The spelling stored on leads and counted by statistics.
    pub name: String,
    /// [`key_of`] the name: what input is matched on.
    pub name_key: String,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A catalogue entry as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeadSource {
    pub id: Uuid,
    pub name: String,
    /// Absent for the entries every facility starts with.
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
}

impl From<Model> for LeadSource {
    fn from(row: Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

/// A source as written by a person: trimmed, inner runs of spaces as one.
pub fn tidy(input: &str) -> String {
    input.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical form a source is matched on: tidied and lower-case.
pub fn key_of(input: &str) -> String {
    tidy(input).to_lowercase()
}

/// The blind index of a free source's canonical form.
pub fn free_key(key: &DataKey, source: &str) -> BlindIndex {
    key.blind_index("lead-source-key", &key_of(source))
}

/// Where a lead's source goes once matched to the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceChoice {
    /// In the catalogue: its spelling, stored in clear.
    Listed(String),
    /// Not in it: the text as given (tidied), sealed.
    Free(String),
}

impl SourceChoice {
    /// The clear column, the sealed text and the canonical blind index of
    /// this source on lead `lead_id`.
    pub fn seal(
        &self,
        key: &DataKey,
        lead_id: Uuid,
    ) -> (String, Option<crate::crypto::Sealed>, Option<BlindIndex>) {
        match self {
            SourceChoice::Listed(name) => (name.clone(), None, None),
            SourceChoice::Free(text) => {
                let seal = RowSealer::new(key, leads::TABLE, lead_id);
                (
                    OTHER_LABEL.to_owned(),
                    Some(seal.text("source", text)),
                    Some(free_key(key, text)),
                )
            }
        }
    }
}

/// A facility's catalogue, and whether it takes free sources.
#[derive(Clone, Debug)]
pub struct Catalogue {
    by_key: HashMap<String, String>,
    allow_free: bool,
}

impl Catalogue {
    pub async fn of(db: &impl ConnectionTrait, facility_id: Uuid) -> Result<Self, ApiError> {
        let by_key = entries_in(db, facility_id)
            .await?
            .into_iter()
            .map(|e| (e.name_key, e.name))
            .collect();
        let allow_free =
            crate::access::facilities::flag(db, facility_id, FREE_SOURCES_SETTING, true).await?;
        Ok(Self { by_key, allow_free })
    }

    /// The catalogue's spelling of `input`, if it has one.
    pub fn spelling(&self, input: &str) -> Option<&str> {
        self.by_key.get(&key_of(input)).map(String::as_str)
    }

    /// Where `input` goes; the reason it is refused, naming the rule and
    /// never repeating the value.
    pub fn choose(&self, input: &str) -> Result<SourceChoice, String> {
        if let Some(name) = self.spelling(input) {
            return Ok(SourceChoice::Listed(name.to_owned()));
        }
        if tidy(input) == OTHER_LABEL {
            return Ok(SourceChoice::Listed(OTHER_LABEL.to_owned()));
        }
        if self.allow_free {
            Ok(SourceChoice::Free(tidy(input)))
        } else {
            Err(format!(
                "not in this facility's lead_source catalogue, and the facility does not accept \
                 other sources (`{FREE_SOURCES_SETTING}` is false); use a catalogue entry \
                 (GET …/lead-sources) or ask an administrator to add it"
            ))
        }
    }

    /// [`Catalogue::choose`] for a request's `source` field: absent is
    /// seed 001's default, `None`.
    pub fn choose_field(&self, input: Option<&str>) -> Result<SourceChoice, ApiError> {
        self.choose(input.unwrap_or("None"))
            .map_err(|reason| ApiError::invalid("source", reason))
    }
}

/// The scope's facility's catalogue, by name.
pub async fn entries(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
) -> Result<Vec<Model>, DbErr> {
    entries_in(db, scope.facility_id()).await
}

async fn entries_in(db: &impl ConnectionTrait, facility_id: Uuid) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::FacilityId.eq(facility_id))
        .order_by_asc(Column::Name)
        .limit(1000)
        .all(db)
        .await
}

/// Gives a new facility the default catalogue.
pub async fn create_defaults(db: &impl ConnectionTrait, facility_id: Uuid) -> Result<(), DbErr> {
    let now = Timestamp::now();
    let rows = DEFAULT_SOURCES.map(|name| ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(facility_id),
        name: ActiveValue::Set(name.to_owned()),
        name_key: ActiveValue::Set(key_of(name)),
        created_by: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
    });
    Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

/// Adds an entry (the caller checked the name) and moves the facility's
/// free sources of the same canonical form into it; returns the entry and
/// how many leads moved. A second entry of one form fails on
/// [`KEY_CONSTRAINT`].
pub async fn add(
    db: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    name: &str,
) -> Result<(Model, u64), DbErr> {
    let facility_id = scope.facility_id();
    let created_by = scope.account_id();
    let entry = ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(facility_id),
        name: ActiveValue::Set(tidy(name)),
        name_key: ActiveValue::Set(key_of(name)),
        created_by: ActiveValue::Set(Some(created_by)),
        created_at: ActiveValue::Set(Timestamp::now()),
    }
    .insert(db)
    .await?;
    let moved = leads::Entity::update_many()
        .col_expr(leads::Column::Source, Expr::value(entry.name.clone()))
        .col_expr(
            leads::Column::SealedSource,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(
            leads::Column::SourceIndex,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(
            leads::Column::SourceKey,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .filter(leads::Column::FacilityId.eq(facility_id))
        .filter(leads::Column::SourceKey.eq(free_key(key, name)))
        .exec(db)
        .await?
        .rows_affected;
    Ok((entry, moved))
}

/// Removes an entry of the scope's facility; leads keep the spelling they
/// have.
pub async fn remove(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    let facility_id = scope.facility_id();
    let Some(entry) = Entity::find_by_id(id)
        .filter(Column::FacilityId.eq(facility_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::FacilityId.eq(facility_id))
        .exec(db)
        .await?;
    Ok(Some(entry))
}

/// How many rows one canonicalising pass reads.
const BATCH: u64 = 500;

/// Canonicalises the free sources stored before the catalogue: each is
/// opened once; one matching its facility's catalogue takes the entry's
/// spelling in clear, any other gets the blind index of its canonical
/// form. A row done has `source_key` (or no sealed source), so a row is
/// never read twice and a restart does nothing. Returns how many rows it
/// changed.
pub async fn canonicalise_stored(db: &Database, keyring: &Keyring) -> anyhow::Result<u64> {
    use leads::Column;
    let mut changed = 0;
    let mut catalogues: HashMap<Uuid, Catalogue> = HashMap::new();
    loop {
        let rows = leads::Entity::find()
            .filter(Column::SealedSource.is_not_null())
            .filter(Column::SourceKey.is_null())
            .limit(BATCH)
            .all(db.conn())
            .await?;
        if rows.is_empty() {
            return Ok(changed);
        }
        let facilities: Vec<Uuid> = rows.iter().map(|r| r.facility_id).collect();
        let keys = keyring.facilities(&facilities).await?;
        let txn = db.begin().await?;
        for row in rows {
            if let Entry::Vacant(slot) = catalogues.entry(row.facility_id) {
                let catalogue = Catalogue::of(&*txn, row.facility_id)
                    .await
                    .map_err(|e| anyhow::anyhow!("reading a lead source catalogue: {e}"))?;
                slot.insert(catalogue);
            }
            let key = &keys[&row.facility_id];
            let seal = RowSealer::new(key, leads::TABLE, row.id);
            let text = seal.open_label("source", &row.source, &row.sealed_source)?;
            let mut active = <leads::ActiveModel as Default>::default();
            match catalogues[&row.facility_id].spelling(&text) {
                Some(name) => {
                    active.source = ActiveValue::Set(name.to_owned());
                    active.sealed_source = ActiveValue::Set(None);
                    active.source_index = ActiveValue::Set(None);
                }
                None => active.source_key = ActiveValue::Set(Some(free_key(key, &text))),
            }
            let done = leads::Entity::update_many()
                .set(active)
                .filter(Column::Id.eq(row.id))
                .filter(Column::SourceKey.is_null())
                .filter(Column::SealedSource.eq(row.sealed_source.clone()))
                .exec(&*txn)
                .await?;
            changed += done.rows_affected;
        }
        txn.commit().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(allow_free: bool) -> Catalogue {
        Catalogue {
            by_key: DEFAULT_SOURCES
                .iter()
                .chain(&["Google Ads"])
                .map(|n| (key_of(n), (*n).to_owned()))
                .collect(),
            allow_free,
        }
    }

    #[test]
    fn input_matches_the_catalogue_whatever_its_case_and_spacing() {
        let c = catalogue(false);
        assert_eq!(
            c.choose(" google  ads"),
            Ok(SourceChoice::Listed("Google Ads".into()))
        );
        assert_eq!(
            c.choose("NEWSLETTER\tdiscovery call"),
            Ok(SourceChoice::Listed("Newsletter Discovery Call".into()))
        );
        let refused = c.choose("Dr Smith's referral").unwrap_err();
        assert!(refused.contains("lead_source") && !refused.contains("Smith"));
        assert_eq!(
            catalogue(true).choose("  Dr  Smith "),
            Ok(SourceChoice::Free("Dr Smith".into()))
        );
        assert_eq!(
            c.choose_field(None).unwrap(),
            SourceChoice::Listed("None".into())
        );
    }

    #[test]
    fn free_sources_share_a_key_however_written() {
        let key = DataKey::new(Uuid::now_v7(), &[3u8; 32]);
        assert_eq!(free_key(&key, " Dr  SMITH"), free_key(&key, "dr smith"));
        assert_ne!(free_key(&key, "dr smith"), free_key(&key, "dr smyth"));
    }
}
