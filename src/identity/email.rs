//! Kept while callers move to `crate::types::Email`.

pub use crate::types::Email;
