//! Sealing fields: AES-256-GCM under a data key, bound to their place.
//!
//! A field is sealed with associated data naming its table, column and row,
//! so a ciphertext copied into another row (or column) fails to open instead
//! of showing one patient's name on another's record. A value that must be
//! found by exact match also gets a blind index: an HMAC of its normalized
//! form under a key only the server has, so the database can look it up
//! without ever holding the plaintext.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::Rng;
use sea_orm::DeriveValueType;
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The format byte that starts every sealed value.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + 16 + NONCE_LEN;

/// Where a sealed value lives: its table, column and row.
#[derive(Clone, Copy, Debug)]
pub struct FieldRef<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: Uuid,
}

impl<'a> FieldRef<'a> {
    pub fn new(table: &'a str, column: &'a str, row: Uuid) -> Self {
        Self { table, column, row }
    }

    fn associated_data(&self) -> String {
        format!("{}.{}:{}", self.table, self.column, self.row)
    }
}

/// A sealed field as stored: `version || data key id || nonce || ciphertext
/// and tag`, in a binary column. Its `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The data key this value was sealed under, if the value is well formed.
    pub fn key_id(&self) -> Option<Uuid> {
        if self.0.len() < HEADER_LEN || self.0[0] != VERSION {
            return None;
        }
        Uuid::from_slice(&self.0[1..17]).ok()
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// A keyed hash of a normalized value, for exact-match lookups.
#[derive(Clone, PartialEq, Eq, Hash, DeriveValueType)]
pub struct BlindIndex(Vec<u8>);

impl BlindIndex {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindIndex(..)")
    }
}

/// Why a sealed value would not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the value was sealed under data key {0}, not this one")]
    OtherKey(Uuid),
    /// The tag did not verify: the bytes were altered, or moved from the
    /// row or column they were sealed for.
    #[error("the sealed value does not belong here or was altered")]
    Forged,
    #[error("the opened value is not UTF-8 text")]
    NotText,
}

/// A data key with its subkeys: one seals fields, one makes blind indexes,
/// one authenticates records (the audit chain and its checkpoints).
pub struct DataKey {
    id: Uuid,
    cipher: Aes256Gcm,
    index_key: Zeroizing<[u8; 32]>,
    mac_key: Zeroizing<[u8; 32]>,
}

impl DataKey {
    /// Builds the subkeys from the 32 secret bytes of a data key.
    pub fn new(id: Uuid, secret: &[u8; 32]) -> Self {
        let enc = Zeroizing::new(hmac_sha256(secret, b"carebase/data-key/seal/v1"));
        let index_key = Zeroizing::new(hmac_sha256(secret, b"carebase/data-key/index/v1"));
        let mac_key = Zeroizing::new(hmac_sha256(secret, b"carebase/data-key/mac/v1"));
        let cipher = <Aes256Gcm as KeyInit>::new_from_slice(enc.as_ref())
            .expect("AES-256-GCM takes a 32-byte key");
        Self {
            id,
            cipher,
            index_key,
            mac_key,
        }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Seals `plaintext` for the place `field`.
    pub fn seal(&self, field: FieldRef<'_>, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = field.associated_data();
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut bytes = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(self.id.as_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed(bytes)
    }

    /// Opens a value sealed for the place `field`.
    pub fn open(
        &self,
        field: FieldRef<'_>,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key_id = sealed.key_id().ok_or(CryptoError::Malformed)?;
        if key_id != self.id {
            return Err(CryptoError::OtherKey(key_id));
        }
        let bytes = sealed.as_bytes();
        let nonce: [u8; NONCE_LEN] = bytes[17..HEADER_LEN]
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let aad = field.associated_data();
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &bytes[HEADER_LEN..],
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Forged)
    }

    pub fn seal_str(&self, field: FieldRef<'_>, plaintext: &str) -> Sealed {
        self.seal(field, plaintext.as_bytes())
    }

    pub fn open_string(&self, field: FieldRef<'_>, sealed: &Sealed) -> Result<String, CryptoError> {
        let bytes = self.open(field, sealed)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CryptoError::NotText)
    }

