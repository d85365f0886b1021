//! Message attachments: files sealed before they reach an object store.
//!
//! An attachment is sealed with the facility's data key, bound to its
//! attachment row (`message_attachments.content`), and only the ciphertext is
//! written: to a directory on local disk by default, or to an S3-compatible
//! bucket. Whoever can read the bucket or the disk sees neither the content
//! nor whose it is, and an object copied under another attachment's row
//! fails to open. The object path names only the facility and the attachment
//! id, never a patient or the file name, because bucket listings and access
//! logs are read by people who must not learn either.
//!
//! Before a file is stored, [`UploadPolicy::check`] decides whether it may
//! be: a size limit, a list of accepted types, and a look at the content
//! itself, since the type a browser declares is whatever the sender says.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::chain::hex;
use crate::config::SecretString;
use crate::crypto::{CryptoError, DataKey, FieldRef, Sealed};

/// The table and column an attachment's content is sealed for.
const TABLE: &str = "message_attachments";
const COLUMN: &str = "content";

/// Where attachments are kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileSettings {
    /// Directory for attachments on local disk; `None` means `<data_dir>/files`.
    pub dir: Option<PathBuf>,
    /// An S3-compatible bucket; when set, attachments go there and `dir` is
    /// not used.
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

/// What [`FileStore::put`] wrote, to be kept on the attachment row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// Where the sealed object is, such as
    /// `facilities/<facility id>/attachments/<attachment id>`.
    pub object_path: String,
    /// Size of the plaintext in bytes, what a reader is shown.
    pub size: u64,
    /// Lower-case hex SHA-256 of the plaintext, checked on every read.
    pub sha256: String,
}

/// Why the file store failed. No message holds a secret or file content.
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
    /// The object would not open under this attachment, or its checksum
    /// differs: it was altered, truncated or belongs to another attachment.
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

/// Sealed attachments in an object store: a directory or an S3 bucket.
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

    /// Seals `plaintext` for attachment `attachment_id` and writes it. The
    /// write is atomic: a reader sees the whole object or none.
    pub async fn put(
        &self,
        key: &DataKey,
        facility_id: Uuid,
        attachment_id: Uuid,
        plaintext: &[u8],
    ) -> Result<StoredFile, FileStoreError> {
        let location = object_path(facility_id, attachment_id);
        let object_path = location.to_string();
        let sealed = key.seal(field(attachment_id), plaintext);
        let payload = PutPayload::from(sealed.as_bytes().to_vec());
        self.store
            .put(&location, payload)
            .await
            .map_err(|source| storage_error("write", &object_path, source))?;
        Ok(StoredFile {
            object_path,
            size: plaintext.len() as u64,
            sha256: sha256_hex(plaintext),
        })
    }

    /// Reads attachment `attachment_id` back, opens it and checks it is the
    /// file that was stored: the seal proves it was written for this
    /// attachment, the checksum that it is the version the row describes.
    pub async fn get(
        &self,
        key: &DataKey,
        attachment_id: Uuid,
        object_path: &str,
        expected_sha256: &str,
    ) -> Result<Vec<u8>, FileStoreError> {
        let sealed = self.read(object_path).await?;
        let mut opened = key
            .open(field(attachment_id), &sealed)
            .map_err(|err| open_error(object_path, err))?;
        if !sha256_hex(&opened).eq_ignore_ascii_case(expected_sha256) {
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

/// `facilities/<facility>/attachments/<attachment>`: ids only, so the path
/// says nothing about the patient or the file.
fn object_path(facility_id: Uuid, attachment_id: Uuid) -> ObjectPath {
    let (facility, attachment) = (facility_id.to_string(), attachment_id.to_string());
    ObjectPath::from_iter(["facilities", &facility, "attachments", &attachment])
}

/// Accepts only a path in the form the store writes, so an empty path
/// cannot name the whole store and `/x` is not read as `x`.
fn parse_path(object_path: &str) -> Result<ObjectPath, FileStoreError> {
    match ObjectPath::parse(object_path) {
        Ok(path) if !object_path.is_empty() && path.as_ref() == object_path => Ok(path),
        _ => Err(FileStoreError::BadPath(object_path.to_owned())),
    }
}

fn field(attachment_id: Uuid) -> FieldRef<'static> {
    FieldRef::new(TABLE, COLUMN, attachment_id)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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

/// The default size limit of an attachment: 10 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

/// The longest file name accepted, in bytes: what most file systems allow,
/// so a file saved back to disk keeps its name.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Accepted by default: documents, photos (HEIC is what iPhones take) and
/// plain text. DICOM is recognised but not accepted by default: studies are
/// usually far over the limit and belong in a PACS, not a message.
pub const DEFAULT_ALLOWED_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/heic",
    "text/plain",
    "text/csv",
];

/// Types whose content is checked to be UTF-8 text without NUL bytes.
const TEXT_TYPES: &[&str] = &["text/plain", "text/csv"];

/// What a browser sends when it does not know: no claim about the content.
const UNKNOWN_TYPE: &str = "application/octet-stream";

/// Which files may be attached to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Accepted MIME types, such as `image/png`; compared without case or
    /// parameters.
    pub allowed_types: Vec<String>,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            allowed_types: DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        }
    }
}

