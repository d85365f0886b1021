//! The audit chain's key: a data key (scope `audit-chain`) wrapped by the
//! master key like every other, so the database holds it only in a form
//! that its administrators cannot open, and `carebase keys rotate` rewraps
//! it without changing it (events keyed before a rotation verify after it).
//!
//! A process loads it once into its [`Database`] handle; every transaction
//! begun there carries it to [`super::append`], and [`super::verify`] and
//! the checkpoints read it from the same place.

use crate::config::Config;
use crate::crypto::data_keys::KeyringError;
use crate::crypto::registry::{self, KeySource};
use crate::crypto::{KeyScope, Keyring, MasterKey};
use crate::db::Database;

/// Loads the chain key into `db`, making it on first use (a server's
/// start, under the startup lock, with the active master key).
pub async fn use_key(db: &Database, keyring: &Keyring) -> Result<(), KeyringError> {
    let key = keyring.key(KeyScope::AuditChain).await?;
    db.use_audit_key(key);
    Ok(())
}

/// For a command that appends to the log without starting a server: opens
/// the master key exactly as a starting server would, then the chain key.
pub async fn open_for_command(db: &Database, config: &Config) -> anyhow::Result<Keyring> {
    let (master, _) = registry::open_master_key(db, &KeySource::from_config(config)).await?;
    let keyring = Keyring::new(db.clone(), master);
    use_key(db, &keyring).await?;
    Ok(keyring)
}

/// For checking the log: reads the master key without making or recording
/// one, and loads the chain key only if the database has one (a check must
/// see a deleted key as deleted, not make a new one). Returns the keyring.
pub async fn open_for_check(db: &Database, config: &Config) -> anyhow::Result<Keyring> {
    let source = KeySource::from_config(config);
    let master = match &source {
        KeySource::Value(text) => MasterKey::from_text(text.expose(), "the master_key setting")?,
        KeySource::File {
            path,
            allow_readable,
        } => MasterKey::read(path, *allow_readable)?.ok_or_else(|| {
            anyhow::anyhow!(
                "the audit log is keyed, and checking it needs the master key: \
                 {} does not exist (set master_key_file or master_key)",
                path.display()
            )
        })?,
    };
    let active = registry::active_key_ids(db.conn()).await?;
    anyhow::ensure!(
        active.iter().any(|id| id == master.id()),
        "the master key {} is not this database's (active: {})",
        master.id(),
        active.join(", ")
    );
    let keyring = Keyring::new(db.clone(), master);
    if let Some(key) = keyring.existing(KeyScope::AuditChain).await? {
        db.use_audit_key(key);
    }
    Ok(keyring)
}
