//! A membership as the policy engine holds it: an account's role in a
//! facility (and department), or an installation-wide role with no
//! facility. The access context stores them; the actor carries its live
//! ones.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::roles::Role;
use crate::time::Timestamp;

/// A live membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub id: Uuid,
    /// None for an installation-wide role.
    pub facility_id: Option<Uuid>,
    pub role: Role,
    /// Empty when the role is not tied to a department.
    pub department: String,
    pub is_primary: bool,
    pub assigned_at: Timestamp,
    pub assigned_by: Option<Uuid>,
}

/// A membership as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub id: Uuid,
    pub account_id: Uuid,
    pub facility_id: Option<Uuid>,
    pub role: Role,
    pub department: Option<String>,
    pub is_primary: bool,
    pub assigned_at: Timestamp,
    pub assigned_by: Option<Uuid>,
}

impl Membership {
    /// The membership of `account_id` as the API shows it.
    pub fn view(&self, account_id: Uuid) -> MembershipView {
        MembershipView {
            id: self.id,
            account_id,
            facility_id: self.facility_id,
            role: self.role,
            department: (!self.department.is_empty()).then(|| self.department.clone()),
            is_primary: self.is_primary,
            assigned_at: self.assigned_at,
            assigned_by: self.assigned_by,
        }
    }
}
