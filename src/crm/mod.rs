//! CRM: leads from first contact to conversion, the way seeds 000 (MiKO
//! concierge) and 001 (HealthCRM) work them — pipelines and their stages,
//! the lead lifecycle, clinical interests, the lead score, clinical review
//! and each lead's history (DOMAIN.md, "crm").

pub mod demo;
pub mod history;
pub mod leads;
pub mod migration;
pub mod pipelines;
pub mod rescore;
pub mod routes;
pub mod score;
pub mod stats;
pub mod stats_routes;
pub mod store;
