//! Envelope encryption: data keys per facility, wrapped by the master key,
//! and master key rotation without re-encrypting data.

use carebase::crypto::{FieldRef, KeyScope, MasterKey};
use carebase::db::new_id;

use crate::on_both_backends;
use crate::support::{TestBackend, TestDatabase};

on_both_backends!(
    each_facility_gets_its_own_data_key_kept_across_restarts,
    rotation_rewraps_data_keys_and_everything_reads_back,
    master_key_from_the_setting_works_like_the_file,
);

async fn each_facility_gets_its_own_data_key_kept_across_restarts(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let config = db.config();
    let (a, b) = (new_id(), new_id());
    let row = new_id();
    let state = carebase::AppState::open(config.clone()).await.unwrap();
    let key_a = state.keyring.facility(a).await.unwrap();
    let key_b = state.keyring.facility(b).await.unwrap();
    assert_ne!(key_a.id(), key_b.id());
    let here = FieldRef::new("patients", "last_name", row);
    let sealed = key_a.seal_str(here, "Quuxworth");
    assert!(
        key_b.open(here, &sealed).is_err(),
        "another facility's key does not open it"
    );
    state.db.close().await;

    let again = carebase::AppState::open(config).await.unwrap();
    let key_a_again = again.keyring.facility(a).await.unwrap();
    assert_eq!(key_a_again.id(), key_a.id());
    assert_eq!(key_a_again.open_string(here, &sealed).unwrap(), "Quuxworth");
    assert_eq!(
        key_a_again.blind_index("mrn", "A-1"),
        key_a.blind_index("mrn", "A-1")
    );
    again.db.close().await;
}

async fn rotation_rewraps_data_keys_and_everything_reads_back(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let config = db.config();
    let facilities: Vec<uuid::Uuid> = (0..3).map(|_| new_id()).collect();
    let row = new_id();
    let here = FieldRef::new("patients", "first_name", row);
    let running = carebase::AppState::open(config.clone()).await.unwrap();
    let mut sealed = Vec::new();
    for facility in &facilities {
        let key = running.keyring.facility(*facility).await.unwrap();
        sealed.push(key.seal_str(here, &format!("name-{facility}")));
    }
    let installation = running.keyring.installation().await.unwrap();
    let sealed_account = installation.seal_str(here, "staff@example.org");

    let old = MasterKey::read(&config.master_key_path(), false)
        .unwrap()
        .unwrap();
    let new_path = db.dir.path().join("next.key");
    let next = MasterKey::create(&new_path).unwrap();
    let count = carebase::crypto::data_keys::rotate(&running.db, &old, &next)
        .await
        .unwrap();
    assert_eq!(
        count,
        facilities.len() + 2,
        "the facilities', the installation's and the audit chain's"
    );

    // The server that was running keeps serving with the keys it holds, but
    // will not wrap a new key under the retired master key.
    let key = running.keyring.facility(facilities[0]).await.unwrap();
    assert_eq!(
        key.open_string(here, &sealed[0]).unwrap(),
        format!("name-{}", facilities[0])
    );
    assert!(running.keyring.facility(new_id()).await.is_err());
    running.db.close().await;

    // A restart on the old key is refused; on the new key everything opens.
    assert!(carebase::AppState::open(config.clone()).await.is_err());
    let mut rotated = config.clone();
    rotated.master_key_file = Some(new_path);
    let restarted = carebase::AppState::open(rotated).await.unwrap();
    for (facility, value) in facilities.iter().zip(&sealed) {
        let key = restarted.keyring.facility(*facility).await.unwrap();
        assert_eq!(
            key.open_string(here, value).unwrap(),
            format!("name-{facility}")
        );
    }
    let installation = restarted.keyring.installation().await.unwrap();
    assert_eq!(
        installation.open_string(here, &sealed_account).unwrap(),
        "staff@example.org"
    );
    assert!(
        restarted.keyring.facility(new_id()).await.is_ok(),
        "new keys wrap under the new master key"
    );
    restarted.db.close().await;
}

async fn master_key_from_the_setting_works_like_the_file(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let key_text = MasterKey::generate().to_text();
    let mut config = db.config();
    config.master_key = Some(carebase::config::SecretString::new(key_text.to_string()));
    let facility = new_id();
    let state = carebase::AppState::open(config.clone()).await.unwrap();
    assert!(!config.master_key_path().exists(), "no key file is made");
    let here = FieldRef::new("t", "c", new_id());
    let sealed = state
        .keyring
        .facility(facility)
        .await
        .unwrap()
        .seal_str(here, "v");
    state.db.close().await;

    let keyring = {
        let state = carebase::AppState::open(config).await.unwrap();
        state.keyring.clone()
    };
    let opened = keyring.key(KeyScope::Facility(facility)).await.unwrap();
    assert_eq!(opened.open_string(here, &sealed).unwrap(), "v");
}