    /// A 32-byte subkey for one purpose. Under the installation key it is
    /// the same on every server whatever master key it runs on, which is
    /// what a key shared across a master key rotation needs (access tokens).
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.mac("derive", purpose.as_bytes()))
    }

    /// The blind index of `normalized` for one purpose (such as `"mrn"` or
    /// `"email"`): equal inputs give equal indexes under this key only.
    pub fn blind_index(&self, purpose: &str, normalized: &str) -> BlindIndex {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.index_key.as_ref())
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(normalized.as_bytes());
        BlindIndex(mac.finalize().into_bytes().to_vec())
    }
}

impl DataKey {
    /// HMAC-SHA256 of `message` for one purpose: only a holder of this key
    /// can make it, so a record carrying it cannot have been forged or
    /// edited by someone who can only write the database.
    pub fn mac(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.mac_key.as_ref())
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.id)
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::new(Uuid::now_v7(), &[7u8; 32])
    }

    #[test]
    fn a_sealed_field_opens_in_its_place_only() {
        let key = key();
        let row = Uuid::now_v7();
        let here = FieldRef::new("patients", "last_name", row);
        let sealed = key.seal_str(here, "Quuxworth");
        assert_eq!(key.open_string(here, &sealed).unwrap(), "Quuxworth");
        assert!(!sealed.as_bytes().windows(9).any(|w| w == b"Quuxworth"));

        let other_row = FieldRef::new("patients", "last_name", Uuid::now_v7());
        assert_eq!(
            key.open(other_row, &sealed).unwrap_err(),
            CryptoError::Forged
        );
        let other_column = FieldRef::new("patients", "first_name", row);
        assert_eq!(
            key.open(other_column, &sealed).unwrap_err(),
            CryptoError::Forged
        );
    }

    #[test]
    fn altered_bytes_and_other_keys_are_refused() {
        let key = key();
        let here = FieldRef::new("t", "c", Uuid::now_v7());
        let mut bytes = key.seal_str(here, "x").as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            key.open(here, &Sealed::from_bytes(bytes)).unwrap_err(),
            CryptoError::Forged
        );

        let other = DataKey::new(Uuid::now_v7(), &[8u8; 32]);
        let sealed = other.seal_str(here, "x");
        assert_eq!(
            key.open(here, &sealed).unwrap_err(),
            CryptoError::OtherKey(other.id())
        );
        assert_eq!(
            key.open(here, &Sealed::from_bytes(vec![1, 2])).unwrap_err(),
            CryptoError::Malformed
        );
    }

    #[test]
    fn macs_differ_per_purpose_key_and_message() {
        let key = key();
        assert_eq!(key.mac("chain", b"m"), key.mac("chain", b"m"));
        assert_ne!(key.mac("chain", b"m"), key.mac("chain", b"n"));
        assert_ne!(key.mac("chain", b"m"), key.mac("checkpoint", b"m"));
        let other = DataKey::new(Uuid::now_v7(), &[8u8; 32]);
        assert_ne!(key.mac("chain", b"m"), other.mac("chain", b"m"));
        let index = key.blind_index("chain", "m");
        assert_ne!(key.mac("chain", b"m").as_slice(), index.as_bytes());
    }

    #[test]
    fn sealing_twice_gives_different_bytes() {
        let key = key();
        let here = FieldRef::new("t", "c", Uuid::now_v7());
        assert_ne!(key.seal_str(here, "same"), key.seal_str(here, "same"));
    }

    #[test]
    fn blind_indexes_match_equal_values_per_purpose_and_key() {
        let key = key();
        assert_eq!(key.blind_index("mrn", "A-1"), key.blind_index("mrn", "A-1"));
        assert_ne!(key.blind_index("mrn", "A-1"), key.blind_index("mrn", "A-2"));
        assert_ne!(
            key.blind_index("mrn", "A-1"),
            key.blind_index("email", "A-1")
        );
        let other = DataKey::new(Uuid::now_v7(), &[9u8; 32]);
        assert_ne!(
            key.blind_index("mrn", "A-1"),
            other.blind_index("mrn", "A-1")
        );
    }
}
