//! Patients (seed 002): the record, its encryption at rest, its audit
//! trail, and who reaches it. One module per sub-feature; what they share
//! is in `support`.

mod audit;
mod cases;
mod emergency;
mod failed_access;
mod records;
mod sealing;

pub use cases::role_cases;