/// A file the policy accepts, with the type it was checked to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedFile {
    /// The name as given, trimmed of surrounding white space.
    pub file_name: String,
    /// The declared type without parameters, or the sniffed one.
    pub mime_type: String,
    pub size: u64,
}

/// Why a file was refused: the form field at fault (`file`, `file_name` or
/// `content_type`) and a reason meant for the person uploading.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct UploadRefusal {
    pub field: &'static str,
    pub reason: String,
}

impl UploadRefusal {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

impl UploadPolicy {
    /// Accepts a file when its name is a plain file name, its size is within
    /// the limit, and its type is accepted and matches its content. With no
    /// declared type (or `application/octet-stream`), the content decides.
    pub fn check(
        &self,
        file_name: &str,
        declared_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<AcceptedFile, UploadRefusal> {
        let file_name = check_file_name(file_name)?;
        self.check_size(bytes)?;
        let mime_type = self.check_type(&file_name, declared_type, bytes)?;
        Ok(AcceptedFile {
            file_name,
            mime_type,
            size: bytes.len() as u64,
        })
    }

    /// Checks what a pre-authorised upload announces, before any byte is
    /// sent: the name, the size (field `size`) and the declared type. The
    /// bytes themselves get [`UploadPolicy::check`] when they arrive.
    pub fn check_declared(
        &self,
        file_name: &str,
        declared_type: &str,
        size: u64,
    ) -> Result<AcceptedFile, UploadRefusal> {
        let file_name = check_file_name(file_name)?;
        if size == 0 {
            return Err(UploadRefusal::new("size", "must be at least 1 byte"));
        }
        if size > self.max_bytes {
            return Err(UploadRefusal::new("size", too_large(size, self.max_bytes)));
        }
        let mime_type = essence(declared_type);
        if !is_declared(&mime_type) {
            return Err(self.refuse_type("declare the file's type"));
        }
        if !self.allowed_types.iter().any(|t| essence(t) == mime_type) {
            let reason = format!("{mime_type} is not an accepted type");
            return Err(self.refuse_type(&reason));
        }
        Ok(AcceptedFile {
            file_name,
            mime_type,
            size,
        })
    }

    fn check_size(&self, bytes: &[u8]) -> Result<(), UploadRefusal> {
        let size = bytes.len() as u64;
        if size == 0 {
            return Err(UploadRefusal::new("file", "is empty"));
        }
        if size > self.max_bytes {
            return Err(UploadRefusal::new("file", too_large(size, self.max_bytes)));
        }
        Ok(())
    }

    fn check_type(
        &self,
        file_name: &str,
        declared_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<String, UploadRefusal> {
        let sniffed = sniff(bytes);
        let mime_type = match declared_type.map(essence).filter(|t| is_declared(t)) {
            Some(declared) => declared,
            None => guess(sniffed, file_name, bytes)
                .ok_or_else(|| self.refuse_type("could not tell the type of the content"))?,
        };
        if !self.allowed_types.iter().any(|t| essence(t) == mime_type) {
            let reason = format!("{mime_type} is not an accepted type");
            return Err(self.refuse_type(&reason));
        }
        content_matches(&mime_type, sniffed, bytes)?;
        Ok(mime_type)
    }

    fn refuse_type(&self, reason: &str) -> UploadRefusal {
        let accepted = self.allowed_types.join(", ");
        UploadRefusal::new("content_type", format!("{reason}; accepted: {accepted}"))
    }
}

/// Refuses names that could be taken for a path, hide characters, or that
/// a file system would not store.
fn check_file_name(file_name: &str) -> Result<String, UploadRefusal> {
    let name = file_name.trim();
    let reason = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > MAX_FILE_NAME_BYTES {
        format!(
            "is {} bytes long; the limit is {MAX_FILE_NAME_BYTES}",
            name.len()
        )
    } else if name.contains(['/', '\\']) {
        "contains a path separator (/ or \\)".to_owned()
    } else if name.chars().any(char::is_control) {
        "contains a control character".to_owned()
    } else if name.chars().any(is_direction_control) {
        // U+202E shows `scan\u{202E}fdp.exe` as `scanexe.pdf`.
        "contains a text direction control character".to_owned()
    } else if name == "." || name == ".." {
        "is not a file name".to_owned()
    } else {
        return Ok(name.to_owned());
    };
    Err(UploadRefusal::new("file_name", reason))
}

fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `Text/Plain; charset=utf-8` → `text/plain`.
fn essence(declared: &str) -> String {
    let essence = declared.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

fn is_declared(mime_type: &str) -> bool {
    !mime_type.is_empty() && mime_type != UNKNOWN_TYPE
}

/// The type of undeclared content: its signature, else text when it is
/// text (CSV when so named), else unknown.
fn guess(sniffed: Option<&Signature>, file_name: &str, bytes: &[u8]) -> Option<String> {
    if let Some(signature) = sniffed {
        return Some(signature.mime_type.to_owned());
    }
    if text_problem(bytes).is_some() {
        return None;
    }
    let csv = file_name.to_ascii_lowercase().ends_with(".csv");
    Some(if csv { "text/csv" } else { "text/plain" }.to_owned())
}

/// Checks the content is what `mime_type` says: the signature of a binary
/// type, or text for a text type. A type without a known signature is
/// accepted unless the content has another type's signature.
fn content_matches(
    mime_type: &str,
    sniffed: Option<&Signature>,
    bytes: &[u8],
) -> Result<(), UploadRefusal> {
    let mismatch = |what: &str| {
        UploadRefusal::new(
            "content_type",
            format!("says {mime_type} but the content is {what}"),
        )
    };
    if let Some(signature) = sniffed {
        if signature.mime_type == mime_type {
            return Ok(());
        }
        return Err(mismatch(signature.name));
    }
    if TEXT_TYPES.contains(&mime_type) {
        return match text_problem(bytes) {
            None => Ok(()),
            Some(problem) => Err(mismatch(problem)),
        };
    }
    match SIGNATURES.iter().find(|s| s.mime_type == mime_type) {
        Some(expected) => Err(mismatch(&format!("not {}", expected.name))),
        None => Ok(()),
    }
}

/// Why `bytes` is not text, if it is not.
fn text_problem(bytes: &[u8]) -> Option<&'static str> {
    if std::str::from_utf8(bytes).is_err() {
        Some("not UTF-8 text")
    } else if bytes.contains(&0) {
        Some("not text (it contains a NUL byte)")
    } else {
        None
    }
}

/// A binary type recognised by its first bytes.
struct Signature {
    mime_type: &'static str,
    /// How a refusal names it: "says image/png but the content is a PDF".
    name: &'static str,
    matches: fn(&[u8]) -> bool,
}

const SIGNATURES: &[Signature] = &[
    Signature {
        mime_type: "application/pdf",
        name: "a PDF",
        matches: |b| b.starts_with(b"%PDF-"),
    },
    Signature {
        mime_type: "image/png",
        name: "a PNG image",
        matches: |b| b.starts_with(b"\x89PNG\r\n\x1a\n"),
    },
    Signature {
        mime_type: "image/jpeg",
        name: "a JPEG image",
        matches: |b| b.starts_with(&[0xFF, 0xD8, 0xFF]),
    },
    Signature {
        mime_type: "image/gif",
        name: "a GIF image",
        matches: |b| b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"),
    },
    Signature {
        mime_type: "image/webp",
        name: "a WebP image",
        matches: |b| b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP",
    },
    Signature {
        mime_type: "image/heic",
        name: "a HEIC image",
        matches: is_heic,
    },
    Signature {
        mime_type: "application/dicom",
        name: "a DICOM file",
        matches: |b| b.len() >= 132 && &b[128..132] == b"DICM",
    },
];

fn sniff(bytes: &[u8]) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| (s.matches)(bytes))
}

/// The ISO-BMFF brands of HEVC-coded HEIF, as iPhones write it. `mif1`
/// alone is not enough: AVIF files carry it too.
const HEIC_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
];

