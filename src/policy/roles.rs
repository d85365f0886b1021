//! The role catalogue and what each role may do.
//!
//! Every role name of every seed is valid here, spelled as the seed spells
//! it, so a clinic migrating from any of the five products keeps its
//! vocabulary. Roles that mean the same thing in different seeds (`admin`,
//! `Admin`, `administrator`) map to the same permissions. The table in
//! docs/roles.md is generated from this file (`carebase roles`) and a test
//! keeps the two equal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use utoipa::ToSchema;

use super::{Bundle, Permission, Reach};

/// A role, in the spelling of the seed that named it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Role {
    // Seed 000, MiKO concierge.
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "staff")]
    Staff,
    #[serde(rename = "clinical_reviewer")]
    ClinicalReviewer,
    #[serde(rename = "readonly")]
    Readonly,
    // Seed 001, HealthCRM.
    #[serde(rename = "SDR")]
    Sdr,
    #[serde(rename = "Health Coach")]
    HealthCoach,
    #[serde(rename = "Admin")]
    CrmAdmin,
    // Seed 002, Healthcare AI Chat.
    #[serde(rename = "physician")]
    Physician,
    #[serde(rename = "nurse")]
    Nurse,
    #[serde(rename = "administrator")]
    Administrator,
    #[serde(rename = "pharmacist")]
    Pharmacist,
    #[serde(rename = "technician")]
    Technician,
    #[serde(rename = "social_worker")]
    SocialWorker,
    #[serde(rename = "case_manager")]
    CaseManager,
    #[serde(rename = "system_admin")]
    SystemAdmin,
    // Seed 003, platform plan (its `admin` is seed 000's).
    #[serde(rename = "provider")]
    Provider,
    #[serde(rename = "patient")]
    Patient,
    #[serde(rename = "research-partner")]
    ResearchPartner,
    #[serde(rename = "developer")]
    Developer,
    // Seed 004, telehealth links (its `patient` is seed 003's).
    #[serde(rename = "doctor")]
    Doctor,
}

/// Where a role applies: inside one facility, or across the installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleScope {
    Facility,
    Installation,
}

/// Which of a facility's records a role may change with a permission that
/// covers assignable records (leads, tasks, care journeys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordReach {
    /// Only the records assigned to the actor (owner, coach, assignee).
    Assigned,
    /// Every record of the facility.
    Facility,
}

/// How much of a facility's patients a role reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PatientReach {
    /// None at all.
    None,
    /// Only the patient record linked to the actor's own account.
    Own,
    /// Only the patients the actor holds an active care-team link with
    /// (seed 004's doctors).
    CareTeam,
    /// Every patient of the facility.
    Facility,
}

impl Role {
    pub const ALL: [Role; 20] = [
        Role::Admin,
        Role::Staff,
        Role::ClinicalReviewer,
        Role::Readonly,
        Role::Sdr,
        Role::HealthCoach,
        Role::CrmAdmin,
        Role::Physician,
        Role::Nurse,
        Role::Administrator,
        Role::Pharmacist,
        Role::Technician,
        Role::SocialWorker,
        Role::CaseManager,
        Role::SystemAdmin,
        Role::Provider,
        Role::Patient,
        Role::ResearchPartner,
        Role::Developer,
        Role::Doctor,
    ];

