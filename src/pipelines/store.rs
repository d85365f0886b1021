//! Pipelines: named, ordered stages a facility defines. A lead pipeline
//! (seed 001's five questionnaire and booking stages by default) is what a
//! lead moves through beside its lifecycle; a care pathway (seed 001's
//! fifteen-stage journey by default) is what a converted patient moves
//! through. Every facility gets both defaults when it is created.

use std::collections::HashMap;

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::new_id;
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::transition::UnknownStoredValue;
use crate::validation::Checks;

/// Seed 001's lead pipeline.
pub const DEFAULT_LEAD_STAGES: [&str; 5] = [
    "HHQ Started",
    "HHQ Signed",
    "Booking: Not Paid",
    "Booking: Paid/Not Booked",
    "Booking: Paid/Booked",
];

/// Seed 001's care journey (its `contacts.stage`).
pub const DEFAULT_CARE_STAGES: [&str; 15] = [
    "Intake",
    "Initial Labs",
    "Initial Lab Review",
    "Initial Provider Exam",
    "Initial Medication Order",
    "1st Follow-up Labs",
    "First Follow-Up Lab Review",
    "First Follow-Up Provider Exam",
    "First Medication Refill",
    "Second Follow-Up Labs",
    "Second Follow-Up Lab Review",
    "Second Follow-up Provider Exam",
    "Second Medication Refill",
    "Third Medication Refill",
    "Restart Annual Process",
];

/// Most pipelines of one kind a facility may define; lists of them are
/// therefore bounded.
pub const MAX_PIPELINES: u64 = 50;
/// Most stages in one pipeline.
pub const MAX_STAGES: usize = 50;

/// What a pipeline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PipelineKind {
    /// Stages a lead moves through (sales).
    Lead,
    /// A care pathway a patient moves through.
    Care,
}

impl PipelineKind {
    pub const ALL: [PipelineKind; 2] = [PipelineKind::Lead, PipelineKind::Care];

    pub fn as_str(self) -> &'static str {
        match self {
            PipelineKind::Lead => "lead",
            PipelineKind::Care => "care",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    fn default_name(self) -> &'static str {
        match self {
            PipelineKind::Lead => "Lead pipeline",
            PipelineKind::Care => "Care journey",
        }
    }

    fn default_stages(self) -> &'static [&'static str] {
        match self {
            PipelineKind::Lead => &DEFAULT_LEAD_STAGES,
            PipelineKind::Care => &DEFAULT_CARE_STAGES,
        }
    }
}

pub mod pipeline {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pipelines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub facility_id: Uuid,
        pub kind: String,
        pub name: String,
        pub is_default: bool,
        pub created_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod stage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pipeline_stages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub pipeline_id: Uuid,
        pub name: String,
        pub position: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A pipeline with its stages in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pipeline {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub kind: PipelineKind,
    pub name: String,
    /// New leads (or converted patients) enter the default pipeline of
    /// their kind unless told otherwise.
    pub is_default: bool,
    pub stages: Vec<Stage>,
}

/// One stage of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stage {
    pub id: Uuid,
    pub name: String,
    /// 1 for the first stage.
    pub position: i32,
}

impl Pipeline {
    pub fn first_stage(&self) -> Option<&Stage> {
        self.stages.first()
    }

    pub fn stage(&self, id: Uuid) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The stage named `name`, as the seeds spell it (case-insensitive).
    pub fn stage_named(&self, name: &str) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
    }

    fn assemble(
        row: pipeline::Model,
        stages: Vec<stage::Model>,
    ) -> Result<Self, UnknownStoredValue> {
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            kind: PipelineKind::parse(&row.kind).ok_or(UnknownStoredValue {
                table: "pipelines",
                column: "kind",
                row: row.id,
            })?,
            name: row.name,
            is_default: row.is_default,
            stages: stages
                .into_iter()
                .map(|s| Stage {
                    id: s.id,
                    name: s.name,
                    position: s.position,
                })
                .collect(),
        })
    }
}

