//! The care context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const PATIENT_READ: Permission = Permission::named("patient:read");
    pub const PATIENT_CREATE: Permission = Permission::named("patient:create");
    pub const PATIENT_UPDATE: Permission = Permission::named("patient:update");
    pub const PATIENT_DEACTIVATE: Permission = Permission::named("patient:deactivate");
    pub const JOURNEY_READ: Permission = Permission::named("journey:read");
    pub const JOURNEY_MANAGE: Permission = Permission::named("journey:manage");
    pub const CARE_TEAM_READ: Permission = Permission::named("care_team:read");
    pub const CARE_TEAM_MANAGE: Permission = Permission::named("care_team:manage");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::PATIENT_READ,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::ClinicalReader,
            B::Readonly,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::OwnRecord,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::PATIENT_CREATE,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::FrontDesk,
            B::ClinicalReviewer,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::PATIENT_UPDATE,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::PATIENT_DEACTIVATE,
        held_by: &[B::FacilityAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::JOURNEY_READ,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::Readonly,
            B::FrontDesk,
            B::ClinicalReviewer,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::JOURNEY_MANAGE,
        held_by: &[B::FacilityAdmin, B::HealthCoach],
        reach: Reach::Assigned { unless: &[] },
    },
    Grant {
        permission: Permission::CARE_TEAM_READ,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::Readonly,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::OwnRecord,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::CARE_TEAM_MANAGE,
        held_by: &[B::FacilityAdmin, B::Clinician, B::OwnRecord],
        reach: Reach::Assigned { unless: &[] },
    },
];
