//! Memberships: an account holds a role in a facility (and department), or
//! an installation-wide role (`system_admin`) with no facility.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};

use crate::db::new_id;
use crate::policy::{FacilityScope, Membership, MembershipView, Role};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// None for an installation-wide role.
    pub facility_id: Option<Uuid>,
    pub role: String,
    /// Empty when the role is not tied to a department.
    pub department: String,
    pub is_primary: bool,
    pub assigned_at: Timestamp,
    pub assigned_by: Option<Uuid>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The live membership, if its role is one this build knows.
    pub fn membership(&self) -> Option<Membership> {
        Some(Membership {
            id: self.id,
            facility_id: self.facility_id,
            role: self.role.parse().ok()?,
            department: self.department.clone(),
            is_primary: self.is_primary,
            assigned_at: self.assigned_at,
            assigned_by: self.assigned_by,
        })
    }

    pub fn view(&self) -> Option<MembershipView> {
        Some(self.membership()?.view(self.account_id))
    }
}

/// The live memberships of an account.
pub async fn of_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<Membership>, DbErr> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::RevokedAt.is_null())
        .all(db)
        .await?
        .iter()
        .filter_map(Model::membership)
        .collect())
}

/// Whether the account holds a live role in the facility: who a lead, task
/// or patient may be assigned to.
pub async fn is_member(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    facility_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::FacilityId.eq(facility_id))
        .filter(Column::RevokedAt.is_null())
        .count(db)
        .await?
        > 0)
}

/// Why an account cannot be given a record of the facility.
pub const NOT_A_MEMBER: &str = "must be an account with a role in this facility";

/// As [`require_members`] for a list field (`provider_ids`): the first
/// account without a role is named by its index, `provider_ids[2]`.
pub async fn require_each_member(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    field: &str,
    accounts: &[Uuid],
) -> Result<(), crate::error::ApiError> {
    for (i, account) in accounts.iter().enumerate() {
        if !is_member(db, *account, facility_id).await? {
            return Err(crate::error::ApiError::invalid(
                format!("{field}[{i}]"),
                NOT_A_MEMBER,
            ));
        }
    }
    Ok(())
}

/// Refuses, naming the field, the first account of `fields` that holds no
/// role in the facility: whom a lead, task or care journey may be assigned
/// to (owner, coach, assignee).
pub async fn require_members(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    fields: &[(&str, Option<Uuid>)],
) -> Result<(), crate::error::ApiError> {
    for (field, account) in fields {
        if let Some(account) = account
            && !is_member(db, *account, facility_id).await?
        {
            return Err(crate::error::ApiError::invalid(*field, NOT_A_MEMBER));
        }
    }
    Ok(())
}

/// A page of the live memberships of a facility.
pub async fn of_facility(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::RevokedAt.is_null())
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// A page of the facility's live memberships, of `role` when given, in
/// id order: the staff directory's rows.
pub async fn staff_page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    role: Option<Role>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::RevokedAt.is_null())
        // A patient's portal membership is not staff, and who is a patient
        // is PHI.
        .filter(Column::Role.ne(Role::Patient.as_str()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(role) = role {
        query = query.filter(Column::Role.eq(role.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// The account's live staff memberships of the facility.
pub async fn staff_of_account(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    account_id: Uuid,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::RevokedAt.is_null())
        .filter(Column::Role.ne(Role::Patient.as_str()))
        .order_by_asc(Column::Id)
        .all(db)
        .await
}

/// What a new membership is.
pub struct NewMembership {
    pub account_id: Uuid,
    pub facility_id: Option<Uuid>,
    pub role: Role,
    pub department: Option<String>,
    pub is_primary: bool,
    pub assigned_by: Option<Uuid>,
}

/// Grants a role, or returns the live membership that already grants it.
pub async fn grant(db: &impl ConnectionTrait, new: NewMembership) -> Result<Model, DbErr> {
    let department = new.department.unwrap_or_default();
    let mut existing = Entity::find()
        .filter(Column::AccountId.eq(new.account_id))
        .filter(Column::Role.eq(new.role.as_str()))
        .filter(Column::Department.eq(department.clone()))
        .filter(Column::RevokedAt.is_null());
    existing = match new.facility_id {
        Some(facility) => existing.filter(Column::FacilityId.eq(facility)),
        None => existing.filter(Column::FacilityId.is_null()),
    };
    if let Some(found) = existing.one(db).await? {
        return Ok(found);
    }
    ActiveModel {
        id: ActiveValue::Set(new_id()),
        account_id: ActiveValue::Set(new.account_id),
        facility_id: ActiveValue::Set(new.facility_id),
        role: ActiveValue::Set(new.role.as_str().to_owned()),
        department: ActiveValue::Set(department),
        is_primary: ActiveValue::Set(new.is_primary),
        assigned_at: ActiveValue::Set(Timestamp::now()),
        assigned_by: ActiveValue::Set(new.assigned_by),
        revoked_at: ActiveValue::Set(None),
    }
    .insert(db)
    .await
}

/// Ends a membership of the facility; false when there is no such live one.
pub async fn revoke(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Timestamp::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