/// A pipeline a facility defines.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPipeline {
    pub kind: PipelineKind,
    pub name: String,
    /// The stage names, first to last.
    pub stages: Vec<String>,
    /// Makes it the default of its kind, in place of the current one.
    #[serde(default)]
    pub is_default: bool,
}

impl NewPipeline {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.text("name", &self.name, 100);
        if self.stages.is_empty() || self.stages.len() > MAX_STAGES {
            c.fail("stages", &format!("must list 1 to {MAX_STAGES} stages"));
        }
        for (i, name) in self.stages.iter().enumerate() {
            c.text(&format!("stages[{i}]"), name, 100);
            let repeated = self.stages[..i]
                .iter()
                .any(|earlier| earlier.trim().eq_ignore_ascii_case(name.trim()));
            if repeated {
                c.fail(&format!("stages[{i}]"), "repeats an earlier stage");
            }
        }
        c.done()
    }
}

async fn insert(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    kind: PipelineKind,
    name: &str,
    stages: &[&str],
    is_default: bool,
) -> Result<Uuid, DbErr> {
    let id = new_id();
    pipeline::ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(facility_id),
        kind: ActiveValue::Set(kind.as_str().to_owned()),
        name: ActiveValue::Set(name.trim().to_owned()),
        is_default: ActiveValue::Set(is_default),
        created_at: ActiveValue::Set(Timestamp::now()),
    }
    .insert(db)
    .await?;
    let rows = stages
        .iter()
        .zip(1..)
        .map(|(stage, position)| stage::ActiveModel {
            id: ActiveValue::Set(new_id()),
            pipeline_id: ActiveValue::Set(id),
            name: ActiveValue::Set(stage.trim().to_owned()),
            position: ActiveValue::Set(position),
        });
    stage::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(id)
}

/// Gives a new facility seed 001's lead pipeline and care journey, as its
/// defaults. Part of creating the facility, in its transaction.
pub async fn create_defaults(db: &impl ConnectionTrait, facility_id: Uuid) -> Result<(), DbErr> {
    for kind in PipelineKind::ALL {
        insert(
            db,
            facility_id,
            kind,
            kind.default_name(),
            kind.default_stages(),
            true,
        )
        .await?;
    }
    Ok(())
}

/// Defines a pipeline in the scope's facility.
pub async fn create(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    new: &NewPipeline,
) -> Result<Pipeline, ApiError> {
    let facility_id = scope.facility_id();
    let existing = pipeline::Entity::find()
        .filter(pipeline::Column::FacilityId.eq(facility_id))
        .filter(pipeline::Column::Kind.eq(new.kind.as_str()))
        .count(db)
        .await?;
    if existing >= MAX_PIPELINES {
        return Err(ApiError::Conflict(format!(
            "a facility may define at most {MAX_PIPELINES} pipelines of one kind"
        )));
    }
    if new.is_default {
        pipeline::Entity::update_many()
            .col_expr(pipeline::Column::IsDefault, Expr::value(false))
            .filter(pipeline::Column::FacilityId.eq(facility_id))
            .filter(pipeline::Column::Kind.eq(new.kind.as_str()))
            .exec(db)
            .await?;
    }
    let stages: Vec<&str> = new.stages.iter().map(String::as_str).collect();
    let id = insert(
        db,
        facility_id,
        new.kind,
        &new.name,
        &stages,
        new.is_default,
    )
    .await?;
    find(db, scope, id).await?.ok_or(ApiError::NotFound)
}

