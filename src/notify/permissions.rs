//! The notify context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const OUTBOX_READ: Permission = Permission::named("outbox:read");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[Grant {
    permission: Permission::OUTBOX_READ,
    held_by: &[B::FacilityAdmin, B::SystemAdmin],
    reach: Reach::Facility,
}];
