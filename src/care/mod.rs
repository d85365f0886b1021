//! Care: patients and, as later issues add them, their history, care
//! pathway, conditions and measurements (DOMAIN.md, "care").

pub mod journey;
pub mod journey_routes;
pub mod migration;
pub mod patients;
pub mod routes;
pub mod store;
