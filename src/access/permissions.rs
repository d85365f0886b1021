//! The access context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const FACILITY_CREATE: Permission = Permission::named("facility:create");
    pub const FACILITY_READ: Permission = Permission::named("facility:read");
    pub const FACILITY_MANAGE: Permission = Permission::named("facility:manage");
    pub const MEMBERSHIP_READ: Permission = Permission::named("membership:read");
    pub const MEMBERSHIP_MANAGE: Permission = Permission::named("membership:manage");
    pub const EMERGENCY_ACCESS_REQUEST: Permission = Permission::named("emergency_access:request");
    pub const EMERGENCY_ACCESS_REVIEW: Permission = Permission::named("emergency_access:review");
    pub const STAFF_READ: Permission = Permission::named("staff:read");
    pub const PROFILE_VERIFY: Permission = Permission::named("profile:verify");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::FACILITY_CREATE,
        held_by: &[B::SystemAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::FACILITY_READ,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::ClinicalReader,
            B::Readonly,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
            B::NoPhi,
            B::Integrator,
            B::SystemAdmin,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::FACILITY_MANAGE,
        held_by: &[B::FacilityAdmin, B::SystemAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::MEMBERSHIP_READ,
        held_by: &[B::FacilityAdmin, B::Clinician, B::SystemAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::MEMBERSHIP_MANAGE,
        held_by: &[B::FacilityAdmin, B::SystemAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::EMERGENCY_ACCESS_REQUEST,
        held_by: &[B::Clinician],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::EMERGENCY_ACCESS_REVIEW,
        held_by: &[B::FacilityAdmin, B::SystemAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::STAFF_READ,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::ClinicalReader,
            B::Readonly,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
            B::SystemAdmin,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::PROFILE_VERIFY,
        held_by: &[B::FacilityAdmin, B::SystemAdmin],
        reach: Reach::Facility,
    },
];

/// What no API key may do: a key is for machines, and these are powers
/// over people.
pub const PEOPLE_ONLY: &[Permission] = &[
    Permission::MEMBERSHIP_MANAGE,
    Permission::EMERGENCY_ACCESS_REQUEST,
    Permission::EMERGENCY_ACCESS_REVIEW,
    Permission::FACILITY_CREATE,
    Permission::PROFILE_VERIFY,
];
