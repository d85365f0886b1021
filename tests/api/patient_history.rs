//! Patient history (seed 002): visits recorded by clinicians, sealed, read
//! by those who see the patient, every read audited. Also this context's
//! cases of the role matrix.

use carebase::policy::{Permission, Role};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::matrix::{Case, Records};
use crate::support::{Person, TestApp, TestBackend, id, new_patient, problem};

on_both_backends!(
    clinicians_record_correct_and_page_visits_sealed_and_audited,
    a_history_is_seen_by_exactly_who_sees_the_patient,
    bad_visits_name_the_field_and_write_nothing,
);

fn history(facility: Uuid, patient: Uuid) -> String {
    format!("/facilities/{facility}/patients/{patient}/history")
}

/// A visit whose every free-text field is a marker no other data holds.
fn new_visit(days_ago: i64) -> Value {
    let when = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days_ago);
    json!({
        "visit_date": when.to_string(),
        "department": "Cardiology",
        "primary_diagnosis": "Xylophonic hypertension",
        "secondary_diagnoses": ["Quokka-induced tachycardia"],
        "medications": [{"name": "Zorbamycin", "dose": "500 mg", "route": "oral", "frequency": "twice daily"}],
        "procedures": ["Wumpus echocardiogram"],
        "vital_signs": {"systolic_mmhg": 150, "diastolic_mmhg": 95, "heart_rate_bpm": 88, "temperature_c": 37.2},
        "notes": "Patient reports Flibbertigibbet dizziness",
    })
}

const MARKERS: &[&str] = &[
    "Xylophonic hypertension",
    "Quokka-induced",
    "Zorbamycin",
    "Wumpus echocardiogram",
    "Flibbertigibbet",
];

async fn count(app: &TestApp, sql: &str) -> i64 {
    let db = app.state.db.conn();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn visits_stored(app: &TestApp) -> i64 {
    count(app, "SELECT COUNT(*) FROM patient_history").await
}

async fn history_reads(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM audit_events WHERE resource_type = 'patient_history' \
         AND action = 'patient_access'",
    )
    .await
}

async fn clinicians_record_correct_and_page_visits_sealed_and_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Heart Clinic").await;
    let patient = id(&app.patient(facility, new_patient()).await);
    let physician = app.person(&[(Some(facility), Role::Physician)]).await;
    let path = history(facility, patient);

    let mut recorded = Vec::new();
    for days_ago in [30, 10, 20] {
        let mut body = new_visit(days_ago);
        body["attending_physician_id"] = json!(physician.account_id);
        let response = app
            .call(&physician.token, Method::POST, &path, Some(body))
            .await;
        assert_eq!(response.status(), 201);
        let visit: Value = response.json().await.unwrap();
        assert_eq!(visit["primary_diagnosis"], "Xylophonic hypertension");
        assert_eq!(visit["medications"][0]["name"], "Zorbamycin");
        assert_eq!(visit["vital_signs"]["heart_rate_bpm"], 88);
        assert_eq!(visit["recorded_by"], json!(physician.account_id));
        recorded.push(visit);
    }

    newest_first_two_to_a_page(&app, &physician, &path, &recorded).await;
    a_correction_changes_clears_and_keeps(&app, &physician, &path, &recorded).await;

    let bytes = app.raw_database_bytes(backend).await;
    crate::support::assert_no_plaintext(&bytes, MARKERS);
    app.stop().await;
}