    /// The name as the seeds write it, and as the API and database store it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::ClinicalReviewer => "clinical_reviewer",
            Role::Readonly => "readonly",
            Role::Sdr => "SDR",
            Role::HealthCoach => "Health Coach",
            Role::CrmAdmin => "Admin",
            Role::Physician => "physician",
            Role::Nurse => "nurse",
            Role::Administrator => "administrator",
            Role::Pharmacist => "pharmacist",
            Role::Technician => "technician",
            Role::SocialWorker => "social_worker",
            Role::CaseManager => "case_manager",
            Role::SystemAdmin => "system_admin",
            Role::Provider => "provider",
            Role::Patient => "patient",
            Role::ResearchPartner => "research-partner",
            Role::Developer => "developer",
            Role::Doctor => "doctor",
        }
    }

    /// The seeds that name this role.
    pub fn seeds(self) -> &'static str {
        match self {
            Role::Admin => "000, 003",
            Role::Staff | Role::ClinicalReviewer | Role::Readonly => "000",
            Role::Sdr | Role::HealthCoach | Role::CrmAdmin => "001",
            Role::Physician
            | Role::Nurse
            | Role::Administrator
            | Role::Pharmacist
            | Role::Technician
            | Role::SocialWorker
            | Role::CaseManager
            | Role::SystemAdmin => "002",
            Role::Provider | Role::ResearchPartner | Role::Developer => "003",
            Role::Patient => "003, 004",
            Role::Doctor => "004",
        }
    }

    pub fn scope(self) -> RoleScope {
        match self {
            Role::SystemAdmin => RoleScope::Installation,
            _ => RoleScope::Facility,
        }
    }

    /// The bundle of permissions the role holds.
    pub fn bundle(self) -> Bundle {
        match self {
            Role::Admin | Role::CrmAdmin | Role::Administrator => Bundle::FacilityAdmin,
            Role::Physician | Role::Nurse | Role::Provider | Role::Doctor => Bundle::Clinician,
            Role::SocialWorker | Role::CaseManager => Bundle::CareSupport,
            Role::HealthCoach => Bundle::HealthCoach,
            Role::Pharmacist | Role::Technician => Bundle::ClinicalReader,
            Role::Readonly => Bundle::Readonly,
            Role::Staff => Bundle::FrontDesk,
            Role::ClinicalReviewer => Bundle::ClinicalReviewer,
            Role::Sdr => Bundle::Sales,
            Role::ResearchPartner => Bundle::NoPhi,
            Role::Developer => Bundle::Integrator,
            Role::Patient => Bundle::OwnRecord,
            Role::SystemAdmin => Bundle::SystemAdmin,
        }
    }

    /// What the role may do where it applies.
    pub fn permissions(self) -> &'static [Permission] {
        self.bundle().permissions()
    }

    pub fn can(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    /// Which records a permission lets the role change: facility
    /// administrators change any lead, task or care journey of their
    /// facility; everyone else only those assigned to them.
    /// Seed 000's staff run the front desk, so they book, check in and
    /// cancel for every provider; providers and coaches change their own
    /// appointments and their own schedule.
    pub fn record_reach(self, permission: Permission) -> RecordReach {
        let assignable = match permission.reach() {
            Reach::Facility => false,
            Reach::Assigned { unless } => !unless.contains(&self.bundle()),
        };
        if assignable && !self.can(Permission::FACILITY_MANAGE) {
            RecordReach::Assigned
        } else {
            RecordReach::Facility
        }
    }

    /// Which of the facility's patients the role's patient permissions cover.
    pub fn patient_reach(self) -> PatientReach {
        match self {
            Role::Patient => PatientReach::Own,
            Role::Doctor => PatientReach::CareTeam,
            role if role.can(Permission::PATIENT_READ) => PatientReach::Facility,
            _ => PatientReach::None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role; the roles are {}", names()))
    }
}

fn names() -> String {
    Role::ALL.map(Role::as_str).join(", ")
}

/// docs/roles.md: every role, its seeds, its scope and its permissions.
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# Roles and permissions\n\n\
         Generated by `carebase roles` from each context's permissions.rs and the role\n\
         bundles of src/access/roles.rs; a test keeps it current.\n\
         A facility role applies in the facility of its membership; an installation\n\
         role applies everywhere. `patient:*` permissions of the `patient` role cover\n\
         only the patient record linked to the account. `lead:update`, `lead:convert`,\n\
         `task:write`, `journey:manage`, `schedule:manage` and `appointment:book` cover\n\
         only the records assigned to the account (owner or booked coach, assignee or\n\
         creator, coach, the provider's own schedule, appointments with or booked by\n\
         the account) unless the role administers the facility; `staff` and\n\
         `clinical_reviewer` book for every provider. `care_team:manage` acts only\n\
         on the account's own side of a care-team link, and `conversation:manage`\n\
         only on conversations the account takes part in, unless the role\n\
         administers the facility; `message:send` edits and deletes only the\n\
         account's own messages (an administrator deletes any, edits none).\n\
         `doctor` (seed 004) reaches only the patients it\n\
         holds an active care-team link with; conversations are read by their\n\
         participants (and the facility's administrators).\n\n\
         | role | seeds | scope | permissions |\n|---|---|---|---|\n",
    );
    for role in Role::ALL {
        let permissions: Vec<&str> = role.permissions().iter().map(|p| p.as_str()).collect();
        let scope = match role.scope() {
            RoleScope::Facility => "facility",
            RoleScope::Installation => "installation",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            role.as_str(),
            role.seeds(),
            scope,
            permissions.join(", ")
        ));
    }
    let people_only: Vec<String> = super::Permission::all()
        .iter()
        .filter(|p| p.for_people_only())
        .map(|p| format!("`{}`", p.as_str()))
        .collect();
    out.push_str(&format!(
        "\nAn API key acts with its scopes, narrowed to what its creator holds today.\n\
         These are for people only, and no key holds them: {}. A developer revokes\n\
         the keys it created; someone else's key needs `facility:manage`. No one\n\
         grants a role to themselves.\n",
        people_only.join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_role_name_parses_and_round_trips() {
        let seed_names = [
            "admin",
            "staff",
            "clinical_reviewer",
            "readonly",
            "SDR",
            "Health Coach",
            "Admin",
            "physician",
            "nurse",
            "administrator",
            "pharmacist",
            "technician",
            "social_worker",
            "case_manager",
            "system_admin",
            "provider",
            "patient",
            "research-partner",
            "developer",
            "doctor",
        ];
        for name in seed_names {
            let role: Role = name.parse().unwrap();
            assert_eq!(role.as_str(), name);
            assert_eq!(serde_json::to_value(role).unwrap(), name);
        }
        assert_eq!(Role::ALL.len(), seed_names.len());
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn the_same_role_in_two_seeds_has_the_same_permissions() {
        assert_eq!(Role::Admin.permissions(), Role::CrmAdmin.permissions());
        assert_eq!(Role::Admin.permissions(), Role::Administrator.permissions());
        assert_eq!(Role::Provider.permissions(), Role::Doctor.permissions());
        assert_eq!(Role::Physician.permissions(), Role::Doctor.permissions());
    }

    #[test]
    fn the_system_admin_manages_the_installation_but_reads_no_patient() {
        assert_eq!(Role::SystemAdmin.scope(), RoleScope::Installation);
        assert_eq!(Role::SystemAdmin.patient_reach(), PatientReach::None);
        assert!(Role::SystemAdmin.can(Permission::FACILITY_CREATE));
        assert!(!Role::Admin.can(Permission::FACILITY_CREATE));
    }

    #[test]
    fn permission_names_round_trip() {
        for &p in Permission::all() {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn docs_roles_md_is_current() {
        let committed = include_str!("../../docs/roles.md");
        assert_eq!(
            committed,
            catalogue_markdown(),
            "docs/roles.md is out of date: run `cargo run -- roles > docs/roles.md`"
        );
    }
}
