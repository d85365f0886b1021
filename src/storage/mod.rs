//! Files sealed before they reach an object store, and the policy that
//! decides which files are taken at all. It is kernel so that every context
//! that keeps files seals and checks them the same way: each names its
//! [`ObjectKind`], and none has to know how or where objects live.
//!
//! A file is sealed with the facility's data key, bound to the row that
//! describes it (its kind's table and column, and the row's id), and only
//! the ciphertext is written: to a directory on local disk by default, or
//! to an S3-compatible bucket. Whoever can read the bucket or the disk sees
//! neither the content nor whose it is, and an object copied under another
//! row fails to open. The object path names only the facility, the kind's
//! folder and the row id, never a patient or the file name, because bucket
//! listings and access logs are read by people who must not learn either.
//!
//! Before a file is stored, [`UploadPolicy::check`] decides whether it may
//! be: a size limit, a list of accepted types, and a look at the content
//! itself, since the type a browser declares is whatever the sender says.

mod records;
mod sniff;
#[cfg(test)]
mod tests;
mod upload;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::SecretString;
use crate::crypto::{BlindIndex, CryptoError, DataKey, FieldRef, Sealed};

pub use upload::{
    AcceptedFile, DEFAULT_ALLOWED_TYPES, DEFAULT_MAX_UPLOAD_BYTES, MAX_FILE_NAME_BYTES,
    UploadPolicy, UploadRefusal,
};

/// What the objects of one kind are: the row that describes each, which its
/// seal is bound to, and the folder they go in. One store can so hold every
/// context's files without an object of one kind opening as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectKind {
    /// The table and column of the row an object belongs to: the seal's
    /// binding, with the row's id, so the object opens for that row only.
    pub table: &'static str,
    pub column: &'static str,
    /// The path segment after the facility:
    /// `facilities/<facility id>/<folder>/<row id>`.
    pub folder: &'static str,
}

/// Where sealed files are kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileSettings {
    /// Directory for files on local disk; `None` means `<data_dir>/files`.
    pub dir: Option<PathBuf>,
    /// An S3-compatible bucket; when set, files go there and `dir` is not
    /// used.
    pub s3: Option<S3Settings>,
}

/// An S3-compatible bucket (AWS S3, MinIO, Ceph, Garage...). Its `Debug`
/// never shows the secret key.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Settings {
    pub bucket: String,
    /// The signing region; S3-compatible servers mostly accept `us-east-1`.
    pub region: String,
    /// The server's URL, such as `https://minio.internal:9000`; `None` means AWS.
    pub endpoint: Option<String>,
    /// With `secret_access_key`; both `None` means the instance's or
    /// container's own AWS credentials.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Allows an `http://` endpoint, for a server on the same host only:
    /// the content is sealed, but the credentials' signatures and the object
    /// paths would cross the network in clear.
    pub allow_http: bool,
}

impl S3Settings {
    /// A bucket on AWS in `us-east-1`, with the instance's own credentials.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        }
    }
}

/// What [`FileStore::put`] wrote, to be kept on the row it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// Where the sealed object is, such as
    /// `facilities/<facility id>/attachments/<attachment id>`.
    pub object_path: String,
    /// Size of the plaintext in bytes, what a reader is shown.
    pub size: u64,
    /// Lower-case hex SHA-256 of the plaintext: shown to the uploader and
    /// kept sealed, never in clear, since a plain hash confirms a guessed file.
    pub sha256: String,
    /// The keyed digest of the plaintext ([`file_digest`]), kept in clear on
    /// the row and checked on every read.
    pub digest: BlindIndex,
}

/// A file's keyed digest: an HMAC of its SHA-256 under the facility's
/// index key, so whoever reads the rows cannot tell whether a file they
/// hold is stored, while the server still checks each read against it.
/// Taken over the hex SHA-256 so that rows stored with a plain checksum
/// get theirs without reading the files again.
pub fn file_digest(key: &DataKey, sha256_hex: &str) -> BlindIndex {
    key.blind_index("file-sha256", &sha256_hex.to_ascii_lowercase())
}

/// Why the file store failed. No message holds a secret or file content.
/// The texts say "attachment", from when message attachments were the only
/// files, and are kept so that logs and alerts read as before.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("cannot create the attachment directory {}", path.display())]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the attachment store settings are incomplete: {0}")]
    Settings(&'static str),
    #[error("the attachment store could not be set up")]
    Setup(#[source] object_store::Error),
    #[error("{0:?} is not a valid object path")]
    BadPath(String),
    #[error("the stored file {0} is missing")]
    Missing(String),
    /// The object would not open for this row, or its checksum differs: it
    /// was altered, truncated or belongs to another row.
    #[error("the stored file {0} is corrupt or belongs to another attachment")]
    Corrupt(String),
    /// The object was sealed under another data key (one since rotated, or
    /// another facility's): look the key up by this id and read it again.
    #[error("the stored file {object_path} was sealed under data key {key_id}")]
    OtherKey { object_path: String, key_id: Uuid },
    #[error("the attachment store could not {operation} {object_path}")]
    Storage {
        operation: &'static str,
        object_path: String,
        #[source]
        source: object_store::Error,
    },
}

/// Sealed files in an object store: a directory or an S3 bucket.
/// Cloning is cheap and shares the store.
#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
}

impl fmt::Debug for FileStore {
    /// Written by hand, from the store's `Display` (its kind and bucket or
    /// directory), so no client configuration or credential is ever shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileStore({})", self.store)
    }
}