/// The visits list pages newest first; each visit read is audited.
async fn newest_first_two_to_a_page(
    app: &TestApp,
    physician: &Person,
    path: &str,
    recorded: &[Value],
) {
    let first: Value = app
        .call(
            &physician.token,
            Method::GET,
            &format!("{path}?limit=2"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let order = |page: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&first), vec![id(&recorded[1]), id(&recorded[2])]);
    let after = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .call(
            &physician.token,
            Method::GET,
            &format!("{path}?limit=2&after={after}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order(&second), vec![id(&recorded[0])]);
    assert!(second["next_cursor"].is_null());
    assert_eq!(history_reads(app).await, 3, "one event per visit read");
}

/// A correction: changed fields change, `null` clears, the rest stays.
async fn a_correction_changes_clears_and_keeps(
    app: &TestApp,
    physician: &Person,
    path: &str,
    recorded: &[Value],
) {
    let visit_path = format!("{path}/{}", id(&recorded[0]));
    let response = app
        .call(
            &physician.token,
            Method::PATCH,
            &visit_path,
            Some(json!({"primary_diagnosis": "Essential hypertension", "notes": null})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let corrected: Value = response.json().await.unwrap();
    assert_eq!(corrected["primary_diagnosis"], "Essential hypertension");
    assert!(corrected["notes"].is_null());
    assert_eq!(corrected["procedures"][0], "Wumpus echocardiogram");
    let read: Value = app
        .call(&physician.token, Method::GET, &visit_path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, corrected);
    assert_eq!(history_reads(app).await, 4);
    let writes = count(
        app,
        "SELECT COUNT(*) FROM audit_events WHERE resource_type = 'patient_history' \
         AND action IN ('create', 'update')",
    )
    .await;
    assert_eq!(writes, 4, "three records and one correction");
}

async fn a_history_is_seen_by_exactly_who_sees_the_patient(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Own Clinic").await;
    let other = app.facility("Other Clinic").await;
    let patient = id(&app.patient(facility, new_patient()).await);
    let someone_else = id(&app.patient(facility, new_patient()).await);
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let response = app
        .call(
            &nurse.token,
            Method::POST,
            &history(facility, patient),
            Some(new_visit(1)),
        )
        .await;
    assert_eq!(response.status(), 201);

    the_patient_reads_only_their_own(&app, facility, patient, someone_else).await;

    // A doctor sees only patients it holds an active care-team link with.
    let doctor = app.person(&[(Some(facility), Role::Doctor)]).await;
    let unlinked = app
        .call(
            &doctor.token,
            Method::GET,
            &history(facility, patient),
            None,
        )
        .await;
    problem(unlinked, 404, "not-found").await;

    // An SDR works leads, not patients; another facility's physician sees
    // nothing here at all.
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let response = app
        .call(&sdr.token, Method::GET, &history(facility, patient), None)
        .await;
    problem(response, 403, "forbidden").await;
    let outsider = app.person(&[(Some(other), Role::Physician)]).await;
    let response = app
        .call(
            &outsider.token,
            Method::GET,
            &history(facility, patient),
            None,
        )
        .await;
    problem(response, 404, "not-found").await;
    assert_eq!(
        history_reads(&app).await,
        1,
        "only the patient's own read was recorded"
    );
    app.stop().await;
}

/// The patient reads their own history through the portal, and no one
/// else's, and may not write it.
async fn the_patient_reads_only_their_own(
    app: &TestApp,
    facility: Uuid,
    patient: Uuid,
    someone_else: Uuid,
) {
    let portal = app.person(&[]).await;
    app.link_portal(facility, patient, &portal).await;
    let own = app
        .call(
            &portal.token,
            Method::GET,
            &history(facility, patient),
            None,
        )
        .await;
    assert_eq!(own.status(), 200);
    let theirs = app
        .call(
            &portal.token,
            Method::GET,
            &history(facility, someone_else),
            None,
        )
        .await;
    problem(theirs, 404, "not-found").await;
    let write = app
        .call(
            &portal.token,
            Method::POST,
            &history(facility, patient),
            Some(new_visit(1)),
        )
        .await;
    problem(write, 403, "forbidden").await;
}

async fn bad_visits_name_the_field_and_write_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Heart Clinic").await;
    let other = app.facility("Other Clinic").await;
    let patient = id(&app.patient(facility, new_patient()).await);
    let physician = app.person(&[(Some(facility), Role::Physician)]).await;
    let stranger = app.person(&[(Some(other), Role::Physician)]).await;
    let path = history(facility, patient);
    let tomorrow_and_more =
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72)).to_string();
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72)).to_string();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"visit_date": tomorrow_and_more}), "visit_date"),
        (
            json!({"visit_date": jiff::Timestamp::now().to_string(), "discharge_date": long_ago}),
            "discharge_date",
        ),
        (
            json!({"visit_date": long_ago, "vital_signs": {"heart_rate_bpm": 500}}),
            "vital_signs.heart_rate_bpm",
        ),
        (
            json!({"visit_date": long_ago, "medications": [{"name": ""}]}),
            "medications[0].name",
        ),
        (
            json!({"visit_date": long_ago, "attending_physician_id": stranger.account_id}),
            "attending_physician_id",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .call(&physician.token, Method::POST, &path, Some(body.clone()))
            .await;
        let problem = problem(response, 422, "validation").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let unknown = app
        .call(
            &physician.token,
            Method::POST,
            &path,
            Some(json!({"visit_date": long_ago, "diagnosis": "x"})),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    let missing = app
        .call(
            &physician.token,
            Method::POST,
            &format!("/facilities/{facility}/patients/{}/history", Uuid::new_v4()),
            Some(new_visit(1)),
        )
        .await;
    problem(missing, 404, "not-found").await;
    assert_eq!(visits_stored(&app).await, 0, "nothing was written");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE resource_type = 'patient_history'"
        )
        .await,
        0
    );
    app.stop().await;
}

/// This context's cases of the role matrix: each facility holds one visit
/// of its patient, recorded by its administrator.
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("record visit", Method::POST, P::HISTORY_WRITE, |r, _| {
            history(r.facility, r.patient)
        })
        .body(|_, _| Some(new_visit(1))),
        Case::new(
            "list patient history",
            Method::GET,
            P::HISTORY_READ,
            |r, _| history(r.facility, r.patient),
        ),
        Case::new("read visit", Method::GET, P::HISTORY_READ, |r, visit| {
            format!("{}/{visit}", history(r.facility, r.patient))
        }),
        Case::new(
            "correct visit",
            Method::PATCH,
            P::HISTORY_WRITE,
            |r, visit| format!("{}/{visit}", history(r.facility, r.patient)),
        )
        .body(|_, _| Some(json!({"department": "Cardiology"}))),
    ]
}

/// The visit the role-matrix cases act on in `records`' facility.
pub async fn role_fixture(app: &TestApp, records: &Records) -> Uuid {
    let response = app
        .call(
            &records.admin_token,
            Method::POST,
            &history(records.facility, records.patient),
            Some(new_visit(2)),
        )
        .await;
    assert_eq!(response.status(), 201);
    id(&response.json().await.unwrap())
}
