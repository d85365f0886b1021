//! A lead's engagement (seed 000): AI qualification logs, web chat sessions
//! and their idle sweep, and `log_communication` as n8n calls it with an
//! API key: idempotent, counted on the lead, audited without its content.
//! One module per sub-feature; what they share is in `support`.

mod ai;
mod cases;
mod chat;
mod communications;
mod retention;

pub use cases::role_cases;