/// An `ftyp` box first whose major or compatible brands include a HEIC one.
fn is_heic(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..16) else {
        return false;
    };
    if &header[4..8] != b"ftyp" {
        return false;
    }
    let declared = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let end = usize::try_from(declared).map_or(bytes.len(), |n| n.min(bytes.len()));
    let compatible = bytes.get(16..end).unwrap_or_default().chunks_exact(4);
    std::iter::once(&header[8..12])
        .chain(compatible)
        .any(|brand| HEIC_BRANDS.iter().any(|heic| brand == heic.as_slice()))
}

/// "is 12 MiB; the limit is 10 MiB", in bytes when the rounded sizes would
/// read the same.
fn too_large(size: u64, limit: u64) -> String {
    let (shown_size, shown_limit) = (human_size(size), human_size(limit));
    if shown_size == shown_limit {
        format!("is {size} bytes; the limit is {limit} bytes")
    } else {
        format!("is {shown_size}; the limit is {shown_limit}")
    }
}

/// A size in the largest binary unit it reaches, to one decimal, integer
/// arithmetic only: `12 MiB`, `10.5 MiB`, `900 KiB`, `12 bytes`.
fn human_size(bytes: u64) -> String {
    const UNITS: &[(u64, &str)] = &[(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    let Some(&(unit, name)) = UNITS.iter().find(|(unit, _)| bytes >= *unit) else {
        return format!("{bytes} bytes");
    };
    let tenths = (u128::from(bytes) * 10 + u128::from(unit) / 2) / u128::from(unit);
    match tenths % 10 {
        0 => format!("{} {name}", tenths / 10),
        rest => format!("{}.{rest} {name}", tenths / 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    const SECRET_NOTE: &[u8] = b"Quuxworth, Ada: potassium 6.8 mmol/L, call the patient today.";

    fn key() -> DataKey {
        DataKey::new(Uuid::now_v7(), &[7u8; 32])
    }

    fn local() -> (TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::local(dir.path()).unwrap();
        (dir, store)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Every file under `dir`, read from disk.
    fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
        found
    }

    #[tokio::test]
    async fn put_then_get_round_trips_and_disk_holds_only_ciphertext() {
        let (dir, store) = local();
        let (key, facility, attachment) = (key(), Uuid::now_v7(), Uuid::now_v7());
        let stored = store
            .put(&key, facility, attachment, SECRET_NOTE)
            .await
            .unwrap();

        assert_eq!(
            stored.object_path,
            format!("facilities/{facility}/attachments/{attachment}")
        );
        assert_eq!(stored.size, SECRET_NOTE.len() as u64);
        let back = store
            .get(&key, attachment, &stored.object_path, &stored.sha256)
            .await
            .unwrap();
        assert_eq!(back, SECRET_NOTE);

        let files = files_under(dir.path());
        assert_eq!(files.len(), 1, "one object, no leftover temporary file");
        let (path, bytes) = &files[0];
        assert_eq!(path, &dir.path().join(&stored.object_path));
        assert!(bytes.len() > SECRET_NOTE.len());
        assert!(!contains(bytes, SECRET_NOTE));
        assert!(!contains(bytes, b"Quuxworth"));
    }

    #[tokio::test]
    async fn the_checksum_is_the_sha256_of_the_plaintext() {
        let (_dir, store) = local();
        let stored = store
            .put(&key(), Uuid::now_v7(), Uuid::now_v7(), b"abc")
            .await
            .unwrap();
        // The FIPS 180-2 test vector for "abc".
        assert_eq!(
            stored.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(stored.size, 3);
    }

    #[tokio::test]
    async fn the_object_path_names_neither_the_file_nor_the_content() {
        let (_dir, store) = local();
        let stored = store
            .put(&key(), Uuid::now_v7(), Uuid::now_v7(), b"%PDF-1.7 referral")
            .await
            .unwrap();
        let segments: Vec<&str> = stored.object_path.split('/').collect();
        assert_eq!(segments.len(), 4);
        assert_eq!([segments[0], segments[2]], ["facilities", "attachments"]);
        assert!(Uuid::parse_str(segments[1]).is_ok());
        assert!(Uuid::parse_str(segments[3]).is_ok());
        assert!(!stored.object_path.contains('.'));
    }

    #[tokio::test]
    async fn a_tampered_object_is_corrupt() {
        let (dir, store) = local();
        let (key, attachment) = (key(), Uuid::now_v7());
        let stored = store
            .put(&key, Uuid::now_v7(), attachment, SECRET_NOTE)
            .await
            .unwrap();
        let on_disk = dir.path().join(&stored.object_path);
        let mut bytes = std::fs::read(&on_disk).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&on_disk, bytes).unwrap();

        let err = store
            .get(&key, attachment, &stored.object_path, &stored.sha256)
            .await
            .unwrap_err();
        assert!(matches!(err, FileStoreError::Corrupt(ref p) if *p == stored.object_path));
    }

    #[tokio::test]
    async fn an_object_read_for_another_attachment_is_corrupt() {
        let (_dir, store) = local();
        let key = key();
        let stored = store
            .put(&key, Uuid::now_v7(), Uuid::now_v7(), SECRET_NOTE)
            .await
            .unwrap();
        let err = store
            .get(&key, Uuid::now_v7(), &stored.object_path, &stored.sha256)
            .await
            .unwrap_err();
        assert!(matches!(err, FileStoreError::Corrupt(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_checksum_mismatch_is_corrupt() {
        let (_dir, store) = local();
        let (key, attachment) = (key(), Uuid::now_v7());
        let stored = store
            .put(&key, Uuid::now_v7(), attachment, SECRET_NOTE)
            .await
            .unwrap();
        let other = sha256_hex(b"another version of the file");
        let err = store
            .get(&key, attachment, &stored.object_path, &other)
            .await
            .unwrap_err();
        assert!(matches!(err, FileStoreError::Corrupt(_)), "{err:?}");
        // The checksum is compared case-insensitively.
        let upper = stored.sha256.to_ascii_uppercase();
        let back = store.get(&key, attachment, &stored.object_path, &upper);
        assert_eq!(back.await.unwrap(), SECRET_NOTE);
    }

    #[tokio::test]
    async fn an_object_sealed_under_another_key_names_that_key() {
        let (_dir, store) = local();
        let (old_key, attachment) = (key(), Uuid::now_v7());
        let stored = store
            .put(&old_key, Uuid::now_v7(), attachment, SECRET_NOTE)
            .await
            .unwrap();
        let err = store
            .get(&key(), attachment, &stored.object_path, &stored.sha256)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FileStoreError::OtherKey { key_id, .. } if key_id == old_key.id()),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_object_is_missing_and_delete_is_idempotent() {
        let (dir, store) = local();
        let (key, attachment) = (key(), Uuid::now_v7());
        let never = object_path(Uuid::now_v7(), Uuid::now_v7()).to_string();
        let err = store.get(&key, attachment, &never, "00").await.unwrap_err();
        assert!(
            matches!(err, FileStoreError::Missing(ref p) if *p == never),
            "{err:?}"
        );

        let stored = store
            .put(&key, Uuid::now_v7(), attachment, SECRET_NOTE)
            .await
            .unwrap();
        store.delete(&stored.object_path).await.unwrap();
        assert!(!dir.path().join(&stored.object_path).exists());
        let err = store
            .get(&key, attachment, &stored.object_path, &stored.sha256)
            .await
            .unwrap_err();
        assert!(matches!(err, FileStoreError::Missing(_)), "{err:?}");
        store.delete(&stored.object_path).await.unwrap();
        store.delete(&never).await.unwrap();
    }

    #[tokio::test]
    async fn a_malformed_object_path_is_refused() {
        let (_dir, store) = local();
        for bad in [
            "",
            "facilities//x",
            "../../etc/passwd",
            "/facilities/x",
            "facilities/",
        ] {
            let err = store
                .get(&key(), Uuid::now_v7(), bad, "00")
                .await
                .unwrap_err();
            assert!(matches!(err, FileStoreError::BadPath(_)), "{bad}: {err:?}");
        }
    }

    #[tokio::test]
    async fn settings_choose_the_data_dir_a_directory_or_a_bucket() {
        let data_dir = tempfile::tempdir().unwrap();
        let default = FileStore::from_settings(&FileSettings::default(), data_dir.path());
        let default = default.unwrap();
        assert!(data_dir.path().join("files").is_dir());
        let stored = default
            .put(&key(), Uuid::now_v7(), Uuid::now_v7(), b"x")
            .await
            .unwrap();
        assert!(
            data_dir
                .path()
                .join("files")
                .join(&stored.object_path)
                .is_file()
        );

        let elsewhere = data_dir.path().join("elsewhere/attachments");
        let settings = FileSettings {
            dir: Some(elsewhere.clone()),
            s3: None,
        };
        FileStore::from_settings(&settings, data_dir.path()).unwrap();
        assert!(elsewhere.is_dir());

        let settings = FileSettings {
            dir: Some(elsewhere),
            s3: Some(s3_settings("http://127.0.0.1:9", "clinic-files")),
        };
        let s3 = FileStore::from_settings(&settings, data_dir.path()).unwrap();
        assert_eq!(format!("{s3:?}"), "FileStore(AmazonS3(clinic-files))");
    }

    fn s3_settings(endpoint: &str, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: Some(endpoint.to_owned()),
            access_key_id: Some("test-access-key".to_owned()),
            secret_access_key: Some(SecretString::new("s3cret-Sauce-42".to_owned())),
            allow_http: true,
            ..S3Settings::new(bucket)
        }
    }

    #[test]
    fn debug_output_never_shows_the_s3_secret() {
        let settings = s3_settings("http://127.0.0.1:9", "clinic-files");
        let store = FileStore::s3(&settings).unwrap();
        let file_settings = FileSettings {
            dir: None,
            s3: Some(settings.clone()),
        };
        for shown in [
            format!("{settings:?}"),
            format!("{file_settings:?}"),
            format!("{store:?}"),
            format!("{store:#?}"),
        ] {
            assert!(!shown.contains("s3cret-Sauce-42"), "{shown}");
        }
    }

    #[test]
    fn half_configured_s3_credentials_are_refused() {
        let settings = S3Settings {
            secret_access_key: None,
            ..s3_settings("http://127.0.0.1:9", "clinic-files")
        };
        let err = FileStore::s3(&settings).unwrap_err();
        assert!(matches!(err, FileStoreError::Settings(_)), "{err:?}");
    }

    #[test]
    fn an_uncreatable_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let err = FileStore::local(&file.join("files")).unwrap_err();
        assert!(matches!(err, FileStoreError::Directory { .. }), "{err:?}");
    }

    /// Runs against a real S3-protocol server (moto_server) at
    /// `CAREBASE_TEST_S3_URL`, such as `http://127.0.0.1:5055`; ignored
    /// when it was not set as the tests were built.
    #[cfg_attr(
        not(carebase_test_s3),
        ignore = "no S3-compatible server: set CAREBASE_TEST_S3_URL"
    )]
    #[tokio::test]
    async fn s3_put_get_tamper_and_delete_against_a_real_server() {
        let url = std::env::var("CAREBASE_TEST_S3_URL")
            .expect("CAREBASE_TEST_S3_URL was set when the tests were built");
        let url = url.trim_end_matches('/').to_owned();
        let bucket = format!("carebase-test-{}", Uuid::now_v7().simple());
        let http = reqwest::Client::new();
        let created = http.put(format!("{url}/{bucket}")).send().await.unwrap();
        assert!(created.status().is_success(), "{}", created.status());

        let store = FileStore::s3(&s3_settings(&url, &bucket)).unwrap();
        let (key, attachment) = (key(), Uuid::now_v7());
        let stored = store
            .put(&key, Uuid::now_v7(), attachment, SECRET_NOTE)
            .await
            .unwrap();
        let back = store.get(&key, attachment, &stored.object_path, &stored.sha256);
        assert_eq!(back.await.unwrap(), SECRET_NOTE);

        // The object as the bucket holds it, read and rewritten with the
        // same credentials but past the sealing.
        let location = ObjectPath::parse(&stored.object_path).unwrap();
        let raw = store.store.get(&location).await.unwrap().bytes().await;
        let mut raw = raw.unwrap().to_vec();
        assert!(raw.len() > SECRET_NOTE.len());
        assert!(!contains(&raw, SECRET_NOTE));

        let last = raw.len() - 1;
        raw[last] ^= 0x01;
        store.store.put(&location, raw.into()).await.unwrap();
        let err = store
            .get(&key, attachment, &stored.object_path, &stored.sha256)
            .await
            .unwrap_err();
        assert!(matches!(err, FileStoreError::Corrupt(_)), "{err:?}");

        store.delete(&stored.object_path).await.unwrap();
        let err = store
            .get(&key, attachment, &stored.object_path, &stored.sha256)
            .await
            .unwrap_err();
        assert!(matches!(err, FileStoreError::Missing(_)), "{err:?}");
        store.delete(&stored.object_path).await.unwrap();
    }

    // The upload policy.

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn refusal(file_name: &str, declared: Option<&str>, bytes: &[u8]) -> UploadRefusal {
        UploadPolicy::default()
            .check(file_name, declared, bytes)
            .unwrap_err()
    }

    fn accepted_type(file_name: &str, declared: Option<&str>, bytes: &[u8]) -> String {
        let accepted = UploadPolicy::default().check(file_name, declared, bytes);
        accepted.unwrap().mime_type
    }

    fn heif(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        for brand in compatible {
            bytes.extend_from_slice(*brand);
        }
        bytes.extend_from_slice(b"\0\0\0\x08meta");
        bytes
    }

    #[test]
    fn a_pdf_within_the_limit_is_accepted() {
        let accepted = UploadPolicy::default()
            .check("  referral.pdf ", Some("application/pdf"), PDF)
            .unwrap();
        assert_eq!(
            accepted,
            AcceptedFile {
                file_name: "referral.pdf".to_owned(),
                mime_type: "application/pdf".to_owned(),
                size: PDF.len() as u64,
            }
        );
    }

    #[test]
    fn an_oversize_file_is_refused_with_both_sizes() {
        let mut big = PDF.to_vec();
        big.resize(12 * 1024 * 1024, b' ');
        let refused = refusal("scan.pdf", Some("application/pdf"), &big);
        assert_eq!(refused.field, "file");
        assert_eq!(refused.reason, "is 12 MiB; the limit is 10 MiB");

        big.resize(10 * 1024 * 1024 + 1, b' ');
        let refused = refusal("scan.pdf", Some("application/pdf"), &big);
        assert_eq!(
            refused.reason,
            "is 10485761 bytes; the limit is 10485760 bytes"
        );

        big.truncate(10 * 1024 * 1024);
        assert!(
            UploadPolicy::default()
                .check("scan.pdf", None, &big)
                .is_ok()
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        let refused = refusal("empty.txt", Some("text/plain"), b"");
        assert_eq!(
            (refused.field, refused.reason.as_str()),
            ("file", "is empty")
        );
    }

    #[test]
    fn a_type_outside_the_list_is_refused_with_the_list() {
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>";
        let refused = refusal("chart.svg", Some("image/svg+xml"), svg);
        assert_eq!(refused.field, "content_type");
        assert_eq!(
            refused.reason,
            "image/svg+xml is not an accepted type; accepted: application/pdf, image/png, \
             image/jpeg, image/gif, image/webp, image/heic, text/plain, text/csv"
        );
        let dicom = [vec![0u8; 128], b"DICM".to_vec()].concat();
        let refused = refusal("study.dcm", None, &dicom);
        assert!(
            refused
                .reason
                .starts_with("application/dicom is not an accepted type"),
            "{refused}"
        );
    }

    #[test]
    fn a_declared_type_that_the_content_contradicts_is_refused() {
        let refused = refusal("photo.png", Some("image/png"), PDF);
        assert_eq!(refused.field, "content_type");
        assert_eq!(refused.reason, "says image/png but the content is a PDF");

        let refused = refusal("photo.png", Some("image/png"), b"just some text");
        assert_eq!(
            refused.reason,
            "says image/png but the content is not a PNG image"
        );
        let refused = refusal("notes.txt", Some("text/plain"), PNG);
        assert_eq!(
            refused.reason,
            "says text/plain but the content is a PNG image"
        );
        let avif = heif(b"avif", &[b"mif1", b"avif"]);
        let refused = refusal("photo.heic", Some("image/heic"), &avif);
        assert_eq!(
            refused.reason,
            "says image/heic but the content is not a HEIC image"
        );
    }

    #[test]
    fn bad_file_names_are_refused() {
        let long = "a".repeat(252) + ".pdf";
        let cases = [
            ("", "is empty"),
            ("   ", "is empty"),
            (long.as_str(), "is 256 bytes long; the limit is 255"),
            ("../../etc/passwd", "contains a path separator (/ or \\)"),
            ("C:\\Users\\scan.pdf", "contains a path separator (/ or \\)"),
            ("scan\n.pdf", "contains a control character"),
            ("scan\u{0}.pdf", "contains a control character"),
            (
                "invoice\u{202E}fdp.exe",
                "contains a text direction control character",
            ),
            ("..", "is not a file name"),
        ];
        for (name, reason) in cases {
            let refused = refusal(name, Some("application/pdf"), PDF);
            assert_eq!(refused.field, "file_name", "{name:?}");
            assert_eq!(refused.reason, reason, "{name:?}");
        }
        let ok = "Überweisung – Dr. Müller (2).pdf";
        let accepted = UploadPolicy::default().check(ok, None, PDF).unwrap();
        assert_eq!(accepted.file_name, ok);
    }

    #[test]
    fn text_must_be_utf8_without_nul() {
        let refused = refusal("notes.txt", Some("text/plain"), b"blood pressure\x00120/80");
        assert_eq!(refused.field, "content_type");
        assert_eq!(
            refused.reason,
            "says text/plain but the content is not text (it contains a NUL byte)"
        );
        let refused = refusal("notes.csv", Some("text/csv"), b"a,b\n\xff\xfe,1\n");
        assert_eq!(
            refused.reason,
            "says text/csv but the content is not UTF-8 text"
        );
        assert_eq!(
            accepted_type(
                "notes.txt",
                Some("Text/Plain; charset=UTF-8"),
                "Blutdruck 120/80 – gut".as_bytes()
            ),
            "text/plain"
        );
    }

    #[test]
    fn without_a_declared_type_the_content_decides() {
        assert_eq!(accepted_type("scan", None, PDF), "application/pdf");
        assert_eq!(
            accepted_type("x.bin", Some("application/octet-stream"), PNG),
            "image/png"
        );
        assert_eq!(
            accepted_type("photo", Some(""), &[0xFF, 0xD8, 0xFF, 0xE0]),
            "image/jpeg"
        );
        assert_eq!(accepted_type("a.gif", None, b"GIF89a\x01\x00"), "image/gif");
        assert_eq!(
            accepted_type("a.webp", None, b"RIFF\x24\0\0\0WEBPVP8 "),
            "image/webp"
        );
        let heic = heif(b"mif1", &[b"mif1", b"heic"]);
        assert_eq!(accepted_type("IMG_0001.HEIC", None, &heic), "image/heic");
        assert_eq!(
            accepted_type("labs.CSV", None, b"test,value\nK,4.1\n"),
            "text/csv"
        );
        assert_eq!(accepted_type("labs", None, b"K 4.1"), "text/plain");

        let refused = refusal("blob", None, b"\x00\x01\x02\x03");
        assert_eq!(refused.field, "content_type");
        assert!(
            refused
                .reason
                .starts_with("could not tell the type of the content; accepted: "),
            "{refused}"
        );
    }

    #[test]
    fn a_policy_may_accept_types_it_cannot_sniff() {
        let policy = UploadPolicy {
            max_bytes: 100,
            allowed_types: vec!["application/msword".to_owned()],
        };
        let doc = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
        let accepted = policy.check("letter.doc", Some("application/msword"), doc);
        assert_eq!(accepted.unwrap().mime_type, "application/msword");
        let refused = policy.check("letter.doc", Some("application/msword"), PDF);
        assert_eq!(
            refused.unwrap_err().reason,
            "says application/msword but the content is a PDF"
        );
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(900 * 1024), "900 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_size(10 * 1024 * 1024 + 512 * 1024), "10.5 MiB");
        assert_eq!(human_size(3 << 30), "3 GiB");
    }
}
