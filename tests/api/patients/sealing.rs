//! The record at rest: no PHI in clear text, a ciphertext moved to another
//! row does not open, and a master key rotation keeps every record
//! readable.

use carebase::policy::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, assert_no_plaintext, id, json_of, new_patient, problem,
};

on_both_backends!(
    no_phi_is_stored_in_clear_text,
    a_ciphertext_moved_to_another_row_does_not_open,
    master_key_rotation_keeps_every_patient_readable,
);

async fn no_phi_is_stored_in_clear_text(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Private").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let mut patient = new_patient();
    patient["mrn"] = json!("XYZZY-31337");
    let base = format!("/facilities/{facility}/patients");
    let created = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(patient.clone()))
            .await,
    )
    .await;
    app.call(
        &nurse.token,
        Method::GET,
        &format!("{base}/{}", id(&created)),
        None,
    )
    .await;
    let bytes = app.raw_database_bytes(backend).await;
    assert!(
        bytes.len() > 10_000,
        "the scan read the database ({} bytes)",
        bytes.len()
    );
    assert!(
        bytes.windows(7).any(|w| w == b"Private"),
        "the scan sees plaintext that is not PHI (the facility name), so it would see PHI too"
    );
    assert_no_plaintext(
        &bytes,
        &[
            "Zebediah",
            "Quuxworth",
            "XYZZY-31337",
            "1961-07-14",
            "219-09-9999",
            "555 010 4242",
            "zebediah.quuxworth@example.org",
            "Larkspur",
            "Philomena",
            "ACM-77881",
            "penicillin",
        ],
    );
    app.stop().await;
}

async fn a_ciphertext_moved_to_another_row_does_not_open(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Tamper").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let mut other = new_patient();
    other["last_name"] = json!("Otherperson");
    let victim = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
    )
    .await;
    let source = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(other))
            .await,
    )
    .await;
    // Behind the server's back: copy one patient's sealed name onto another.
    let backend_kind = app.state.db.conn().get_database_backend();
    let sql = "UPDATE patients SET last_name = (SELECT last_name FROM patients WHERE id = $1) WHERE id = $2";
    app.state
        .db
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            sql,
            [id(&source).into(), id(&victim).into()],
        ))
        .await
        .unwrap();
    let response = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&victim)),
            None,
        )
        .await;
    let body = problem(response, 500, "internal").await;
    assert!(!body.to_string().contains("Otherperson"), "{body}");
    // The untouched patient still reads.
    assert_eq!(
        app.call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&source)),
            None
        )
        .await
        .status(),
        200
    );
    app.stop().await;
}

async fn master_key_rotation_keeps_every_patient_readable(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Rotated").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(
            json_of(
                app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
                    .await,
            )
            .await,
        );
    }
    let config = app.state.config.clone();
    let old = carebase::crypto::MasterKey::read(&config.master_key_path(), false)
        .unwrap()
        .unwrap();
    let new_path = app._db.dir.path().join("rotated.key");
    let next = carebase::crypto::MasterKey::create(&new_path).unwrap();
    carebase::crypto::data_keys::rotate(&app.state.db, &old, &next)
        .await
        .unwrap();

    // The running server keeps serving without a restart.
    for patient in &created {
        let read = json_of(
            app.call(
                &nurse.token,
                Method::GET,
                &format!("{base}/{}", id(patient)),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(&read, patient);
    }
    // A server started on the new key reads everything back.
    let mut rotated = config.clone();
    rotated.master_key_file = Some(new_path);
    let restarted = carebase::AppState::open(rotated).await.unwrap();
    let key = restarted.keyring.facility(facility).await.unwrap();
    for patient in &created {
        let row = carebase::care::patients::Entity::find_by_id(id(patient))
            .one(restarted.db.conn())
            .await
            .unwrap()
            .unwrap();
        let opened = carebase::care::patients::Patient::open(&key, &row).unwrap();
        assert_eq!(serde_json::to_value(opened).unwrap(), *patient);
    }
    restarted.db.close().await;
    app.stop().await;
}
