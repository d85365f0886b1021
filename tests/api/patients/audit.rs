//! The record's audit trail: every read and change audited without PHI,
//! nothing done that cannot be audited, and the log exported.

use carebase::policy::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, json_of, new_patient, problem};

on_both_backends!(
    every_read_and_change_is_audited_without_phi,
    a_change_or_read_that_cannot_be_audited_does_not_happen,
    the_audit_log_exports_as_ndjson_and_csv_and_records_the_export,
);

async fn every_read_and_change_is_audited_without_phi(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Audited Clinic").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let base = format!("/facilities/{facility}/patients");
    let created = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
    )
    .await;
    let patient_id = id(&created);
    app.call(
        &nurse.token,
        Method::GET,
        &format!("{base}/{patient_id}"),
        None,
    )
    .await;
    app.call(&nurse.token, Method::GET, &base, None).await;
    app.call(
        &nurse.token,
        Method::PATCH,
        &format!("{base}/{patient_id}"),
        Some(json!({"last_name": "Quuxworth-Smythe"})),
    )
    .await;

    let events = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/audit-events?patient_id={patient_id}"),
            None,
        )
        .await,
    )
    .await;
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["update", "patient_access", "patient_access", "create"],
        "newest first"
    );
    for event in events["items"].as_array().unwrap() {
        assert_eq!(event["actor_id"], nurse.account_id.to_string());
        assert_eq!(event["session_id"], nurse.session_id.to_string());
        assert!(event["request_id"].is_string());
        assert!(
            event["compliance_flags"]
                .as_array()
                .unwrap()
                .contains(&json!("phi"))
        );
    }
    let text = without_opened_values(&events);
    for phi in [
        "Zebediah",
        "Quuxworth",
        "219-09-9999",
        "penicillin",
        "Larkspur",
    ] {
        assert!(!text.contains(phi), "{phi} in the audit log: {text}");
    }
    let verified = carebase::audit::verify(&app.state.db).await.unwrap();
    assert!(
        matches!(verified, carebase::audit::VerifyReport::Intact { .. }),
        "{verified:?}"
    );
    app.stop().await;
}

/// A page of events as text, without what the auditor alone is shown
/// opened (`phi_changes`, tests/api/audit/changes.rs): what must hold no PHI.
fn without_opened_values(events: &Value) -> String {
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().unwrap().remove("phi_changes");
            e.to_string()
        })
        .collect()
}

async fn a_change_or_read_that_cannot_be_audited_does_not_happen(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Unauditable").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let existing = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
    )
    .await;
    let before = app.count_patients().await;
    // Behind the server's back, take away the chain head every append needs.
    let conn = app.state.db.conn();
    let kind = conn.get_database_backend();
    let head = conn
        .query_one_raw(Statement::from_string(
            kind,
            "SELECT last_seq, last_hash FROM audit_chain WHERE id = 1",
        ))
        .await
        .unwrap()
        .unwrap();
    let (seq, hash): (i64, Vec<u8>) = (
        head.try_get("", "last_seq").unwrap(),
        head.try_get("", "last_hash").unwrap(),
    );
    conn.execute_unprepared("DELETE FROM audit_chain")
        .await
        .unwrap();

    problem(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
        500,
        "internal",
    )
    .await;
    assert_eq!(
        app.count_patients().await,
        before,
        "the unaudited create was rolled back"
    );
    let read = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&existing)),
            None,
        )
        .await;
    let body = problem(read, 500, "internal").await;
    assert!(
        !body.to_string().contains("Quuxworth"),
        "the unaudited read was not served"
    );

    conn.execute_raw(Statement::from_sql_and_values(
        kind,
        "INSERT INTO audit_chain (id, last_seq, last_hash) VALUES (1, $1, $2)",
        [seq.into(), hash.into()],
    ))
    .await
    .unwrap();
    assert_eq!(
        app.call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&existing)),
            None
        )
        .await
        .status(),
        200
    );
    app.stop().await;
}

async fn the_audit_log_exports_as_ndjson_and_csv_and_records_the_export(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Exporting").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let patient = app.patient(facility, new_patient()).await;
    app.call(
        &admin.token,
        Method::GET,
        &format!("/facilities/{facility}/patients/{}", id(&patient)),
        None,
    )
    .await;
    let export = format!(
        "/facilities/{facility}/audit-events/export?patient_id={}",
        id(&patient)
    );

    the_export_reads_as_ndjson_and_csv(&app, &admin.token, &export).await;
    let exports = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/audit-events?action=export"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        exports["items"].as_array().unwrap().len(),
        2,
        "each export is itself recorded"
    );
    assert_eq!(
        exports["items"][0]["actor_id"],
        admin.account_id.to_string()
    );
    assert!(
        exports["items"][0]["compliance_flags"]
            .as_array()
            .unwrap()
            .contains(&json!("export"))
    );
    let bad = app
        .call(
            &admin.token,
            Method::GET,
            &format!("{export}&format=xml"),
            None,
        )
        .await;
    let bad = problem(bad, 422, "validation").await;
    assert_eq!(bad["errors"][0]["field"], "format", "{bad}");
    app.stop().await;
}

/// The patient's events, newest first, as NDJSON and as CSV, without PHI.
async fn the_export_reads_as_ndjson_and_csv(app: &TestApp, token: &str, export: &str) {
    let ndjson = app.call(token, Method::GET, export, None).await;
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["patient_access", "create"]);
    assert!(!text.contains("Quuxworth"));
    let csv = app
        .call(token, Method::GET, &format!("{export}&format=csv"), None)
        .await;
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.lines().next().unwrap().contains("action"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "a header and two events: {csv}");
}
