//! The queries of patient history. Every function takes the caller's
//! [`FacilityScope`] and reads or writes only within its facility; which
//! patient the caller may see is checked once, by [`patient_in_reach`].

use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::visits::{self, Entity, Model};
use crate::error::ApiError;
use crate::policy::FacilityScope;

/// Refuses (404) a patient the scope does not reach; the history of a
/// patient the caller cannot see does not exist for them.
pub async fn patient_in_reach(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    patient_id: Uuid,
) -> Result<(), ApiError> {
    match crate::care::store::find(db, scope, patient_id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound),
    }
}

/// Writes a new visit in the scope's facility.
pub async fn insert(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: Model,
) -> Result<Model, DbErr> {
    let row = Model {
        facility_id: scope.facility_id(),
        ..row
    };
    Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(row)
}

/// Writes a visit's new content over the row with its id, in the scope's
/// facility.
pub async fn replace(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: Model,
) -> Result<Model, DbErr> {
    let mut columns = row.clone().into_active_model().reset_all();
    columns.id = ActiveValue::NotSet;
    Entity::update_many()
        .set(columns)
        .filter(visits::Column::Id.eq(row.id))
        .filter(visits::Column::FacilityId.eq(scope.facility_id()))
        .exec(db)
        .await?;
    Ok(row)
}

/// One visit of `patient_id`.
pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    patient_id: Uuid,
    visit_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(visit_id)
        .filter(visits::Column::FacilityId.eq(scope.facility_id()))
        .filter(visits::Column::PatientId.eq(patient_id))
        .one(db)
        .await
}

/// A page of `patient_id`'s visits, newest visit first, after the visit
/// `after` (the previous page's last).
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    patient_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, ApiError> {
    let mut query = Entity::find()
        .filter(visits::Column::FacilityId.eq(scope.facility_id()))
        .filter(visits::Column::PatientId.eq(patient_id));
    if let Some(after) = after {
        let Some(last) = find(db, scope, patient_id, after).await? else {
            return Err(ApiError::invalid(
                "after",
                "no visit of this patient with this id",
            ));
        };
        query = query.filter(
            Condition::any()
                .add(visits::Column::VisitDate.lt(last.visit_date))
                .add(
                    Condition::all()
                        .add(visits::Column::VisitDate.eq(last.visit_date))
                        .add(visits::Column::Id.lt(last.id)),
                ),
        );
    }
    Ok(query
        .order_by_desc(visits::Column::VisitDate)
        .order_by_desc(visits::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
