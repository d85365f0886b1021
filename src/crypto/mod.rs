//! The keys that protect patient data at rest.
//!
//! One master key per installation, kept outside the database (a file or
//! the `master_key` setting), records in the database of which master key is
//! active (`registry`), and data keys wrapped by it, one per facility
//! (`data_keys`), which seal individual fields (`field`). A server started
//! with the wrong master key refuses to run instead of writing data that no
//! key can read back. See docs/trust-core.md.

pub mod data_keys;
pub mod field;
pub mod master_key;
pub mod migration;
pub mod registry;
pub mod row;

pub use data_keys::{KeyScope, Keyring};
pub use field::{BlindIndex, CryptoError, DataKey, FieldRef, Sealed};
pub use master_key::MasterKey;
pub use row::{OTHER_LABEL, RowSealer};
