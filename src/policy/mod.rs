//! The policy engine every context speaks: a permission, the role bundles
//! that hold permissions, which records a permission reaches, the actor
//! (who is calling and what they hold) and the facility scope it is granted.
//!
//! Each context declares its own permissions (as `Permission` constants and
//! a list of [`Grant`]s in its `permissions.rs`); every role of the seeds
//! maps to one bundle, and "may this actor do that" is answered here from
//! the grants of all contexts together. The access context stores the
//! facilities and memberships and establishes the actor from a token; it is
//! the only context that makes one.

mod actor;
pub mod failed_access;
mod membership;
mod request;
pub mod roles;
mod scope;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

pub use actor::{Actor, Principal, permissions_of};
pub use membership::{Membership, MembershipView};
pub use request::RequestInfo;
pub use roles::{PatientReach, RecordReach, Role, RoleScope};
pub use scope::{FacilityScope, PatientFilter};

/// Something an actor may do, named `resource:action`. The constants are
/// declared by the context that owns the resource
/// (`Permission::LEAD_READ` in `crm/permissions.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(&'static str);

/// A set of permissions that roles share. Each role of the seeds holds
/// exactly one bundle (`access::Role::bundle`); roles that mean the same
/// thing in different seeds hold the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bundle {
    /// Administers one facility: every facility permission.
    FacilityAdmin,
    /// Physicians, nurses, providers and doctors.
    Clinician,
    /// Social workers and case managers.
    CareSupport,
    /// Seed 001's health coach.
    HealthCoach,
    /// Pharmacists and technicians: clinical reading.
    ClinicalReader,
    /// Seed 000's readonly.
    Readonly,
    /// Seed 000's staff.
    FrontDesk,
    /// Seed 000's clinical reviewer.
    ClinicalReviewer,
    /// Seed 001's SDR.
    Sales,
    /// Research partners: nothing identifiable.
    NoPhi,
    /// Developers: integrations.
    Integrator,
    /// A patient: their own record.
    OwnRecord,
    /// The installation's administrator.
    SystemAdmin,
}

/// Which of a facility's records a permission lets a role change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Every record of the facility, for every bundle holding it.
    Facility,
    /// Only the records assigned to the actor (owner, coach, assignee,
    /// participant), unless the role administers the facility or holds one
    /// of the bundles in `unless`.
    Assigned { unless: &'static [Bundle] },
}

/// One permission and who holds it.
#[derive(Clone, Copy, Debug)]
pub struct Grant {
    pub permission: Permission,
    pub held_by: &'static [Bundle],
    pub reach: Reach,
}

impl Permission {
    /// A permission named `resource:action`; only contexts' `permissions.rs`
    /// make them.
    pub const fn named(name: &'static str) -> Self {
        Permission(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether only a person may use it: no API key holds it, whatever its
    /// scopes say.
    pub fn for_people_only(self) -> bool {
        catalogue().people_only.contains(&self)
    }

    /// Every permission of every context, in the contexts' order.
    pub fn all() -> &'static [Permission] {
        &catalogue().all
    }

    /// How this permission reaches records.
    pub fn reach(self) -> Reach {
        catalogue()
            .reach
            .get(&self)
            .copied()
            .unwrap_or(Reach::Facility)
    }
}

impl Bundle {
    /// The permissions of every context that this bundle holds, in the
    /// contexts' order.
    pub fn permissions(self) -> &'static [Permission] {
        catalogue()
            .held
            .get(&self)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The grants of all contexts, indexed once.
struct Catalogue {
    all: Vec<Permission>,
    held: BTreeMap<Bundle, Vec<Permission>>,
    reach: BTreeMap<Permission, Reach>,
    people_only: Vec<Permission>,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let mut catalogue = Catalogue {
            all: Vec::new(),
            held: BTreeMap::new(),
            reach: BTreeMap::new(),
            people_only: crate::contexts::all()
                .iter()
                .flat_map(|c| c.people_only())
                .copied()
                .collect(),
        };
        for grant in crate::contexts::all().iter().flat_map(|c| c.permissions()) {
            catalogue.all.push(grant.permission);
            catalogue.reach.insert(grant.permission, grant.reach);
            for bundle in grant.held_by {
                catalogue
                    .held
                    .entry(*bundle)
                    .or_default()
                    .push(grant.permission);
            }
        }
        catalogue
    })
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::all()
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a permission"))
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl PartialSchema for Permission {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some("Something an actor may do. Named `resource:action`."))
            .enum_values(Some(Permission::all().iter().map(|p| p.as_str())))
            .into()
    }
}

impl ToSchema for Permission {}
