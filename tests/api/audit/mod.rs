//! The audit log on both backends: events join the chain with the
//! transaction that makes them, the database refuses to change them,
//! `verify` names the event that was changed or removed behind the
//! server's back, concurrent writers and the group-commit writer keep the
//! chain whole, and search and export read it back. The chain is keyed, so
//! it cannot be rewritten without the master key, and checkpointed outside
//! the database, so it cannot be cut back unseen; updates record their
//! before and after, PHI sealed for auditors only. One module per
//! sub-feature; what they share is in `support::audit_chain`.

mod cases;
mod chain;
mod changes;
mod checkpoints;
mod keyed;
mod paging;
mod search;
mod writer;

pub use cases::role_cases;
