//! Conversion: a lead becomes a patient on the care journey with its
//! history, a conversion that fails writes nothing, and a converted lead is
//! invited to the portal.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    PASSWORD, Person, TestApp, TestBackend, code, id, json_of, new_lead, problem,
};

on_both_backends!(
    a_converted_lead_becomes_a_patient_on_the_care_journey_with_its_history,
    a_converted_lead_is_invited_to_the_portal_and_sees_its_record,
    a_conversion_that_fails_writes_nothing,
);

fn actions(timeline: &Value) -> Vec<(String, String)> {
    timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resource_type"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(resource: &str, action: &str) -> (String, String) {
    (resource.to_owned(), action.to_owned())
}

async fn a_converted_lead_becomes_a_patient_on_the_care_journey_with_its_history(
    backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Vitality").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let mut body = new_lead();
    body["health_coach_id"] = json!(coach.account_id);
    let lead = app.create_lead(&sdr.token, facility, body).await;
    let leads = format!("/facilities/{facility}/leads/{}", id(&lead));
    json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &format!("{leads}/calls"),
            Some(json!({})),
        )
        .await,
    )
    .await;

    let convert = format!("{leads}/convert");
    bad_conversions_name_the_field(&app, &sdr.token, &convert).await;
    let converted = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &convert,
            Some(json!({ "mrn": "VT-1", "date_of_birth": "1980-05-17" })),
        )
        .await,
    )
    .await;
    assert_eq!(converted["new_patient"], true);
    assert_eq!(converted["journey"]["stage"], "Intake");
    assert_eq!(
        converted["journey"]["health_coach_id"],
        json!(coach.account_id)
    );
    assert_eq!(converted["journey"]["lead_id"], lead["id"]);
    let patient_id = converted["patient_id"].as_str().unwrap().to_owned();
    assert_eq!(converted["lead"]["patient_id"], json!(patient_id));
    assert!(converted["lead"]["converted_at"].is_string());

    let again = app
        .call(
            &sdr.token,
            Method::POST,
            &convert,
            Some(json!({ "mrn": "VT-2", "date_of_birth": "1980-05-17" })),
        )
        .await;
    assert_eq!(again.status(), 409, "a lead converts once");

    // The SDR made the patient but reads no patient records.
    let patient_path = format!("/facilities/{facility}/patients/{patient_id}");
    the_sdr_made_the_patient_but_reads_it_not(&app, &sdr, &admin, &patient_path, &lead).await;
    the_patients_timeline_starts_with_its_life_as_a_lead(&app, &admin.token, &patient_path).await;
    the_lead_sees_the_same_history(&app, &sdr.token, &leads, &lead).await;
    // Linking another lead to the same patient keeps the journey.
    let second = app.create_lead(&sdr.token, facility, new_lead()).await;
    let linked = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &format!("/facilities/{facility}/leads/{}/convert", id(&second)),
            Some(json!({ "patient_id": patient_id })),
        )
        .await,
    )
    .await;
    assert_eq!(linked["new_patient"], false);
    assert_eq!(linked["journey"]["id"], converted["journey"]["id"]);
    app.stop().await;
}

