//! Care: patients and, as later issues add them, their history, care
//! pathway, care-team links, conditions and measurements (DOMAIN.md,
//! "care").

pub mod care_team;
pub mod care_team_routes;
pub mod journey;
pub mod journey_routes;
pub mod migration;
pub mod patients;
pub mod routes;
pub mod store;
