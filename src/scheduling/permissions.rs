//! The scheduling context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const SCHEDULE_READ: Permission = Permission::named("schedule:read");
    pub const SCHEDULE_MANAGE: Permission = Permission::named("schedule:manage");
    pub const APPOINTMENT_READ: Permission = Permission::named("appointment:read");
    pub const APPOINTMENT_BOOK: Permission = Permission::named("appointment:book");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::SCHEDULE_READ,
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
            B::Integrator,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::SCHEDULE_MANAGE,
        held_by: &[B::FacilityAdmin, B::Clinician, B::HealthCoach],
        reach: Reach::Assigned { unless: &[] },
    },
    Grant {
        permission: Permission::APPOINTMENT_READ,
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
            B::OwnRecord,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::APPOINTMENT_BOOK,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::HealthCoach,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::Sales,
        ],
        reach: Reach::Assigned {
            unless: &[B::FrontDesk, B::ClinicalReviewer],
        },
    },
];
