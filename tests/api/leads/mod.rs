//! CRM leads (seeds 000 and 001): the lifecycle and pipeline, duplicates,
//! who may change which lead, clinical review, list filters, and
//! encryption. One module per sub-feature; what they share is in
//! `support`.

mod access;
mod cases;
mod lifecycle;
mod lists;

pub use cases::role_cases;
