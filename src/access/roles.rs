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

/// Something an actor may do. Named `resource:action`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Permission {
    #[serde(rename = "facility:create")]
    FacilityCreate,
    #[serde(rename = "facility:read")]
    FacilityRead,
    #[serde(rename = "facility:manage")]
    FacilityManage,
    #[serde(rename = "membership:read")]
    MembershipRead,
    #[serde(rename = "membership:manage")]
    MembershipManage,
    #[serde(rename = "account:manage")]
    AccountManage,
    #[serde(rename = "api_key:manage")]
    ApiKeyManage,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "audit:export")]
    AuditExport,
    #[serde(rename = "outbox:read")]
    OutboxRead,
    #[serde(rename = "patient:read")]
    PatientRead,
    #[serde(rename = "patient:create")]
    PatientCreate,
    #[serde(rename = "patient:update")]
    PatientUpdate,
    #[serde(rename = "patient:deactivate")]
    PatientDeactivate,
    #[serde(rename = "emergency_access:request")]
    EmergencyAccessRequest,
    #[serde(rename = "emergency_access:review")]
    EmergencyAccessReview,
    #[serde(rename = "lead:read")]
    LeadRead,
    #[serde(rename = "lead:create")]
    LeadCreate,
    #[serde(rename = "lead:update")]
    LeadUpdate,
    #[serde(rename = "lead:review")]
    LeadReview,
    #[serde(rename = "lead:convert")]
    LeadConvert,
    #[serde(rename = "lead:export")]
    LeadExport,
    #[serde(rename = "pipeline:manage")]
    PipelineManage,
    #[serde(rename = "task:read")]
    TaskRead,
    #[serde(rename = "task:write")]
    TaskWrite,
    #[serde(rename = "journey:read")]
    JourneyRead,
    #[serde(rename = "journey:manage")]
    JourneyManage,
    #[serde(rename = "communication:log")]
    CommunicationLog,
    #[serde(rename = "schedule:read")]
    ScheduleRead,
    #[serde(rename = "schedule:manage")]
    ScheduleManage,
    #[serde(rename = "appointment:read")]
    AppointmentRead,
    #[serde(rename = "appointment:book")]
    AppointmentBook,
    #[serde(rename = "care_team:read")]
    CareTeamRead,
    #[serde(rename = "care_team:manage")]
    CareTeamManage,
    #[serde(rename = "conversation:read")]
    ConversationRead,
    #[serde(rename = "conversation:manage")]
    ConversationManage,
    #[serde(rename = "message:send")]
    MessageSend,
    #[serde(rename = "message:assist")]
    MessageAssist,
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

use Permission as P;

