//! Envelope encryption: data keys per facility, wrapped by the master key,
//! and master key rotation without re-encrypting data.

use carebase::crypto::{FieldRef, KeyScope, MasterKey};
use carebase::db::new_id;
use carebase::policy::Role;
use reqwest::Method;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, TestDatabase, id, json_of, new_patient};

on_both_backends!(
    each_facility_gets_its_own_data_key_kept_across_restarts,
    rotation_rewraps_data_keys_and_everything_reads_back,
    master_key_from_the_setting_works_like_the_file,
    rotation_is_online_for_a_running_server,
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

/// `carebase keys rotate` while a server runs: it goes on opening data keys
/// it had not cached (made by another process before the rotation), a
/// server started on the new key takes its access tokens, and once the
/// retired key's wrappings are forgotten it opens nothing new with it.
async fn rotation_is_online_for_a_running_server(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let config = app.state.config.clone();
    let uncached = app.facility("Uncached").await;
    let admin = app.person(&[(Some(uncached), Role::Admin)]).await;
    let other = carebase::AppState::open(config.clone()).await.unwrap();
    other.keyring.facility(uncached).await.unwrap();
    let old = MasterKey::read(&config.master_key_path(), false)
        .unwrap()
        .unwrap();
    let next_path = app._db.dir.path().join("next.key");
    let next = MasterKey::create(&next_path).unwrap();
    carebase::crypto::data_keys::rotate(&other.db, &old, &next)
        .await
        .unwrap();

    let patients = format!("/facilities/{uncached}/patients");
    let created = app
        .call(&admin.token, Method::POST, &patients, Some(new_patient()))
        .await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let patient = json_of(created).await;

    let second = app
        .second_server_with(|c| c.master_key_file = Some(next_path.clone()))
        .await;
    let on_second = app
        .client
        .get(format!("http://{}{patients}/{}", second.addr, id(&patient)))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_second.status(), 200, "the old server's token and data");
    assert_eq!(json_of(on_second).await["mrn"], patient["mrn"]);

    let later = app.facility("Later").await;
    let made_by_second = other.keyring.facility(later).await;
    assert!(made_by_second.is_err(), "the retired key wraps no new key");
    assert_eq!(
        carebase::crypto::data_keys::forget_retired(&other.db)
            .await
            .unwrap(),
        3,
        "the installation's key, the audit chain's and the facility's"
    );
    other.db.close().await;
    let another = app.facility("Another").await;
    let admin_there = app.person(&[(Some(another), Role::Admin)]).await;
    let refused = app
        .call(
            &admin_there.token,
            Method::POST,
            &format!("/facilities/{another}/patients"),
            Some(new_patient()),
        )
        .await;
    assert_eq!(
        refused.status(),
        503,
        "restart on the new key, another server answers"
    );
    second.stop().await;
    app.stop().await;
}
