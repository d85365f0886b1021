//! The master key: made once, checked on every start, never replaced.

use crate::on_both_backends;
use crate::support::{TestBackend, TestDatabase};

on_both_backends!(
    first_start_creates_a_private_key_and_later_starts_reuse_it,
    a_different_key_is_refused,
    a_lost_key_is_not_silently_replaced,
    a_key_file_others_can_read_stops_the_start,
);

async fn first_start_creates_a_private_key_and_later_starts_reuse_it(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let config = db.config();
    let path = config.master_key_path();
    assert!(!path.exists());
    let first = carebase::AppState::open(config.clone()).await.unwrap();
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let id = first.keyring.master_key().id().to_owned();
    first.db.close().await;
    let again = carebase::AppState::open(config).await.unwrap();
    assert_eq!(again.keyring.master_key().id(), id);
    again.db.close().await;
}

async fn a_different_key_is_refused(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let config = db.config();
    let first = carebase::AppState::open(config.clone()).await.unwrap();
    first.db.close().await;

    let other = db.dir.path().join("other.key");
    carebase::crypto::MasterKey::create(&other).unwrap();
    let mut wrong = config.clone();
    wrong.master_key_file = Some(other);
    let err = carebase::AppState::open(wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("but this database is encrypted with key"),
        "{err}"
    );
}

async fn a_lost_key_is_not_silently_replaced(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let config = db.config();
    let first = carebase::AppState::open(config.clone()).await.unwrap();
    first.db.close().await;
    std::fs::remove_file(config.master_key_path()).unwrap();

    let err = carebase::AppState::open(config.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is missing"), "{err}");
    assert!(err.contains("Restore the key file"), "{err}");
    assert!(!config.master_key_path().exists(), "no new key was made");
}

/// A key file its group or others can read stops the start, with the fix
/// in the message; the `allow_readable_master_key` flag overrides it.
async fn a_key_file_others_can_read_stops_the_start(backend: TestBackend) {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDatabase::create(backend).await;
    let config = db.config();
    let first = carebase::AppState::open(config.clone()).await.unwrap();
    first.db.close().await;
    let path = config.master_key_path();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Err(refused) = carebase::AppState::open(config.clone()).await else {
        panic!("a readable key file stops the start");
    };
    let refused = refused.to_string();
    assert!(refused.contains("chmod 600"), "{refused}");
    assert!(refused.contains("allow_readable_master_key"), "{refused}");
    let mut allowed = config;
    allowed.allow_readable_master_key = true;
    let started = carebase::AppState::open(allowed).await.unwrap();
    started.db.close().await;
}
