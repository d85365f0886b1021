//! CRM: leads from first contact to conversion, the way seeds 000 (MiKO
//! concierge) and 001 (HealthCRM) work them — pipelines and their stages,
//! the lead lifecycle, clinical interests, the lead score, clinical review,
//! each lead's history, and the tasks people work from (DOMAIN.md, "crm").

pub mod activity;
pub mod ai;
pub mod chat;
pub mod communications;
pub mod conversion;
pub mod csv_io;
pub mod demo;
pub mod engagement_migration;
pub mod engagement_routes;
pub mod history;
pub mod import_routes;
pub mod leads;
pub mod migration;
pub mod pipelines;
pub mod rescore;
pub mod routes;
pub mod score;
pub mod stats;
pub mod stats_routes;
pub mod store;
pub mod task_routes;
pub mod task_store;
pub mod tasks;
