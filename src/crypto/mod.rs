//! The keys that protect patient data at rest.
//!
//! One master key per installation, kept in a file outside the database
//! (`master_key`), and a record in the database of which key encrypted it
//! (`keyring`), so a server started with the wrong key file refuses to run
//! instead of writing data that no key can read back.

pub mod keyring;
pub mod master_key;
pub mod migration;

pub use master_key::MasterKey;
