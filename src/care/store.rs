//! Patient queries, always through a scope from the policy engine.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Condition, Query};
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect, Select};

use super::patients::{self, Model, NewPatient, PatientChanges};
use crate::crypto::DataKey;
use crate::policy::{FacilityScope, PatientFilter};

/// The patients `scope` lets the caller see.
fn visible(scope: &FacilityScope) -> Select<patients::Entity> {
    let query =
        patients::Entity::find().filter(patients::Column::FacilityId.eq(scope.facility_id()));
    match scope.patients() {
        PatientFilter::All => query,
        PatientFilter::PortalAccount(account) => {
            query.filter(patients::Column::PortalAccountId.eq(account))
        }
        PatientFilter::Only(patient) => query.filter(patients::Column::Id.eq(patient)),
        PatientFilter::CareTeam(provider) => query
            .filter(patients::Column::Id.in_subquery(super::care_team::linked_patients(provider))),
        PatientFilter::Nothing => query.filter(Expr::value(false)),
    }
}

/// Rows of the scope's facility whose patient (in `column`) it may see:
/// all of them for a role that reads every patient; otherwise only those
/// with no patient, or with the patients the scope reaches.
pub fn patients_seen(scope: &FacilityScope, column: impl ColumnTrait) -> Condition {
    let seen = Condition::all();
    match scope.patients() {
        PatientFilter::All => seen,
        PatientFilter::Only(patient) => seen.add(column.eq(patient)),
        PatientFilter::PortalAccount(account) => seen.add(
            column.in_subquery(
                Query::select()
                    .column(super::patients::Column::Id)
                    .from(super::patients::Entity)
                    .and_where(super::patients::Column::PortalAccountId.eq(account))
                    .to_owned(),
            ),
        ),
        // As a role without patient reach, plus the linked patients.
        PatientFilter::CareTeam(provider) => seen.add(
            Condition::any()
                .add(column.is_null())
                .add(column.in_subquery(super::care_team::linked_patients(provider))),
        ),
        PatientFilter::Nothing => seen.add(column.is_null()),
    }
}

/// Why a reference to a patient is refused.
pub const NOT_VISIBLE: &str = "no patient with this id that you can see in this facility";

/// Whether `actor` may see `patient_id` in `facility_id`: a role without
/// `patient:read` (an SDR) sees none. What a task or an appointment may
/// point at.
pub async fn visible_to(
    db: &impl ConnectionTrait,
    actor: &crate::policy::Actor,
    facility_id: Uuid,
    patient_id: Uuid,
) -> Result<bool, DbErr> {
    match actor.facility(facility_id, crate::policy::Permission::PATIENT_READ) {
        Ok(patients) => Ok(find(db, &patients, patient_id).await?.is_some()),
        Err(_) => Ok(false),
    }
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    visible(scope)
        .filter(patients::Column::Id.eq(id))
        .one(db)
        .await
}

/// What a patient is looked up by: one exact value, compared through its
/// blind index.
#[derive(Clone, Debug)]
pub enum Lookup {
    Mrn(String),
    Email(String),
    Phone(String),
}

/// The visible patients with exactly this MRN (at most one), email or phone.
pub async fn look_up(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    lookup: &Lookup,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let condition = match lookup {
        Lookup::Mrn(mrn) => patients::Column::MrnIndex.eq(patients::mrn_index(key, mrn)),
        Lookup::Email(email) => patients::Column::EmailIndex.eq(patients::email_index(key, email)),
        Lookup::Phone(phone) => patients::Column::PhoneIndex.eq(patients::phone_index(key, phone)),
    };
    visible(scope)
        .filter(condition)
        .order_by_asc(patients::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// A page of visible patients, in creation order, after the cursor.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = visible(scope)
        .order_by_asc(patients::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(patients::Column::Id.gt(after));
    }
    query.all(db).await
}

/// Whether the facility has this patient. Reveals nothing else; used only
/// to refuse an emergency access request for a patient that does not exist.
pub async fn exists(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    patient_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(patients::Entity::find()
        .select_only()
        .column(patients::Column::Id)
        .filter(patients::Column::FacilityId.eq(facility_id))
        .filter(patients::Column::Id.eq(patient_id))
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some())
}

/// Links the portal account a patient signs in with, once that account
/// accepted an invitation to it; replaces any earlier one.
pub async fn link_portal_account(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    patient_id: Uuid,
    account_id: Uuid,
) -> Result<bool, DbErr> {
    let result = patients::Entity::update_many()
        .col_expr(patients::Column::PortalAccountId, Expr::value(account_id))
        .col_expr(
            patients::Column::UpdatedAt,
            Expr::value(crate::time::Timestamp::now()),
        )
        .filter(patients::Column::FacilityId.eq(facility_id))
        .filter(patients::Column::Id.eq(patient_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The portal account of a patient of the scope's facility, whatever the
/// scope's patient reach: `None` when the facility has no such patient.
/// Reads no patient data; used to tell which side of a care-team link the
/// caller is on, and whether a patient's calendar feed is the caller's.
pub async fn portal_account_of(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    patient_id: Uuid,
) -> Result<Option<Option<Uuid>>, DbErr> {
    patients::Entity::find()
        .select_only()
        .column(patients::Column::PortalAccountId)
        .filter(patients::Column::FacilityId.eq(scope.facility_id()))
        .filter(patients::Column::Id.eq(patient_id))
        .into_tuple::<Option<Uuid>>()
        .one(db)
        .await
}

/// Marks a patient found through the scope inactive.
pub async fn deactivate(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: Model,
) -> Result<Model, DbErr> {
    let mut active: patients::ActiveModel = row.into();
    active.is_active = ActiveValue::Set(false);
    active.updated_at = ActiveValue::Set(crate::time::Timestamp::now());
    in_scope(db, scope, active).await
}

/// Adds a patient to the scope's facility.
pub async fn create(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    id: Uuid,
    new: &NewPatient,
) -> Result<Model, DbErr> {
    patients::seal_new(key, id, scope.facility_id(), new, scope.account_id())
        .insert(db)
        .await
}

/// Applies `changes` to a patient found through the scope.
pub async fn change(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    row: Model,
    changes: &PatientChanges,
) -> Result<Model, DbErr> {
    in_scope(db, scope, patients::seal_changes(key, row, changes)).await
}

/// Writes a patient's changed columns, within the scope's facility only.
async fn in_scope(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    active: patients::ActiveModel,
) -> Result<Model, DbErr> {
    crate::db::update_in_facility(
        db,
        active,
        patients::Column::FacilityId,
        scope.facility_id(),
    )
    .await
}
