//! CRM tasks (seed 001): SLA due dates, the status machine, the working
//! lists, who may change which task, references, and encryption. One
//! module per sub-feature; what they share is in `support`.

mod access;
mod cases;
mod input;
mod lists;
mod machine;

pub use cases::role_cases;
