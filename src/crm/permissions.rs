//! The crm context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const LEAD_READ: Permission = Permission::named("lead:read");
    pub const LEAD_CREATE: Permission = Permission::named("lead:create");
    pub const LEAD_UPDATE: Permission = Permission::named("lead:update");
    pub const LEAD_REVIEW: Permission = Permission::named("lead:review");
    pub const LEAD_CONVERT: Permission = Permission::named("lead:convert");
    pub const LEAD_EXPORT: Permission = Permission::named("lead:export");
    pub const TASK_READ: Permission = Permission::named("task:read");
    pub const TASK_WRITE: Permission = Permission::named("task:write");
    pub const COMMUNICATION_LOG: Permission = Permission::named("communication:log");
    pub const LEAD_SOURCE_MANAGE: Permission = Permission::named("lead_source:manage");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::LEAD_READ,
        held_by: &[
            B::FacilityAdmin,
            B::HealthCoach,
            B::Readonly,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::LEAD_CREATE,
        held_by: &[
            B::FacilityAdmin,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::LEAD_UPDATE,
        held_by: &[
            B::FacilityAdmin,
            B::HealthCoach,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
        ],
        reach: Reach::Assigned { unless: &[] },
    },
    Grant {
        permission: Permission::LEAD_REVIEW,
        held_by: &[B::FacilityAdmin, B::ClinicalReviewer],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::LEAD_CONVERT,
        held_by: &[
            B::FacilityAdmin,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
        ],
        reach: Reach::Assigned { unless: &[] },
    },
    Grant {
        permission: Permission::LEAD_SOURCE_MANAGE,
        held_by: &[B::FacilityAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::LEAD_EXPORT,
        held_by: &[B::FacilityAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::TASK_READ,
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
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::TASK_WRITE,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
        ],
        reach: Reach::Assigned { unless: &[] },
    },
    Grant {
        permission: Permission::COMMUNICATION_LOG,
        held_by: &[
            B::FacilityAdmin,
            B::HealthCoach,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
            B::Integrator,
        ],
        reach: Reach::Facility,
    },
];
