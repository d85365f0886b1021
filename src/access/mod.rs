//! Access: facilities (tenants), memberships, the role catalogue, and the
//! one policy engine every read and write passes through. It replaces the
//! seeds' row-level security: the rule for each resource lives here, in
//! code, and is tested as a matrix (role × resource × action × own or other
//! facility) in tests/api/role_matrix.rs. See docs/trust-core.md.

pub mod actor;
pub mod emergency;
pub mod facilities;
pub mod memberships;
pub mod migration;
pub mod roles;
pub mod routes;

pub use actor::{Actor, FacilityScope, PatientFilter, Principal, RequestInfo};
pub use roles::{Permission, Role};
