//! The patient history context's permissions and the role bundles that
//! hold them. Only roles that see the patient record hold them: history is
//! read through the patient, so a holder who cannot see the patient gets
//! 404 like anyone else.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const HISTORY_READ: Permission = Permission::named("history:read");
    pub const HISTORY_WRITE: Permission = Permission::named("history:write");
}

/// Who holds each of the context's permissions: clinicians record visits;
/// clinical staff, readonly and the patient (their own) read them.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::HISTORY_READ,
        held_by: &[
            B::FacilityAdmin,
            B::Clinician,
            B::CareSupport,
            B::ClinicalReader,
            B::Readonly,
            B::OwnRecord,
        ],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::HISTORY_WRITE,
        held_by: &[B::FacilityAdmin, B::Clinician],
        reach: Reach::Facility,
    },
];