const FACILITY_ADMIN: &[Permission] = &[
    P::FacilityRead,
    P::FacilityManage,
    P::MembershipRead,
    P::MembershipManage,
    P::ApiKeyManage,
    P::AuditRead,
    P::AuditExport,
    P::PatientRead,
    P::PatientCreate,
    P::PatientUpdate,
    P::PatientDeactivate,
    P::EmergencyAccessReview,
    P::LeadRead,
    P::LeadCreate,
    P::LeadUpdate,
    P::LeadReview,
    P::LeadConvert,
    P::LeadExport,
    P::PipelineManage,
    P::TaskRead,
    P::TaskWrite,
    P::JourneyRead,
    P::JourneyManage,
    P::CommunicationLog,
    P::ScheduleRead,
    P::ScheduleManage,
    P::AppointmentRead,
    P::AppointmentBook,
    P::CareTeamRead,
    P::CareTeamManage,
    P::ConversationRead,
    P::ConversationManage,
    P::MessageSend,
    P::MessageAssist,
];
const CLINICIAN: &[Permission] = &[
    P::FacilityRead,
    P::MembershipRead,
    P::PatientRead,
    P::PatientCreate,
    P::PatientUpdate,
    P::EmergencyAccessRequest,
    P::TaskRead,
    P::TaskWrite,
    P::JourneyRead,
    P::ScheduleRead,
    P::ScheduleManage,
    P::AppointmentRead,
    P::AppointmentBook,
    P::CareTeamRead,
    P::CareTeamManage,
    P::ConversationRead,
    P::ConversationManage,
    P::MessageSend,
];
const CARE_SUPPORT: &[Permission] = &[
    P::FacilityRead,
    P::PatientRead,
    P::PatientUpdate,
    P::TaskRead,
    P::TaskWrite,
    P::JourneyRead,
    P::ScheduleRead,
    P::AppointmentRead,
    P::CareTeamRead,
    P::ConversationRead,
    P::ConversationManage,
    P::MessageSend,
];
/// Seed 001's health coach: care support for the patients they coach, and
/// the leads booked with them.
const HEALTH_COACH: &[Permission] = &[
    P::FacilityRead,
    P::PatientRead,
    P::PatientUpdate,
    P::LeadRead,
    P::LeadUpdate,
    P::TaskRead,
    P::TaskWrite,
    P::JourneyRead,
    P::JourneyManage,
    P::CommunicationLog,
    P::ScheduleRead,
    P::ScheduleManage,
    P::AppointmentRead,
    P::AppointmentBook,
    P::CareTeamRead,
    P::ConversationRead,
    P::ConversationManage,
    P::MessageSend,
];
const CLINICAL_READER: &[Permission] = &[
    P::FacilityRead,
    P::PatientRead,
    P::TaskRead,
    P::ScheduleRead,
    P::AppointmentRead,
    P::ConversationRead,
    P::MessageSend,
];
/// Seed 000's readonly: reads everything of the facility, changes nothing.
const READONLY: &[Permission] = &[
    P::FacilityRead,
    P::PatientRead,
    P::LeadRead,
    P::TaskRead,
    P::JourneyRead,
    P::ScheduleRead,
    P::AppointmentRead,
    P::CareTeamRead,
    P::ConversationRead,
];
/// Seed 000's staff: registers patients, reads every lead, works the ones
/// assigned to them.
const FRONT_DESK: &[Permission] = &[
    P::FacilityRead,
    P::PatientRead,
    P::PatientCreate,
    P::LeadRead,
    P::LeadCreate,
    P::LeadUpdate,
    P::LeadConvert,
    P::TaskRead,
    P::TaskWrite,
    P::JourneyRead,
    P::CommunicationLog,
    P::ScheduleRead,
    P::AppointmentRead,
    P::AppointmentBook,
    P::CareTeamRead,
    P::ConversationRead,
    P::ConversationManage,
    P::MessageSend,
];
/// Seed 000's clinical reviewer: staff, plus the clinical review of leads.
const CLINICAL_REVIEWER: &[Permission] = &[
    P::FacilityRead,
    P::PatientRead,
    P::PatientCreate,
    P::LeadRead,
    P::LeadCreate,
    P::LeadUpdate,
    P::LeadReview,
    P::LeadConvert,
    P::TaskRead,
    P::TaskWrite,
    P::JourneyRead,
    P::CommunicationLog,
    P::ScheduleRead,
    P::AppointmentRead,
    P::AppointmentBook,
    P::CareTeamRead,
    P::ConversationRead,
    P::ConversationManage,
    P::MessageSend,
];
/// Seed 001's SDR: works leads through the pipeline to conversion, without
/// access to patient records.
const SALES: &[Permission] = &[
    P::FacilityRead,
    P::LeadRead,
    P::LeadCreate,
    P::LeadUpdate,
    P::LeadConvert,
    P::TaskRead,
    P::TaskWrite,
    P::CommunicationLog,
    P::ScheduleRead,
    P::AppointmentRead,
    P::AppointmentBook,
];
const NO_PHI: &[Permission] = &[P::FacilityRead];
const INTEGRATOR: &[Permission] = &[
    P::FacilityRead,
    P::ApiKeyManage,
    P::CommunicationLog,
    P::ScheduleRead,
];
const OWN_RECORD: &[Permission] = &[
    P::PatientRead,
    P::AppointmentRead,
    P::CareTeamRead,
    P::CareTeamManage,
    P::ConversationRead,
    P::MessageSend,
];
const SYSTEM_ADMIN: &[Permission] = &[
    P::FacilityCreate,
    P::FacilityRead,
    P::FacilityManage,
    P::MembershipRead,
    P::MembershipManage,
    P::AccountManage,
    P::AuditRead,
    P::AuditExport,
    P::OutboxRead,
    P::EmergencyAccessReview,
];

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

    /// What the role may do where it applies.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::Admin | Role::CrmAdmin | Role::Administrator => FACILITY_ADMIN,
            Role::Physician | Role::Nurse | Role::Provider | Role::Doctor => CLINICIAN,
            Role::SocialWorker | Role::CaseManager => CARE_SUPPORT,
            Role::HealthCoach => HEALTH_COACH,
            Role::Pharmacist | Role::Technician => CLINICAL_READER,
            Role::Readonly => READONLY,
            Role::Staff => FRONT_DESK,
            Role::ClinicalReviewer => CLINICAL_REVIEWER,
            Role::Sdr => SALES,
            Role::ResearchPartner => NO_PHI,
            Role::Developer => INTEGRATOR,
            Role::Patient => OWN_RECORD,
            Role::SystemAdmin => SYSTEM_ADMIN,
        }
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
        let front_desk = matches!(self, Role::Staff | Role::ClinicalReviewer);
        let assignable = match permission {
            Permission::LeadUpdate
            | Permission::LeadConvert
            | Permission::TaskWrite
            | Permission::JourneyManage
            | Permission::ScheduleManage
            | Permission::CareTeamManage
            | Permission::ConversationManage
            | Permission::MessageSend => true,
            Permission::AppointmentBook => !front_desk,
            _ => false,
        };
        if assignable && !self.can(Permission::FacilityManage) {
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
            role if role.can(Permission::PatientRead) => PatientReach::Facility,
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

impl Permission {
    pub const ALL: [Permission; 38] = [
        P::FacilityCreate,
        P::FacilityRead,
        P::FacilityManage,
        P::MembershipRead,
        P::MembershipManage,
        P::AccountManage,
        P::ApiKeyManage,
        P::AuditRead,
        P::AuditExport,
        P::OutboxRead,
        P::PatientRead,
        P::PatientCreate,
        P::PatientUpdate,
        P::PatientDeactivate,
        P::EmergencyAccessRequest,
        P::EmergencyAccessReview,
        P::LeadRead,
        P::LeadCreate,
        P::LeadUpdate,
        P::LeadReview,
        P::LeadConvert,
        P::LeadExport,
        P::PipelineManage,
        P::TaskRead,
        P::TaskWrite,
        P::JourneyRead,
        P::JourneyManage,
        P::CommunicationLog,
        P::ScheduleRead,
        P::ScheduleManage,
        P::AppointmentRead,
        P::AppointmentBook,
        P::CareTeamRead,
        P::CareTeamManage,
        P::ConversationRead,
        P::ConversationManage,
        P::MessageSend,
        P::MessageAssist,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            P::FacilityCreate => "facility:create",
            P::FacilityRead => "facility:read",
            P::FacilityManage => "facility:manage",
            P::MembershipRead => "membership:read",
            P::MembershipManage => "membership:manage",
            P::AccountManage => "account:manage",
            P::ApiKeyManage => "api_key:manage",
            P::AuditRead => "audit:read",
            P::AuditExport => "audit:export",
            P::OutboxRead => "outbox:read",
            P::PatientRead => "patient:read",
            P::PatientCreate => "patient:create",
            P::PatientUpdate => "patient:update",
            P::PatientDeactivate => "patient:deactivate",
            P::EmergencyAccessRequest => "emergency_access:request",
            P::EmergencyAccessReview => "emergency_access:review",
            P::LeadRead => "lead:read",
            P::LeadCreate => "lead:create",
            P::LeadUpdate => "lead:update",
            P::LeadReview => "lead:review",
            P::LeadConvert => "lead:convert",
            P::LeadExport => "lead:export",
            P::PipelineManage => "pipeline:manage",
            P::TaskRead => "task:read",
            P::TaskWrite => "task:write",
            P::JourneyRead => "journey:read",
            P::JourneyManage => "journey:manage",
            P::CommunicationLog => "communication:log",
            P::ScheduleRead => "schedule:read",
            P::ScheduleManage => "schedule:manage",
            P::AppointmentRead => "appointment:read",
            P::AppointmentBook => "appointment:book",
            P::CareTeamRead => "care_team:read",
            P::CareTeamManage => "care_team:manage",
            P::ConversationRead => "conversation:read",
            P::ConversationManage => "conversation:manage",
            P::MessageSend => "message:send",
            P::MessageAssist => "message:assist",
        }
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a permission"))
    }
}

/// docs/roles.md: every role, its seeds, its scope and its permissions.
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# Roles and permissions\n\n\
         Generated by `carebase roles` from src/access/roles.rs; a test keeps it current.\n\
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
        assert!(Role::SystemAdmin.can(Permission::FacilityCreate));
        assert!(!Role::Admin.can(Permission::FacilityCreate));
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
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
