//! The master key file: 32 random bytes, created once, readable by its owner only.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use zeroize::Zeroizing;

const KEY_LEN: usize = 32;
const LINE_PREFIX: &str = "cbk1.";
const FILE_HEADER: &str = "# carebase master key. It encrypts patient data: keep it secret and back it\n# up apart from the database. Without it, encrypted data cannot be read.\n";

/// The installation's master key. Its bytes never leave this type except
/// through key derivation; `Debug` shows only the key id.
pub struct MasterKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl MasterKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let id = hex(&Self::mac(&bytes, b"carebase/key-id/v1")[..8]);
        Self { bytes, id }
    }

    /// A public name for the key (a MAC of a constant under it), safe to log
    /// and to store: it tells keys apart without revealing them.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Derives a 32-byte subkey for one purpose, so that each use of the
    /// master key (field encryption, blind indexes, token MACs) has its own.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(Self::mac(&self.bytes, purpose.as_bytes()))
    }

    fn mac(key: &[u8; KEY_LEN], message: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Reads the key file; `Ok(None)` when it does not exist. A file that
    /// its group or others may read is refused, unless `allow_readable`:
    /// whoever can read it can read every patient's data.
    pub fn read(path: &Path, allow_readable: bool) -> anyhow::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read master key file {}: {e}", path.display()),
        };
        refuse_if_readable_by_others(path, allow_readable)?;
        Self::parse(&text)
            .map(Some)
            .ok_or_else(|| invalid(&format!("master key file {}", path.display())))
    }

    /// Reads a key given as text (`cbk1.<base64>`), as the file holds it or
    /// as `CAREBASE_MASTER_KEY` passes it.
    pub fn from_text(text: &str, source: &str) -> anyhow::Result<Self> {
        Self::parse(text).ok_or_else(|| invalid(source))
    }

    fn parse(text: &str) -> Option<Self> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))?
            .strip_prefix(LINE_PREFIX)?;
        let decoded = Zeroizing::new(STANDARD.decode(line).ok()?);
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().ok()?;
        Some(Self::from_bytes(Zeroizing::new(bytes)))
    }

    /// The key as the text line its file holds, for `carebase keys` output
    /// that an operator moves into a secret store.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{LINE_PREFIX}{}",
            STANDARD.encode(self.bytes.as_ref())
        ))
    }

    /// Generates a key and writes it to a new file with mode 0600. Fails if
    /// the file exists: a key is never overwritten.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            crate::db::create_private_dir(dir)?;
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            anyhow::anyhow!("cannot create master key file {}: {e}", path.display())
        })?;
        let content = Zeroizing::new(format!("{FILE_HEADER}{}\n", key.to_text().as_str()));
        file.write_all(content.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| anyhow::anyhow!("cannot write master key file {}: {e}", path.display()))?;
        Ok(key)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={})", self.id)
    }
}

fn invalid(source: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{source} is not a carebase master key (expected a line `{LINE_PREFIX}<base64 of 32 bytes>`)"
    )
}

fn refuse_if_readable_by_others(path: &Path, allow_readable: bool) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("cannot read master key file {}: {e}", path.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            if !allow_readable {
                anyhow::bail!(
                    "the master key file {} has mode {mode:o}: its group or others can read it, \
                     and with it every patient's data. Run `chmod 600` on it (or set \
                     allow_readable_master_key = true to start anyway)",
                    path.display()
                );
            }
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the master key file is readable by other users (allowed by allow_readable_master_key); run chmod 600 on it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, allow_readable);
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_reads_back_with_the_same_id_and_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let created = MasterKey::create(&path).unwrap();
        let read = MasterKey::read(&path, false).unwrap().unwrap();
        assert_eq!(created.id(), read.id());
        assert_eq!(created.id().len(), 16);
        assert_eq!(created.derive("x").as_ref(), read.derive("x").as_ref());
        assert_ne!(read.derive("x").as_ref(), read.derive("y").as_ref());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_existing_key_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = MasterKey::create(&path).unwrap();
        assert!(MasterKey::create(&path).is_err());
        assert_eq!(
            MasterKey::read(&path, false).unwrap().unwrap().id(),
            first.id()
        );
    }

    #[test]
    fn missing_and_malformed_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        assert!(MasterKey::read(&path, false).unwrap().is_none());
        std::fs::write(&path, "cbk1.dG9vIHNob3J0\n").unwrap();
        let err = MasterKey::read(&path, true).unwrap_err().to_string();
        assert!(err.contains("not a carebase master key"), "{err}");
    }

    #[test]
    fn a_key_given_as_text_is_the_key_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let created = MasterKey::create(&path).unwrap();
        let text = created.to_text();
        let parsed = MasterKey::from_text(&text, "CAREBASE_MASTER_KEY").unwrap();
        assert_eq!(parsed.id(), created.id());
        let err = MasterKey::from_text("cbk1.nope", "CAREBASE_MASTER_KEY").unwrap_err();
        assert!(err.to_string().contains("CAREBASE_MASTER_KEY"), "{err}");
        assert!(
            !err.to_string().contains("nope"),
            "the bad value is not echoed"
        );
    }

    #[test]
    fn debug_output_shows_the_id_not_the_key() {
        let key = MasterKey::generate();
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("MasterKey(id={})", key.id()));
    }
}
