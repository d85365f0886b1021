//! The scope the policy engine grants: one facility, how far among its
//! patients and its assignable records. Stores take a scope, so a query
//! that skipped the check does not compile.

use uuid::Uuid;

use super::actor::Actor;
use super::roles::{PatientReach, RecordReach};
use crate::audit::{AuditAction, AuditEvent, ComplianceFlag};
use crate::error::ApiError;

/// Permission to act in one facility, granted by the policy engine. Stores
/// take it to scope their queries; only the access context can make one.
/// A scope that is made and dropped is a permission check whose answer
/// nobody used, hence `must_use`.
#[must_use]
#[derive(Clone, Debug)]
pub struct FacilityScope {
    facility_id: Uuid,
    reach: PatientReach,
    /// Which assignable records (leads, tasks, journeys) it may change.
    records: RecordReach,
    account_id: Uuid,
    /// Set when the scope comes from an emergency access grant for one patient.
    emergency: Option<Uuid>,
}

impl FacilityScope {
    pub fn facility_id(&self) -> Uuid {
        self.facility_id
    }

    /// Which patients the scope covers.
    pub fn patients(&self) -> PatientFilter {
        match (self.emergency, self.reach) {
            (Some(patient), _) => PatientFilter::Only(patient),
            (None, PatientReach::Facility) => PatientFilter::All,
            (None, PatientReach::Own) => PatientFilter::PortalAccount(self.account_id),
            (None, PatientReach::CareTeam) => PatientFilter::CareTeam(self.account_id),
            (None, PatientReach::None) => PatientFilter::Nothing,
        }
    }

    /// The account acting (directly, or as an API key's creator).
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    /// `Some(account)` when the scope changes only records assigned to
    /// that account; `None` when it changes any record of the facility.
    pub fn assigned_to(&self) -> Option<Uuid> {
        match self.records {
            RecordReach::Assigned => Some(self.account_id),
            RecordReach::Facility => None,
        }
    }

    /// Allows changing a record the actor can see only when the scope
    /// reaches every record or one of `assignees` is the actor; otherwise
    /// 403, as the actor already knows the record exists.
    pub fn require_assigned(
        &self,
        record: &str,
        assignees: &[Option<Uuid>],
    ) -> Result<(), ApiError> {
        match self.assigned_to() {
            Some(me) if !assignees.contains(&Some(me)) => Err(ApiError::Forbidden(format!(
                "this {record} is assigned to someone else"
            ))),
            _ => Ok(()),
        }
    }

    /// The scope of an actor's roles in a facility, made by
    /// [`Actor::facility`] only.
    pub(super) fn new(
        facility_id: Uuid,
        reach: PatientReach,
        records: RecordReach,
        account_id: Uuid,
    ) -> Self {
        Self {
            facility_id,
            reach,
            records,
            account_id,
            emergency: None,
        }
    }

    /// Whether the scope comes from an emergency ("break glass") grant.
    pub fn is_emergency(&self) -> bool {
        self.emergency.is_some()
    }

    /// The audit event of `actor` doing `action` to `resource` of
    /// `patient_id` under this scope: in its facility, about the patient,
    /// flagged as PHI, and as emergency access when the scope comes from a
    /// grant, so every break-the-glass read or change shows in its review.
    pub fn patient_event(
        &self,
        actor: &Actor,
        action: AuditAction,
        resource_type: &str,
        resource: Uuid,
        patient_id: Uuid,
    ) -> AuditEvent {
        let event = actor
            .event(action, resource_type)
            .resource(resource)
            .facility(self.facility_id)
            .patient(patient_id)
            .flag(ComplianceFlag::Phi);
        if self.is_emergency() {
            event.flag(ComplianceFlag::EmergencyAccess)
        } else {
            event
        }
    }

    /// A scope covering one patient of a facility the actor is not a member
    /// of, granted by `emergency::patient_scope` only.
    pub(crate) fn emergency(facility_id: Uuid, account_id: Uuid, patient_id: Uuid) -> Self {
        Self {
            facility_id,
            reach: PatientReach::None,
            records: RecordReach::Assigned,
            account_id,
            emergency: Some(patient_id),
        }
    }
}

/// The patients a scope lets a query see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatientFilter {
    All,
    /// Only the patient linked to this portal account.
    PortalAccount(Uuid),
    /// Only this patient (emergency access).
    Only(Uuid),
    /// Only the patients this provider account holds an active care-team
    /// link with (`care::care_team::linked_patients`).
    CareTeam(Uuid),
    Nothing,
}
