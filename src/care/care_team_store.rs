//! Care-team link queries behind the handlers, through the caller's scope:
//! a scope sees the links where its account is the provider and those of
//! the patients it can see. (The state machine's writes and the policy
//! engine's subquery are in `care_team`.)

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect, Select};
use serde::Deserialize;
use utoipa::IntoParams;

use super::care_team::{self, LinkSide, LinkStatus, NewLink};
use super::store;
use crate::db::new_id;
use crate::error::{ApiError, OnConstraint};
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// The links the scope shows: the caller's own as provider, and those of
/// the patients it can see.
fn visible(scope: &FacilityScope) -> Select<care_team::Entity> {
    use care_team::Column;
    care_team::Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(
            Condition::any()
                .add(Column::ProviderId.eq(scope.account_id()))
                .add(store::patients_seen(scope, Column::PatientId)),
        )
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    link_id: Uuid,
) -> Result<Option<care_team::Model>, DbErr> {
    visible(scope)
        .filter(care_team::Column::Id.eq(link_id))
        .one(db)
        .await
}

/// Which links a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LinkFilter {
    pub status: Option<LinkStatus>,
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The visible links matching `filter`, in creation order.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &LinkFilter,
    limit: u64,
) -> Result<Vec<care_team::Model>, DbErr> {
    use care_team::Column;
    let mut query = visible(scope).order_by_asc(Column::Id).limit(limit);
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(patient) = filter.patient_id {
        query = query.filter(Column::PatientId.eq(patient));
    }
    if let Some(provider) = filter.provider_id {
        query = query.filter(Column::ProviderId.eq(provider));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// A new link in the scope's facility, requested by `side`, made by the
/// scope's account.
pub async fn insert(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    new: &NewLink,
    side: LinkSide,
    now: Timestamp,
) -> Result<care_team::Model, ApiError> {
    let row = care_team::ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(scope.facility_id()),
        patient_id: ActiveValue::Set(new.patient_id),
        provider_id: ActiveValue::Set(new.provider_id),
        status: ActiveValue::Set(LinkStatus::Requested.as_str().to_owned()),
        requested_by: ActiveValue::Set(side.as_str().to_owned()),
        blocked_by: ActiveValue::Set(None),
        created_by: ActiveValue::Set(scope.account_id()),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
        accepted_at: ActiveValue::Set(None),
        ended_at: ActiveValue::Set(None),
    };
    row.insert(db)
        .await
        .on_constraint("care_team_links_patient_id_provider_id_key", || {
            ApiError::Conflict("this pair's link was created meanwhile; read it again".to_owned())
        })
}
