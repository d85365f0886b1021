//! Records that are not files of a row: small documents that carebase
//! itself writes under a prefix of its own (the audit log's signed
//! checkpoints, under `audit/`), kept as written. They hold no patient data
//! and are not sealed; whoever writes one that matters authenticates it.

use futures_util::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};

use super::{FileStore, FileStoreError, parse_path, storage_error};

impl FileStore {
    /// Writes `bytes` at `path` (such as `audit/checkpoints/…`), replacing
    /// what was there.
    pub async fn put_record(&self, path: &str, bytes: Vec<u8>) -> Result<(), FileStoreError> {
        let location = parse_path(path)?;
        self.store
            .put(&location, PutPayload::from(bytes))
            .await
            .map_err(|source| storage_error("write", path, source))?;
        Ok(())
    }

    /// The paths of the records under `prefix`, in no particular order.
    pub async fn list_records(&self, prefix: &str) -> Result<Vec<String>, FileStoreError> {
        let location = parse_path(prefix)?;
        let found: Vec<_> = match self.store.list(Some(&location)).try_collect().await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(source) => return Err(storage_error("list", prefix, source)),
        };
        Ok(found
            .into_iter()
            .map(|meta| meta.location.to_string())
            .collect())
    }

    /// The record at `path`, as written.
    pub async fn get_record(&self, path: &str) -> Result<Vec<u8>, FileStoreError> {
        let location = parse_path(path)?;
        let result = match self.store.get(&location).await {
            Ok(found) => found.bytes().await,
            Err(err) => Err(err),
        };
        let bytes = result.map_err(|source| storage_error("read", path, source))?;
        Ok(bytes.to_vec())
    }
}