/// The scope's facility's pipelines of `kind` (all kinds when `None`).
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    kind: Option<PipelineKind>,
) -> Result<Vec<Pipeline>, DbErr> {
    let mut query = pipeline::Entity::find()
        .filter(pipeline::Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(pipeline::Column::Kind)
        .order_by_asc(pipeline::Column::Id)
        .limit(MAX_PIPELINES * PipelineKind::ALL.len() as u64);
    if let Some(kind) = kind {
        query = query.filter(pipeline::Column::Kind.eq(kind.as_str()));
    }
    with_stages(db, query.all(db).await?).await
}

/// One pipeline of the scope's facility.
pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<Pipeline>, DbErr> {
    let row = pipeline::Entity::find_by_id(id)
        .filter(pipeline::Column::FacilityId.eq(scope.facility_id()))
        .one(db)
        .await?;
    Ok(match row {
        Some(row) => with_stages(db, vec![row]).await?.pop(),
        None => None,
    })
}

/// The facility's default pipeline of `kind`.
pub async fn default_of(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    kind: PipelineKind,
) -> Result<Option<Pipeline>, DbErr> {
    let row = pipeline::Entity::find()
        .filter(pipeline::Column::FacilityId.eq(scope.facility_id()))
        .filter(pipeline::Column::Kind.eq(kind.as_str()))
        .filter(pipeline::Column::IsDefault.eq(true))
        .one(db)
        .await?;
    Ok(match row {
        Some(row) => with_stages(db, vec![row]).await?.pop(),
        None => None,
    })
}

/// The names of the stages `ids`, with one query. The caller holds the ids
/// from rows its scope already reached (a page of leads); a stage's name is
/// the facility's configuration, not patient data.
pub async fn stage_names(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, String>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(stage::Entity::find()
        .filter(stage::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect())
}

/// The facility's default pipeline of `kind` and its stage ids in order,
/// for work no actor does (the demo's loader).
pub async fn default_stage_ids(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    kind: PipelineKind,
) -> Result<Option<(Uuid, Vec<Uuid>)>, DbErr> {
    let Some(pipeline) = pipeline::Entity::find()
        .filter(pipeline::Column::FacilityId.eq(facility_id))
        .filter(pipeline::Column::Kind.eq(kind.as_str()))
        .filter(pipeline::Column::IsDefault.eq(true))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let stages = stage::Entity::find()
        .filter(stage::Column::PipelineId.eq(pipeline.id))
        .order_by_asc(stage::Column::Position)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    Ok(Some((pipeline.id, stages)))
}

/// Attaches the stages of `rows` with one query.
async fn with_stages(
    db: &impl ConnectionTrait,
    rows: Vec<pipeline::Model>,
) -> Result<Vec<Pipeline>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut stages = stage::Entity::find()
        .filter(stage::Column::PipelineId.is_in(rows.iter().map(|r| r.id)))
        .order_by_asc(stage::Column::PipelineId)
        .order_by_asc(stage::Column::Position)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (mine, rest) = stages.drain(..).partition(|s| s.pipeline_id == row.id);
            stages = rest;
            Pipeline::assemble(row, mine)
        })
        .collect::<Result<_, UnknownStoredValue>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_of_an_unknown_kind_is_an_error_not_a_lead_pipeline() {
        let row = pipeline::Model {
            id: Uuid::from_u128(5),
            facility_id: Uuid::from_u128(1),
            kind: "care".to_owned(),
            name: "Care journey".to_owned(),
            is_default: true,
            created_at: Timestamp::now(),
        };
        let care = Pipeline::assemble(row.clone(), Vec::new()).unwrap();
        assert_eq!(care.kind, PipelineKind::Care);
        let bad = pipeline::Model {
            kind: "sales".to_owned(),
            ..row
        };
        let error = Pipeline::assemble(bad, Vec::new()).unwrap_err();
        assert_eq!((error.table, error.column), ("pipelines", "kind"));
    }

    #[test]
    fn the_seed_stages_are_the_defaults() {
        assert_eq!(PipelineKind::Lead.default_stages().len(), 5);
        assert_eq!(PipelineKind::Care.default_stages()[0], "Intake");
        assert_eq!(
            PipelineKind::Care.default_stages()[14],
            "Restart Annual Process"
        );
    }

    #[test]
    fn a_new_pipeline_names_its_bad_stages() {
        let new = NewPipeline {
            kind: PipelineKind::Lead,
            name: "Web".into(),
            stages: vec!["One".into(), " ".into(), "one".into()],
            is_default: false,
        };
        let ApiError::Validation(errors) = new.validate().unwrap_err() else {
            panic!("expected validation errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["stages[1]", "stages[2]"]);
    }
}
