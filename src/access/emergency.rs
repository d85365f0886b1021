//! Emergency access ("break the glass", HIPAA 164.312(a)(2)(ii)): a
//! clinician may open a patient outside their facilities only by stating a
//! reason. The grant covers that one patient, for read, for
//! [`GRANT_MINUTES`]; every access under it is flagged in the audit log, and
//! the facility's administrators review the grants.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{DataKey, FieldRef};
use crate::db::new_id;
use crate::error::ApiError;
use crate::policy::{Actor, FacilityScope, Permission, Principal};
use crate::time::Timestamp;

/// How long a grant lasts.
pub const GRANT_MINUTES: i64 = 60;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "emergency_access")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    /// Sealed under the patient's facility key: a reason may name the patient.
    pub reason: crate::crypto::Sealed,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    pub reviewed_at: Option<Timestamp>,
    pub reviewed_by: Option<Uuid>,
    /// The clinical membership the grant was made under; the grant ends
    /// with it. None for grants made before this was recorded, which end
    /// when the holder has no clinical role left.
    pub granted_under: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A grant as reviewers see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Grant {
    pub id: Uuid,
    pub account_id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    pub reason: String,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    pub reviewed_at: Option<Timestamp>,
    pub reviewed_by: Option<Uuid>,
}

impl Grant {
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, crate::crypto::CryptoError> {
        Ok(Self {
            id: row.id,
            account_id: row.account_id,
            facility_id: row.facility_id,
            patient_id: row.patient_id,
            reason: key.open_string(reason_field(row.id), &row.reason)?,
            granted_at: row.granted_at,
            expires_at: row.expires_at,
            reviewed_at: row.reviewed_at,
            reviewed_by: row.reviewed_by,
        })
    }
}

fn reason_field(id: Uuid) -> FieldRef<'static> {
    FieldRef::new("emergency_access", "reason", id)
}

/// A request to open a patient.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    /// Why the access is needed; at least 10 characters.
    pub reason: String,
}

/// Checks that the actor may ask for emergency access at all: a person (not
/// an API key) holding `emergency_access:request` in some facility.
pub fn may_request(actor: &Actor) -> Result<(), ApiError> {
    if matches!(actor.principal, Principal::ApiKey { .. }) {
        return Err(ApiError::Forbidden(
            "emergency access is for people, not API keys".to_owned(),
        ));
    }
    let holds = actor
        .facilities_with(Permission::EMERGENCY_ACCESS_REQUEST)
        .is_none_or(|ids| !ids.is_empty());
    if holds {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this needs the `emergency_access:request` permission".to_owned(),
        ))
    }
}

/// Refuses emergency access to a facility the actor belongs to: there is
/// nothing to break, and its own roles say what it may read there.
pub fn outside_own_facilities(actor: &Actor, facility_id: Uuid) -> Result<(), ApiError> {
    if actor
        .memberships()
        .iter()
        .any(|m| m.facility_id == Some(facility_id))
    {
        return Err(ApiError::invalid(
            "facility_id",
            "is a facility you belong to: your own roles there say what you may read",
        ));
    }
    Ok(())
}

/// The membership a grant is made under: the actor's first one that holds
/// `emergency_access:request`.
fn clinical_membership(actor: &Actor) -> Option<Uuid> {
    actor
        .memberships()
        .iter()
        .find(|m| {
            m.facility_id.is_some_and(|f| {
                actor
                    .permissions_in(f)
                    .contains(&Permission::EMERGENCY_ACCESS_REQUEST)
            })
        })
        .map(|m| m.id)
}

/// Whether a grant still stands for `actor`: the membership it was granted
/// under is live and still holds a clinical role.
fn still_held(grant: &Model, actor: &Actor) -> bool {
    let clinical = |facility: Option<Uuid>| {
        facility.is_some_and(|f| {
            actor
                .permissions_in(f)
                .contains(&Permission::EMERGENCY_ACCESS_REQUEST)
        })
    };
    actor
        .memberships()
        .iter()
        .any(|m| grant.granted_under.is_none_or(|under| under == m.id) && clinical(m.facility_id))
}

/// Records a grant; the caller has checked the patient exists.
pub async fn grant(
    db: &impl ConnectionTrait,
    key: &DataKey,
    actor: &Actor,
    request: &EmergencyRequest,
) -> Result<Model, DbErr> {
    let id = new_id();
    let now = Timestamp::now();
    ActiveModel {
        id: ActiveValue::Set(id),
        account_id: ActiveValue::Set(actor.account_id()),
        facility_id: ActiveValue::Set(request.facility_id),
        patient_id: ActiveValue::Set(request.patient_id),
        reason: ActiveValue::Set(key.seal_str(reason_field(id), request.reason.trim())),
        granted_at: ActiveValue::Set(now),
        expires_at: ActiveValue::Set(now.plus_secs(GRANT_MINUTES * 60)),
        reviewed_at: ActiveValue::Set(None),
        reviewed_by: ActiveValue::Set(None),
        granted_under: ActiveValue::Set(clinical_membership(actor)),
    }
    .insert(db)
    .await
}

/// The scope for reading one patient's data with `permission`: the
/// actor's own reach in the facility if it has any, otherwise a live
/// emergency grant for that patient (which covers every read of it).
pub async fn patient_scope(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facility_id: Uuid,
    patient_id: Uuid,
    permission: Permission,
) -> Result<FacilityScope, ApiError> {
    match actor.facility(facility_id, permission) {
        Err(ApiError::NotFound) => {}
        other => return other,
    }
    let now = Timestamp::now();
    let live = Entity::find()
        .filter(Column::AccountId.eq(actor.account_id()))
        .filter(Column::FacilityId.eq(facility_id))
        .filter(Column::PatientId.eq(patient_id))
        .filter(Column::ExpiresAt.gt(now))
        .all(db)
        .await?
        .into_iter()
        .find(|grant| still_held(grant, actor));
    match (live, &actor.principal) {
        (Some(_), Principal::Account { .. }) => Ok(FacilityScope::emergency(
            facility_id,
            actor.account_id(),
            patient_id,
        )),
        _ => Err(ApiError::NotFound),
    }
}

/// A page of a facility's grants, unreviewed first, newest first.
pub async fn page(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    unreviewed_only: bool,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(facility_id))
        .order_by_desc(Column::Id)
        .limit(limit);
    if unreviewed_only {
        query = query.filter(Column::ReviewedAt.is_null());
    }
    if let Some(after) = after {
        query = query.filter(Column::Id.lt(after));
    }
    query.all(db).await
}

/// Marks a grant of the facility reviewed; `None` when there is no such grant.
pub async fn review(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    id: Uuid,
    reviewer: Uuid,
) -> Result<Option<Model>, DbErr> {
    let Some(row) = Entity::find_by_id(id)
        .filter(Column::FacilityId.eq(facility_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let mut active: ActiveModel = row.into();
    active.reviewed_at = ActiveValue::Set(Some(Timestamp::now()));
    active.reviewed_by = ActiveValue::Set(Some(reviewer));
    active.update(db).await.map(Some)
}
