//! The identity context's permissions and the role bundles that hold them.

use crate::policy::{Bundle as B, Grant, Permission, Reach};

impl Permission {
    pub const ACCOUNT_MANAGE: Permission = Permission::named("account:manage");
    pub const API_KEY_MANAGE: Permission = Permission::named("api_key:manage");
}

/// Who holds each of the context's permissions.
pub const GRANTS: &[Grant] = &[
    Grant {
        permission: Permission::ACCOUNT_MANAGE,
        held_by: &[B::SystemAdmin],
        reach: Reach::Facility,
    },
    Grant {
        permission: Permission::API_KEY_MANAGE,
        held_by: &[B::FacilityAdmin, B::Integrator],
        reach: Reach::Facility,
    },
];

/// What no API key may do: a key is for machines, and these are powers
/// over people.
pub const PEOPLE_ONLY: &[Permission] = &[Permission::ACCOUNT_MANAGE, Permission::API_KEY_MANAGE];
