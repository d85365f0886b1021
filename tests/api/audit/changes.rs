//! What an update changed: the field names for every reader of the log, the
//! before and after values opened only for an auditor, sealed everywhere
//! else (the stored row, a clinician's timeline).

use carebase::policy::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, json_of, new_lead, new_patient};

on_both_backends!(
    an_auditor_sees_what_a_patient_update_changed_and_no_one_else_does,
    an_auditor_sees_what_a_lead_update_changed,
);

async fn an_auditor_sees_what_a_patient_update_changed_and_no_one_else_does(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Changed Clinic").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let base = format!("/facilities/{facility}/patients");
    let created = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
    )
    .await;
    let patient_id = id(&created);
    let changed = app
        .call(
            &nurse.token,
            Method::PATCH,
            &format!("{base}/{patient_id}"),
            Some(json!({"last_name": "Vexingham", "gender": "female"})),
        )
        .await;
    assert_eq!(changed.status(), 200);

    let updates =
        format!("/facilities/{facility}/audit-events?patient_id={patient_id}&action=update");
    let page = json_of(app.call(&admin.token, Method::GET, &updates, None).await).await;
    let event = &page["items"][0];
    the_auditor_sees_names_and_values(event);
    let auditor = admin.account_id.to_string();
    the_opening_is_recorded(&app, &admin.token, &auditor, facility, patient_id).await;

    // The stored row and a clinician's timeline hold the names, not the values.
    let row = raw_changes(&app, &event["seq"]).await;
    assert!(row.contains("last_name") && row.contains("sealed"), "{row}");
    for phi in ["Quuxworth", "Vexingham"] {
        assert!(!row.contains(phi), "{phi} in the stored row: {row}");
    }
    the_timeline_shows_names_only(&app, &nurse.token, &format!("{base}/{patient_id}")).await;
    let audit = app.call(&nurse.token, Method::GET, &updates, None).await;
    assert_eq!(audit.status(), 403, "a nurse does not read the audit log");
    app.stop().await;
}

/// The update's event: names and plain values in `changes`, PHI values
/// redacted there and opened in `phi_changes`.
fn the_auditor_sees_names_and_values(event: &Value) {
    let changes = &event["changes"];
    assert_eq!(changes["fields"], json!(["last_name", "gender"]));
    assert_eq!(
        changes["before"],
        json!({"last_name": "[redacted]", "gender": "male"})
    );
    assert_eq!(
        changes["after"],
        json!({"last_name": "[redacted]", "gender": "female"})
    );
    assert_eq!(
        event["phi_changes"],
        json!({
            "before": {"last_name": "Quuxworth", "gender": "male"},
            "after": {"last_name": "Vexingham", "gender": "female"},
        }),
        "the auditor sees the values opened"
    );
    let stored = changes.to_string();
    for phi in ["Quuxworth", "Vexingham"] {
        assert!(
            !stored.contains(phi),
            "{phi} in the recorded changes: {stored}"
        );
    }
}

/// Opening the values is itself a read of the patient's PHI, on the record.
async fn the_opening_is_recorded(
    app: &TestApp,
    token: &str,
    auditor: &str,
    facility: uuid::Uuid,
    patient_id: uuid::Uuid,
) {
    let reads = format!(
        "/facilities/{facility}/audit-events?patient_id={patient_id}&resource_type=audit_event"
    );
    let reads = json_of(app.call(token, Method::GET, &reads, None).await).await;
    let read = &reads["items"][0];
    assert_eq!(read["action"], "read");
    assert_eq!(read["actor_id"], auditor);
    assert_eq!(read["compliance_flags"], json!(["phi"]));
}

/// A clinician's view of the patient's history: what changed, no values.
async fn the_timeline_shows_names_only(app: &TestApp, token: &str, patient: &str) {
    let timeline = json_of(
        app.call(token, Method::GET, &format!("{patient}/timeline"), None)
            .await,
    )
    .await;
    let update = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "update")
        .unwrap();
    assert_eq!(update["changes"]["fields"], json!(["last_name", "gender"]));
    assert_eq!(update["changes"]["after"]["gender"], "female");
    assert_eq!(update["changes"].get("sealed"), None);
    let shown = timeline.to_string();
    for phi in ["Quuxworth", "Vexingham"] {
        assert!(!shown.contains(phi), "{phi} in the timeline: {shown}");
    }
}

/// The `changes` column of the event at `seq`, as the database holds it.
async fn raw_changes(app: &TestApp, seq: &Value) -> String {
    let conn = app.state.db.conn();
    let sql = format!(
        "SELECT changes FROM audit_events WHERE seq = {}",
        seq.as_i64().unwrap()
    );
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "changes").unwrap()
}

/// A lead's update records its before and after too: names and plain
/// values for every reader of the log, PHI values opened for the auditor.
async fn an_auditor_sees_what_a_lead_update_changed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Changed Leads").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let lead = app.create_lead(&staff.token, facility, new_lead()).await;
    let lead_id = id(&lead);
    let changed = app
        .call(
            &staff.token,
            Method::PATCH,
            &format!("/facilities/{facility}/leads/{lead_id}"),
            Some(json!({"last_name": "Vexingham", "readiness": "Hot"})),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let updates = format!("/facilities/{facility}/audit-events?lead_id={lead_id}&action=update");
    let page = json_of(app.call(&admin.token, Method::GET, &updates, None).await).await;
    let event = &page["items"][0];
    assert_eq!(
        event["changes"]["fields"],
        json!(["last_name", "readiness"])
    );
    assert_eq!(
        event["changes"]["after"],
        json!({"last_name": "[redacted]", "readiness": "Hot"})
    );
    assert_eq!(
        event["phi_changes"],
        json!({
            "before": {"last_name": "Wrenfield", "readiness": "Warm"},
            "after": {"last_name": "Vexingham", "readiness": "Hot"},
        })
    );
    let row = raw_changes(&app, &event["seq"]).await;
    for phi in ["Wrenfield", "Vexingham"] {
        assert!(!row.contains(phi), "{phi} in the stored row: {row}");
    }
    app.stop().await;
}
