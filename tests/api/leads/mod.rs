//! CRM leads (seeds 000 and 001): the lifecycle and pipeline, duplicates,
//! who may change which lead, clinical review, list filters, and
//! encryption. One module per sub-feature; what they share is in
//! `support`.

mod access;
mod booking_gate;
mod cases;
mod follow;
mod lifecycle;
mod lists;
mod lookup;
mod sources;

pub use cases::role_cases;