async fn bad_conversions_name_the_field(app: &TestApp, token: &str, convert: &str) {
    let missing = problem(
        app.call(token, Method::POST, convert, Some(json!({})))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(missing["errors"][0]["field"], "mrn");
    let bad_date = problem(
        app.call(
            token,
            Method::POST,
            convert,
            Some(json!({ "mrn": "VT-1", "date_of_birth": "yesterday" })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad_date["errors"][0]["field"], "date_of_birth");
}

async fn the_sdr_made_the_patient_but_reads_it_not(
    app: &TestApp,
    sdr: &Person,
    admin: &Person,
    patient_path: &str,
    lead: &Value,
) {
    assert_eq!(
        app.call(&sdr.token, Method::GET, patient_path, None)
            .await
            .status(),
        403
    );
    let patient = json_of(
        app.call(&admin.token, Method::GET, patient_path, None)
            .await,
    )
    .await;
    assert_eq!(patient["first_name"], lead["first_name"]);
    assert_eq!(patient["email"], lead["email"]);
    assert_eq!(patient["mrn"], "VT-1");
}

/// Newest first: conversion, enrolment, the patient, the call, the lead;
/// reads only when asked for, paged by sequence.
async fn the_patients_timeline_starts_with_its_life_as_a_lead(
    app: &TestApp,
    token: &str,
    patient_path: &str,
) {
    let timeline = json_of(
        app.call(
            token,
            Method::GET,
            &format!("{patient_path}/timeline"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        actions(&timeline),
        [
            pair("lead", "update"),
            pair("care_journey", "create"),
            pair("patient", "create"),
            pair("lead", "update"),
            pair("lead", "update"),
            pair("lead", "create"),
        ],
        "newest first: conversion, enrolment, the patient, the call's move to contacted, \
         the call, the lead; no reads"
    );
    let with_reads = json_of(
        app.call(
            token,
            Method::GET,
            &format!("{patient_path}/timeline?include_reads=true&limit=2"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(with_reads["items"][0]["action"], "patient_access");
    let before = with_reads["next_before"].as_i64().unwrap();
    let older = json_of(
        app.call(
            token,
            Method::GET,
            &format!("{patient_path}/timeline?include_reads=true&before={before}"),
            None,
        )
        .await,
    )
    .await;
    assert!(
        older["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["seq"].as_i64().unwrap() < before)
    );
}

/// The lead's timeline shows the same history, and no contact details.
async fn the_lead_sees_the_same_history(app: &TestApp, token: &str, leads: &str, lead: &Value) {
    let lead_timeline = json_of(
        app.call(token, Method::GET, &format!("{leads}/timeline"), None)
            .await,
    )
    .await;
    assert_eq!(
        actions(&lead_timeline).len(),
        6,
        "the lead sees the same history"
    );
    let text = lead_timeline.to_string();
    assert!(
        !text.contains(lead["first_name"].as_str().unwrap()),
        "{text}"
    );
}

async fn a_converted_lead_is_invited_to_the_portal_and_sees_its_record(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Vitality").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let lead = app.create_lead(&staff.token, facility, new_lead()).await;
    let leads = format!("/facilities/{facility}/leads/{}", id(&lead));
    let early = app
        .call(
            &staff.token,
            Method::POST,
            &format!("{leads}/portal-invitation"),
            None,
        )
        .await;
    assert_eq!(early.status(), 409, "only a converted lead is invited");
    let converted = json_of(
        app.call(
            &staff.token,
            Method::POST,
            &format!("{leads}/convert"),
            Some(json!({ "mrn": "VT-9", "date_of_birth": "1975-01-02" })),
        )
        .await,
    )
    .await;
    let invited = json_of(
        app.call(
            &staff.token,
            Method::POST,
            &format!("{leads}/portal-invitation"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(invited["portal_access"], false, "not until it is accepted");
    assert!(invited["last_portal_login"].is_null());

    let email = lead["email"].as_str().unwrap();
    let token = code(&app.mail_to(email, "invitation").await);
    let accepted = app
        .client
        .post(app.url("/auth/accept-invitation"))
        .json(&json!({ "token": token, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    let lead_now = json_of(app.call(&staff.token, Method::GET, &leads, None).await).await;
    assert_eq!(lead_now["portal_access"], true);
    let tokens = app.sign_in(email).await;
    let portal = tokens["access_token"].as_str().unwrap();
    the_portal_account_reads_its_own_record_only(&app, facility, &converted, portal).await;
    let after = json_of(app.call(&staff.token, Method::GET, &leads, None).await).await;
    assert!(after["last_portal_login"].is_string(), "{after}");
    app.stop().await;
}

async fn the_portal_account_reads_its_own_record_only(
    app: &TestApp,
    facility: Uuid,
    converted: &Value,
    portal: &str,
) {
    let own = json_of(
        app.call(
            portal,
            Method::GET,
            &format!(
                "/facilities/{facility}/patients/{}",
                converted["patient_id"].as_str().unwrap()
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(own["mrn"], "VT-9");
    let list = json_of(
        app.call(
            portal,
            Method::GET,
            &format!("/facilities/{facility}/patients"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only its own record"
    );
}

async fn a_conversion_that_fails_writes_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Vitality").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let mut taken = crate::support::new_patient();
    taken["mrn"] = json!("VT-TAKEN");
    app.patient(facility, taken).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let leads = format!("/facilities/{facility}/leads/{}", id(&lead));
    let refused = app
        .call(
            &admin.token,
            Method::POST,
            &format!("{leads}/convert"),
            Some(json!({ "mrn": "vt-taken", "date_of_birth": "1980-05-17" })),
        )
        .await;
    assert_eq!(refused.status(), 409, "the MRN belongs to another patient");
    let after = json_of(app.call(&admin.token, Method::GET, &leads, None).await).await;
    assert!(after["patient_id"].is_null() && after["converted_at"].is_null());
    let journeys = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/journeys"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(journeys["items"], json!([]), "no journey was left behind");
    let patients = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/patients"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(patients["items"].as_array().unwrap().len(), 1);
    let timeline = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("{leads}/timeline"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        actions(&timeline),
        [pair("lead", "create")],
        "no event of the failed conversion"
    );
    app.stop().await;
}
