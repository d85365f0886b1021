//! The messaging context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const CONVERSATION_READ: Permission = Permission::named("conversation:read");
    pub const CONVERSATION_MANAGE: Permission = Permission::named("conversation:manage");
    pub const MESSAGE_SEND: Permission = Permission::named("message:send");
    pub const MESSAGE_ASSIST: Permission = Permission::named("message:assist");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::CONVERSATION_READ,
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
        permission: Permission::CONVERSATION_MANAGE,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::FrontDesk,
            B::ClinicalReviewer,
        ],
        reach: Reach::Assigned { unless: &[] },
    },
    Grant {
        permission: Permission::MESSAGE_SEND,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::HealthCoach,
            B::ClinicalReader,
            B::FrontDesk,
            B::ClinicalReviewer,
            B::OwnRecord,
        ],
        reach: Reach::Assigned { unless: &[] },
    },
    Grant {
        permission: Permission::MESSAGE_ASSIST,
        held_by: &[B::FacilityAdmin],
        reach: Reach::Facility,
    },
];