impl FileStore {
    /// S3 when a bucket is configured, else the configured directory, else
    /// `<data_dir>/files`.
    pub fn from_settings(settings: &FileSettings, data_dir: &Path) -> Result<Self, FileStoreError> {
        match (&settings.s3, &settings.dir) {
            (Some(s3), _) => Self::s3(s3),
            (None, Some(dir)) => Self::local(dir),
            (None, None) => Self::local(&data_dir.join("files")),
        }
    }

    /// Files under `dir`, which is created if missing.
    pub fn local(dir: &Path) -> Result<Self, FileStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| FileStoreError::Directory {
            path: dir.to_owned(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(FileStoreError::Setup)?;
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// Objects in an S3-compatible bucket, addressed path-style (which every
    /// S3-compatible server understands). Nothing is sent until first use.
    pub fn s3(settings: &S3Settings) -> Result<Self, FileStoreError> {
        // The S3 client's reqwest runs on the process's rustls provider.
        crate::install_tls_provider();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_allow_http(settings.allow_http);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret.expose());
            }
            (None, None) => {}
            _ => {
                return Err(FileStoreError::Settings(
                    "set both the S3 access key id and secret access key, or neither",
                ));
            }
        }
        let store = builder.build().map_err(FileStoreError::Setup)?;
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// Seals `plaintext` for row `id` of `kind` and writes it. The write is
    /// atomic: a reader sees the whole object or none.
    pub async fn put(
        &self,
        kind: ObjectKind,
        key: &DataKey,
        facility_id: Uuid,
        id: Uuid,
        plaintext: &[u8],
    ) -> Result<StoredFile, FileStoreError> {
        let location = object_path(kind, facility_id, id);
        let object_path = location.to_string();
        let sealed = key.seal(field(kind, id), plaintext);
        let payload = PutPayload::from(sealed.as_bytes().to_vec());
        self.store
            .put(&location, payload)
            .await
            .map_err(|source| storage_error("write", &object_path, source))?;
        let sha256 = sha256_hex(plaintext);
        Ok(StoredFile {
            object_path,
            size: plaintext.len() as u64,
            digest: file_digest(key, &sha256),
            sha256,
        })
    }

    /// Reads the object of row `id` of `kind` back, opens it and checks it
    /// is the file that was stored: the seal proves it was written for this
    /// row, the checksum that it is the version the row describes.
    pub async fn get(
        &self,
        kind: ObjectKind,
        key: &DataKey,
        id: Uuid,
        object_path: &str,
        expected: &BlindIndex,
    ) -> Result<Vec<u8>, FileStoreError> {
        let sealed = self.read(object_path).await?;
        let mut opened = key
            .open(field(kind, id), &sealed)
            .map_err(|err| open_error(object_path, err))?;
        if file_digest(key, &sha256_hex(&opened)) != *expected {
            return Err(FileStoreError::Corrupt(object_path.to_owned()));
        }
        // Moved out, not copied: the emptied buffer left behind is what the
        // `Zeroizing` wrapper wipes, and no second copy lingers in memory.
        Ok(std::mem::take(&mut *opened))
    }

    /// Deletes an object; one already gone is not an error, so a retried
    /// deletion succeeds.
    pub async fn delete(&self, object_path: &str) -> Result<(), FileStoreError> {
        let location = parse_path(object_path)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(storage_error("delete", object_path, source)),
        }
    }

    async fn read(&self, object_path: &str) -> Result<Sealed, FileStoreError> {
        let location = parse_path(object_path)?;
        let result = match self.store.get(&location).await {
            Ok(found) => found.bytes().await,
            Err(err) => Err(err),
        };
        let bytes = result.map_err(|source| storage_error("read", object_path, source))?;
        Ok(Sealed::from_bytes(bytes.to_vec()))
    }
}

/// `facilities/<facility>/<folder>/<row>`: ids only, so the path says
/// nothing about the patient or the file.
fn object_path(kind: ObjectKind, facility_id: Uuid, id: Uuid) -> ObjectPath {
    let (facility, id) = (facility_id.to_string(), id.to_string());
    ObjectPath::from_iter(["facilities", &facility, kind.folder, &id])
}

/// Accepts only a path in the form the store writes, so an empty path
/// cannot name the whole store and `/x` is not read as `x`.
fn parse_path(object_path: &str) -> Result<ObjectPath, FileStoreError> {
    match ObjectPath::parse(object_path) {
        Ok(path) if !object_path.is_empty() && path.as_ref() == object_path => Ok(path),
        _ => Err(FileStoreError::BadPath(object_path.to_owned())),
    }
}

fn field(kind: ObjectKind, id: Uuid) -> FieldRef<'static> {
    FieldRef::new(kind.table, kind.column, id)
}

/// Lower-case hex, as the rows keep checksums (the audit chain writes its
/// hashes the same way, but the kernel does not reach into a context).
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn open_error(object_path: &str, err: CryptoError) -> FileStoreError {
    match err {
        CryptoError::OtherKey(key_id) => FileStoreError::OtherKey {
            object_path: object_path.to_owned(),
            key_id,
        },
        _ => FileStoreError::Corrupt(object_path.to_owned()),
    }
}

fn storage_error(
    operation: &'static str,
    object_path: &str,
    source: object_store::Error,
) -> FileStoreError {
    match source {
        object_store::Error::NotFound { .. } => FileStoreError::Missing(object_path.to_owned()),
        source => FileStoreError::Storage {
            operation,
            object_path: object_path.to_owned(),
            source,
        },
    }
}
