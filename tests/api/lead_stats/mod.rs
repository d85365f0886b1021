//! Pipeline and speed-to-lead statistics (seed 000's
//! `get_lead_pipeline_stats` and `get_speed_to_lead_stats`) and the
//! facility-wide rescore, on leads made through the API, with the few
//! columns the API cannot set written directly (see
//! `support::lead_stats`). One module per sub-feature.

mod cases;
mod pipeline;
mod ranges;
mod rescore;
mod speed;

pub use cases::role_cases;
