//! The actor: who is calling and what they hold (their memberships), as
//! the policy engine reasons about it. Every handler that touches a
//! facility's data asks the actor for a scope; stores take that scope, so a
//! query that skipped the check does not compile. The access context
//! establishes the actor once per request from the bearer token.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::Permission;
use super::membership::Membership;
use super::request::RequestInfo;
use super::roles::{PatientReach, RecordReach, Role, RoleScope};
use super::scope::FacilityScope;
use crate::audit::{AuditAction, AuditActor, AuditEvent};
use crate::error::ApiError;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Account {
        account_id: Uuid,
        session_id: Uuid,
    },
    ApiKey {
        key_id: Uuid,
        facility_id: Uuid,
        created_by: Uuid,
    },
}

/// An authenticated caller and what it holds.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: Principal,
    memberships: Vec<Membership>,
    /// For an API key: its scopes, already narrowed to what its creator holds.
    key_permissions: Option<BTreeSet<Permission>>,
    /// When the access token used expires (Unix seconds); none for an API key.
    token_expires_at: Option<i64>,
    pub request: RequestInfo,
}

impl Actor {
    /// The actor for `principal`, holding `memberships`. For an API key,
    /// `key_permissions` are its scopes, already narrowed to what its
    /// creator holds. Only the access context's token resolution
    /// (`access::actor`) makes one.
    pub(crate) fn new(
        principal: Principal,
        mut memberships: Vec<Membership>,
        key_permissions: Option<BTreeSet<Permission>>,
        token_expires_at: Option<i64>,
        request: RequestInfo,
    ) -> Self {
        memberships.sort_by_key(|m| m.id);
        Self {
            principal,
            memberships,
            key_permissions,
            token_expires_at,
            request,
        }
    }

    /// The account acting, directly or as the creator of an API key.
    pub fn account_id(&self) -> Uuid {
        match self.principal {
            Principal::Account { account_id, .. } => account_id,
            Principal::ApiKey { created_by, .. } => created_by,
        }
    }

    /// When the access token the actor used expires (Unix seconds): what a
    /// long-lived connection (the realtime socket) must not outlive. None
    /// for an API key.
    pub fn token_expires_at(&self) -> Option<i64> {
        self.token_expires_at
    }

    /// The session, when the actor signed in.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.principal {
            Principal::Account { session_id, .. } => Some(session_id),
            Principal::ApiKey { .. } => None,
        }
    }

    /// The actor as the audit log names it.
    pub fn audit_actor(&self) -> AuditActor {
        match self.principal {
            Principal::Account {
                account_id,
                session_id,
            } => AuditActor::Account {
                id: account_id,
                session_id: Some(session_id),
            },
            Principal::ApiKey { key_id, .. } => AuditActor::ApiKey { id: key_id },
        }
    }

    /// An audit event by this actor from this request; add the resource.
    pub fn event(&self, action: AuditAction, resource_type: &str) -> AuditEvent {
        AuditEvent::new(self.audit_actor(), action, resource_type)
            .context(self.request.audit_context())
    }

    pub fn memberships(&self) -> &[Membership] {
        &self.memberships
    }

    /// What the actor may do in `facility_id`.
    pub fn permissions_in(&self, facility_id: Uuid) -> BTreeSet<Permission> {
        match (&self.principal, &self.key_permissions) {
            (
                Principal::ApiKey {
                    facility_id: own, ..
                },
                Some(granted),
            ) => {
                if *own == facility_id {
                    granted.clone()
                } else {
                    BTreeSet::new()
                }
            }
            _ => permissions_of(&self.memberships, facility_id),
        }
    }

    /// What the actor may do across the installation.
    pub fn installation_permissions(&self) -> BTreeSet<Permission> {
        if self.key_permissions.is_some() {
            return BTreeSet::new();
        }
        self.memberships
            .iter()
            .filter(|m| m.role.scope() == RoleScope::Installation)
            .flat_map(|m| m.role.permissions().iter().copied())
            .collect()
    }

    /// Checks an installation-wide permission.
    pub fn require_installation(&self, permission: Permission) -> Result<(), ApiError> {
        if self.installation_permissions().contains(&permission) {
            Ok(())
        } else {
            Err(forbidden(permission))
        }
    }

    /// The facilities where the actor holds `permission`; `None` means all
    /// of them (an installation role holds it).
    pub fn facilities_with(&self, permission: Permission) -> Option<Vec<Uuid>> {
        if self.installation_permissions().contains(&permission) {
            return None;
        }
        let mut ids: Vec<Uuid> = self
            .memberships
            .iter()
            .filter_map(|m| m.facility_id)
            .filter(|f| self.permissions_in(*f).contains(&permission))
            .collect();
        ids.sort();
        ids.dedup();
        Some(ids)
    }

    /// The scope for acting on `facility_id` with `permission`. A facility
    /// the actor holds nothing in is not found (404, no hint it exists);
    /// one it holds other permissions in is forbidden (403).
    pub fn facility(
        &self,
        facility_id: Uuid,
        permission: Permission,
    ) -> Result<FacilityScope, ApiError> {
        let held = self.permissions_in(facility_id);
        if held.is_empty() {
            return Err(ApiError::NotFound);
        }
        if !held.contains(&permission) {
            return Err(forbidden(permission));
        }
        Ok(FacilityScope::new(
            facility_id,
            self.patient_reach(facility_id, permission),
            self.record_reach(facility_id, permission),
            self.account_id(),
        ))
    }

    /// The roles the actor holds in the facility (installation roles
    /// included) that grant `permission`. An API key acts with its
    /// creator's roles, narrowed to its scopes by [`Self::permissions_in`].
    fn roles_granting(
        &self,
        facility_id: Uuid,
        permission: Permission,
    ) -> impl Iterator<Item = Role> + '_ {
        self.memberships
            .iter()
            .filter(move |m| {
                m.facility_id == Some(facility_id) || m.role.scope() == RoleScope::Installation
            })
            .map(|m| m.role)
            .filter(move |role| role.can(permission))
    }

    /// Which assignable records the actor's roles let it change.
    fn record_reach(&self, facility_id: Uuid, permission: Permission) -> RecordReach {
        self.roles_granting(facility_id, permission)
            .map(|role| role.record_reach(permission))
            .max()
            .unwrap_or(RecordReach::Assigned)
    }

    /// How far the actor's roles that grant `permission` in the facility
    /// reach among its patients.
    fn patient_reach(&self, facility_id: Uuid, permission: Permission) -> PatientReach {
        if let Some(granted) = &self.key_permissions {
            return if granted.contains(&permission) {
                PatientReach::Facility
            } else {
                PatientReach::None
            };
        }
        self.roles_granting(facility_id, permission)
            .map(|role| role.patient_reach())
            .max()
            .unwrap_or(PatientReach::None)
    }
}

fn forbidden(permission: Permission) -> ApiError {
    ApiError::Forbidden(format!(
        "this needs the `{}` permission",
        permission.as_str()
    ))
}

/// The union of the permissions that `memberships` grant in `facility_id`,
/// counting installation roles everywhere.
pub fn permissions_of(memberships: &[Membership], facility_id: Uuid) -> BTreeSet<Permission> {
    memberships
        .iter()
        .filter(|m| m.facility_id == Some(facility_id) || m.role.scope() == RoleScope::Installation)
        .flat_map(|m| m.role.permissions().iter().copied())
        .collect()
}
