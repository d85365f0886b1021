//! The pipelines context's permission and the role bundle that holds it.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const PIPELINE_MANAGE: Permission = Permission::named("pipeline:manage");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[Grant {
    permission: Permission::PIPELINE_MANAGE,
    held_by: &[B::FacilityAdmin],
    reach: Reach::Facility,
}];
