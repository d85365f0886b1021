//! The sealed object store, on local disk and against a real S3-protocol
//! server: what reaches the disk or the bucket, and every way a read back
//! fails.

use super::*;
use tempfile::TempDir;

/// A kind of no context, so the store is shown to work for any.
const KIND: ObjectKind = ObjectKind {
    table: "scans",
    column: "content",
    folder: "scans",
};

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
    let (key, facility, row) = (key(), Uuid::now_v7(), Uuid::now_v7());
    let stored = store
        .put(KIND, &key, facility, row, SECRET_NOTE)
        .await
        .unwrap();

    assert_eq!(
        stored.object_path,
        format!("facilities/{facility}/scans/{row}")
    );
    assert_eq!(stored.size, SECRET_NOTE.len() as u64);
    let back = store
        .get(KIND, &key, row, &stored.object_path, &stored.digest)
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
        .put(KIND, &key(), Uuid::now_v7(), Uuid::now_v7(), b"abc")
        .await
        .unwrap();
    // The FIPS 180-2 test vector for "abc".
    assert_eq!(
        stored.sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(stored.size, 3);
    // The row keeps a keyed digest instead: no one without the data key can
    // compute it from a file they hold.
    assert_eq!(stored.digest, file_digest(&key(), &stored.sha256));
    let other_key = DataKey::new(Uuid::now_v7(), &[8u8; 32]);
    assert_ne!(stored.digest, file_digest(&other_key, &stored.sha256));
    assert!(!contains(
        stored.digest.as_bytes(),
        stored.sha256.as_bytes()
    ));
}

#[tokio::test]
async fn the_object_path_names_neither_the_file_nor_the_content() {
    let (_dir, store) = local();
    let stored = store
        .put(
            KIND,
            &key(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            b"%PDF-1.7 referral",
        )
        .await
        .unwrap();
    let segments: Vec<&str> = stored.object_path.split('/').collect();
    assert_eq!(segments.len(), 4);
    assert_eq!([segments[0], segments[2]], ["facilities", "scans"]);
    assert!(Uuid::parse_str(segments[1]).is_ok());
    assert!(Uuid::parse_str(segments[3]).is_ok());
    assert!(!stored.object_path.contains('.'));
}

#[tokio::test]
async fn a_tampered_object_is_corrupt() {
    let (dir, store) = local();
    let (key, row) = (key(), Uuid::now_v7());
    let stored = store
        .put(KIND, &key, Uuid::now_v7(), row, SECRET_NOTE)
        .await
        .unwrap();
    let on_disk = dir.path().join(&stored.object_path);
    let mut bytes = std::fs::read(&on_disk).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&on_disk, bytes).unwrap();

    let err = store
        .get(KIND, &key, row, &stored.object_path, &stored.digest)
        .await
        .unwrap_err();
    assert!(matches!(err, FileStoreError::Corrupt(ref p) if *p == stored.object_path));
}

#[tokio::test]
async fn an_object_read_for_another_row_is_corrupt() {
    let (_dir, store) = local();
    let key = key();
    let stored = store
        .put(KIND, &key, Uuid::now_v7(), Uuid::now_v7(), SECRET_NOTE)
        .await
        .unwrap();
    let err = store
        .get(
            KIND,
            &key,
            Uuid::now_v7(),
            &stored.object_path,
            &stored.digest,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FileStoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn an_object_read_as_another_kind_is_corrupt() {
    let (_dir, store) = local();
    let (key, row) = (key(), Uuid::now_v7());
    let stored = store
        .put(KIND, &key, Uuid::now_v7(), row, SECRET_NOTE)
        .await
        .unwrap();
    let letters = ObjectKind {
        table: "letters",
        ..KIND
    };
    let err = store
        .get(letters, &key, row, &stored.object_path, &stored.digest)
        .await
        .unwrap_err();
    assert!(matches!(err, FileStoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn a_checksum_mismatch_is_corrupt() {
    let (_dir, store) = local();
    let (key, row) = (key(), Uuid::now_v7());
    let stored = store
        .put(KIND, &key, Uuid::now_v7(), row, SECRET_NOTE)
        .await
        .unwrap();
    let other = file_digest(&key, &sha256_hex(b"another version of the file"));
    let err = store
        .get(KIND, &key, row, &stored.object_path, &other)
        .await
        .unwrap_err();
    assert!(matches!(err, FileStoreError::Corrupt(_)), "{err:?}");
    // A digest taken from an upper-case checksum is the same digest.
    let upper = file_digest(&key, &stored.sha256.to_ascii_uppercase());
    let back = store.get(KIND, &key, row, &stored.object_path, &upper);
    assert_eq!(back.await.unwrap(), SECRET_NOTE);
}

#[tokio::test]
async fn an_object_sealed_under_another_key_names_that_key() {
    let (_dir, store) = local();
    let (old_key, row) = (key(), Uuid::now_v7());
    let stored = store
        .put(KIND, &old_key, Uuid::now_v7(), row, SECRET_NOTE)
        .await
        .unwrap();
    let err = store
        .get(KIND, &key(), row, &stored.object_path, &stored.digest)
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
    let (key, row) = (key(), Uuid::now_v7());
    let never = object_path(KIND, Uuid::now_v7(), Uuid::now_v7()).to_string();
    let err = store
        .get(KIND, &key, row, &never, &file_digest(&key, "00"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FileStoreError::Missing(ref p) if *p == never),
        "{err:?}"
    );

    let stored = store
        .put(KIND, &key, Uuid::now_v7(), row, SECRET_NOTE)
        .await
        .unwrap();
    store.delete(&stored.object_path).await.unwrap();
    assert!(!dir.path().join(&stored.object_path).exists());
    let err = store
        .get(KIND, &key, row, &stored.object_path, &stored.digest)
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
            .get(
                KIND,
                &key(),
                Uuid::now_v7(),
                bad,
                &file_digest(&key(), "00"),
            )
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
        .put(KIND, &key(), Uuid::now_v7(), Uuid::now_v7(), b"x")
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
    let (key, row) = (key(), Uuid::now_v7());
    let stored = store
        .put(KIND, &key, Uuid::now_v7(), row, SECRET_NOTE)
        .await
        .unwrap();
    let back = store.get(KIND, &key, row, &stored.object_path, &stored.digest);
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
        .get(KIND, &key, row, &stored.object_path, &stored.digest)
        .await
        .unwrap_err();
    assert!(matches!(err, FileStoreError::Corrupt(_)), "{err:?}");

    store.delete(&stored.object_path).await.unwrap();
    let err = store
        .get(KIND, &key, row, &stored.object_path, &stored.digest)
        .await
        .unwrap_err();
    assert!(matches!(err, FileStoreError::Missing(_)), "{err:?}");
    store.delete(&stored.object_path).await.unwrap();
}
