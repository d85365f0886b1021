//! The care journey (seed 001's `contacts`): a patient enrolled in a care
//! pathway, at one of its stages, with a health coach. The pathways are the
//! CRM's pipelines of kind `care` (the fifteen-stage journey by default);
//! every stage move is kept.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::crypto::{CryptoError, DataKey, RowSealer};
use crate::db::new_id;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

pub const TABLE: &str = "care_journeys";

pub mod row {
    use sea_orm::entity::prelude::*;

    use crate::crypto::Sealed;
    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "care_journeys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub facility_id: Uuid,
        pub patient_id: Uuid,
        pub pathway_id: Uuid,
        pub stage_id: Uuid,
        pub health_coach_id: Option<Uuid>,
        /// The lead the patient came from, when converted from the CRM.
        pub lead_id: Option<Uuid>,
        pub notes: Option<Sealed>,
        pub enrolled_at: Timestamp,
        pub updated_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod moves {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "care_journey_moves")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub journey_id: Uuid,
        pub from_stage_id: Option<Uuid>,
        pub to_stage_id: Uuid,
        pub actor_id: Option<Uuid>,
        pub occurred_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A journey as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Journey {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    pub pathway_id: Uuid,
    pub stage_id: Uuid,
    /// The stage's name.
    pub stage: String,
    pub health_coach_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub notes: Option<String>,
    pub enrolled_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Journey {
    pub fn open(key: &DataKey, row: &row::Model, stage: String) -> Result<Self, CryptoError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            patient_id: row.patient_id,
            pathway_id: row.pathway_id,
            stage_id: row.stage_id,
            stage,
            health_coach_id: row.health_coach_id,
            lead_id: row.lead_id,
            notes: seal.open_optional_text("notes", &row.notes)?,
            enrolled_at: row.enrolled_at,
            updated_at: row.updated_at,
        })
    }
}

/// A new enrolment, placed and checked by the caller.
pub struct Enrolment<'a> {
    pub patient_id: Uuid,
    pub pathway_id: Uuid,
    pub stage_id: Uuid,
    pub health_coach_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub notes: Option<&'a str>,
    pub actor_id: Uuid,
}

/// Enrols a patient in a pathway at a stage and records the first move.
pub async fn enrol(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    new: Enrolment<'_>,
) -> Result<row::Model, DbErr> {
    let id = new_id();
    let now = Timestamp::now();
    let seal = RowSealer::new(key, TABLE, id);
    let row = row::ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(scope.facility_id()),
        patient_id: ActiveValue::Set(new.patient_id),
        pathway_id: ActiveValue::Set(new.pathway_id),
        stage_id: ActiveValue::Set(new.stage_id),
        health_coach_id: ActiveValue::Set(new.health_coach_id),
        lead_id: ActiveValue::Set(new.lead_id),
        notes: ActiveValue::Set(seal.optional_text("notes", new.notes)),
        enrolled_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(db)
    .await?;
    record_move(db, id, None, new.stage_id, Some(new.actor_id), now).await?;
    Ok(row)
}

pub async fn record_move(
    db: &impl ConnectionTrait,
    journey_id: Uuid,
    from: Option<Uuid>,
    to: Uuid,
    actor_id: Option<Uuid>,
    at: Timestamp,
) -> Result<(), DbErr> {
    moves::ActiveModel {
        id: ActiveValue::Set(new_id()),
        journey_id: ActiveValue::Set(journey_id),
        from_stage_id: ActiveValue::Set(from),
        to_stage_id: ActiveValue::Set(to),
        actor_id: ActiveValue::Set(actor_id),
        occurred_at: ActiveValue::Set(at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The journeys of patients the scope can see.
fn visible(scope: &FacilityScope) -> Select<row::Entity> {
    use crate::policy::PatientFilter;
    let query = row::Entity::find().filter(row::Column::FacilityId.eq(scope.facility_id()));
    match scope.patients() {
        PatientFilter::All => query,
        PatientFilter::Only(patient) => query.filter(row::Column::PatientId.eq(patient)),
        PatientFilter::CareTeam(provider) => query.filter(
            row::Column::PatientId.in_subquery(super::care_team::linked_patients(provider)),
        ),
        // A portal account or a role without patient reach sees no journey list.
        PatientFilter::PortalAccount(_) | PatientFilter::Nothing => {
            query.filter(Expr::value(false))
        }
    }
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<row::Model>, DbErr> {
    visible(scope).filter(row::Column::Id.eq(id)).one(db).await
}

/// The patient's journey on the pathway, if enrolled. Used by writes that
/// already hold the patient, whatever the scope's own patient reach.
pub async fn enrolled(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    patient_id: Uuid,
    pathway_id: Uuid,
) -> Result<Option<row::Model>, DbErr> {
    row::Entity::find()
        .filter(row::Column::FacilityId.eq(scope.facility_id()))
        .filter(row::Column::PatientId.eq(patient_id))
        .filter(row::Column::PathwayId.eq(pathway_id))
        .one(db)
        .await
}

/// Which journeys a list returns: seed 001's lists by stage and by coach.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JourneyFilter {
    pub pathway_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub health_coach_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &JourneyFilter,
    limit: u64,
) -> Result<Vec<row::Model>, DbErr> {
    let mut query = visible(scope).order_by_asc(row::Column::Id).limit(limit);
    let equal_ids = [
        (row::Column::PathwayId, filter.pathway_id),
        (row::Column::StageId, filter.stage_id),
        (row::Column::HealthCoachId, filter.health_coach_id),
        (row::Column::PatientId, filter.patient_id),
    ];
    for (column, value) in equal_ids {
        if let Some(value) = value {
            query = query.filter(column.eq(value));
        }
    }
    if let Some(after) = filter.after {
        query = query.filter(row::Column::Id.gt(after));
    }
    query.all(db).await
}

/// A journey's moves, newest first (a journey has at most a few dozen).
pub async fn moves_of(
    db: &impl ConnectionTrait,
    journey_id: Uuid,
    limit: u64,
) -> Result<Vec<moves::Model>, DbErr> {
    moves::Entity::find()
        .filter(moves::Column::JourneyId.eq(journey_id))
        .order_by_desc(moves::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// A change to a journey found through the scope: `Some(None)` clears.
#[derive(Debug, Default)]
pub struct JourneyUpdate {
    pub stage_id: Option<Uuid>,
    pub health_coach_id: Option<Option<Uuid>>,
    pub notes: Option<Option<crate::crypto::Sealed>>,
}

/// Applies `changes` to a journey found through the scope, stamping
/// `updated_at` with `now`.
pub async fn change(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    found: row::Model,
    changes: JourneyUpdate,
    now: Timestamp,
) -> Result<row::Model, DbErr> {
    let mut active: row::ActiveModel = found.into();
    if let Some(stage) = changes.stage_id {
        active.stage_id = ActiveValue::Set(stage);
    }
    if let Some(coach) = changes.health_coach_id {
        active.health_coach_id = ActiveValue::Set(coach);
    }
    if let Some(notes) = changes.notes {
        active.notes = ActiveValue::Set(notes);
    }
    active.updated_at = ActiveValue::Set(now);
    crate::db::update_in_facility(db, active, row::Column::FacilityId, scope.facility_id()).await
}
