//! Waitlist queries behind the handlers, through the caller's scope: a
//! scope sees the entries of its facility whose patient it may see. (The
//! offer and expiry jobs, which run with no actor, are in `waitlist`.)

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, QueryOrder, QuerySelect, Select};
use serde::Deserialize;
use utoipa::IntoParams;

use super::store;
use super::waitlist::{self, NewWaitlistEntry, WaitlistStatus};
use crate::crypto::DataKey;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// The entries of the scope's facility whose patient it may see.
fn visible(scope: &FacilityScope) -> Select<waitlist::Entity> {
    use waitlist::Column;
    waitlist::Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(store::patients_seen(scope, Column::PatientId))
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    entry_id: Uuid,
) -> Result<Option<waitlist::Model>, DbErr> {
    visible(scope)
        .filter(waitlist::Column::Id.eq(entry_id))
        .one(db)
        .await
}

/// Which entries a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitlistFilter {
    pub status: Option<WaitlistStatus>,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The visible entries matching `filter`, in the order they joined.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &WaitlistFilter,
    limit: u64,
) -> Result<Vec<waitlist::Model>, DbErr> {
    use waitlist::Column;
    let mut query = visible(scope).order_by_asc(Column::Id).limit(limit);
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(patient) = filter.patient_id {
        query = query.filter(Column::PatientId.eq(patient));
    }
    if let Some(lead) = filter.lead_id {
        query = query.filter(Column::LeadId.eq(lead));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// Adds an entry to the scope's facility, made by the scope's account,
/// with the providers it waits for; returns it with those providers (in
/// id order, once each).
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    new: &NewWaitlistEntry,
    duration_minutes: i32,
    now: Timestamp,
) -> Result<(waitlist::Model, Vec<Uuid>), DbErr> {
    let row = waitlist::seal_new(
        key,
        scope.facility_id(),
        new,
        duration_minutes,
        scope.account_id(),
        now,
    )
    .insert(txn)
    .await?;
    let mut providers = new.provider_ids.clone();
    providers.sort();
    providers.dedup();
    if !providers.is_empty() {
        waitlist::provider::Entity::insert_many(
            providers.iter().map(|p| waitlist::provider_row(row.id, *p)),
        )
        .exec(txn)
        .await?;
    }
    Ok((row, providers))
}

/// Moves an entry to `status` (and the appointment that booked it).
pub async fn set_status(
    txn: &impl ConnectionTrait,
    entry: waitlist::Model,
    status: WaitlistStatus,
    appointment_id: Option<Uuid>,
    now: Timestamp,
) -> Result<waitlist::Model, DbErr> {
    let mut active: waitlist::ActiveModel = entry.into();
    active.status = ActiveValue::Set(status.as_str().to_owned());
    if appointment_id.is_some() {
        active.appointment_id = ActiveValue::Set(appointment_id);
    }
    active.updated_at = ActiveValue::Set(now);
    active.update(txn).await
}
