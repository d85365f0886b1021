//! The audit context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const AUDIT_READ: Permission = Permission::named("audit:read");
    pub const AUDIT_EXPORT: Permission = Permission::named("audit:export");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::AUDIT_READ,
        held_by: &[B::FacilityAdmin, B::SystemAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::AUDIT_EXPORT,
        held_by: &[B::FacilityAdmin, B::SystemAdmin],
        reach: Reach::Facility,
    },
];
