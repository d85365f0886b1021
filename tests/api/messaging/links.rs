//! Care-team links (seed 004): the link's state machine and what it grants,
//! the direct conversation it opens, and its audit trail.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Clinic, Person, TestApp, TestBackend, id, json_of, problem};

on_both_backends!(
    a_care_team_link_grants_access_and_ending_it_takes_it_away,
    a_blocked_link_can_be_reopened_only_by_the_side_that_blocked,
    link_and_message_changes_are_audited_with_their_patient_and_no_text,
);

async fn a_care_team_link_grants_access_and_ending_it_takes_it_away(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = app.telehealth_clinic().await;
    assert_eq!(
        sees_record(&app, &c, &c.doctor).await,
        404,
        "no link, no access"
    );
    let link = a_request_grants_nothing(&app, &c).await;
    // The side that asked cannot accept; a request cannot end.
    problem(
        c.move_link(&app, &c.patient, id(&link), "active").await,
        403,
        "forbidden",
    )
    .await;
    let refused = problem(
        c.move_link(&app, &c.doctor, id(&link), "ended").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["active", "blocked"]));
    let conversation = accepting_opens_one_direct_conversation(&app, &c, &link).await;
    let ended_at =
        ending_takes_the_record_and_conversation_away(&app, &c, &link, conversation).await;
    // Re-requesting reopens the same link; accepting reuses the conversation.
    let reopened = c.request(&app, &c.patient).await;
    assert_eq!(reopened.status(), 201);
    let reopened = json_of(reopened).await;
    assert_eq!(id(&reopened), id(&link), "one link per pair");
    assert_eq!(reopened["status"], "requested");
    assert_eq!(reopened["ended_at"], ended_at, "ended_at is kept");
    json_of(c.move_link(&app, &c.doctor, id(&link), "active").await).await;
    let again = json_of(
        app.call(&c.doctor.token, Method::GET, &c.conversations(), None)
            .await,
    )
    .await;
    let again_conversation = id(&again["items"][0]);
    assert_eq!(again_conversation, conversation);
    assert_eq!(sees_record(&app, &c, &c.doctor).await, 200);
    app.stop().await;
}

/// The status `person` gets reading the clinic's patient record.
async fn sees_record(app: &TestApp, c: &Clinic, person: &Person) -> u16 {
    app.call(&person.token, Method::GET, &c.patient_record(), None)
        .await
        .status()
        .as_u16()
}

/// The patient asks; asking again returns the same request.
async fn a_request_grants_nothing(app: &TestApp, c: &Clinic) -> Value {
    let requested = c.request(app, &c.patient).await;
    assert_eq!(requested.status(), 201);
    let link = json_of(requested).await;
    assert_eq!(link["status"], "requested");
    assert_eq!(link["requested_by"], "patient");
    let again = c.request(app, &c.patient).await;
    assert_eq!(again.status(), 200);
    assert_eq!(id(&json_of(again).await), id(&link));
    assert_eq!(
        sees_record(app, c, &c.doctor).await,
        404,
        "a request grants nothing"
    );
    link
}

/// The doctor accepts: access, and one direct conversation for the pair,
/// which the patient posts into.
async fn accepting_opens_one_direct_conversation(app: &TestApp, c: &Clinic, link: &Value) -> Uuid {
    let active = json_of(c.move_link(app, &c.doctor, id(link), "active").await).await;
    assert_eq!(active["status"], "active");
    assert!(active["accepted_at"].is_i64() || active["accepted_at"].is_string());
    assert_eq!(sees_record(app, c, &c.doctor).await, 200);
    let mine = json_of(
        app.call(&c.doctor.token, Method::GET, &c.conversations(), None)
            .await,
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let direct = &mine["items"][0];
    assert_eq!(direct["kind"], "direct");
    assert_eq!(direct["care_team_link_id"], link["id"]);
    assert_eq!(direct["patient_id"], json!(c.patient_id));
    let conversation = id(direct);
    json_of(
        c.post(
            app,
            &c.patient,
            conversation,
            json!({"body": "My knee hurts"}),
        )
        .await,
    )
    .await;
    conversation
}

/// Ending it takes the record and the conversation away at once; the
/// patient keeps the history but cannot post into an ended link. Answers
/// when it ended.
async fn ending_takes_the_record_and_conversation_away(
    app: &TestApp,
    c: &Clinic,
    link: &Value,
    conversation: Uuid,
) -> Value {
    let ended = json_of(c.move_link(app, &c.doctor, id(link), "ended").await).await;
    assert_eq!(ended["status"], "ended");
    let ended_at = ended["ended_at"].clone();
    assert!(!ended_at.is_null());
    assert_eq!(sees_record(app, c, &c.doctor).await, 404);
    let conversation_path = format!("{}/{conversation}", c.conversations());
    problem(
        app.call(&c.doctor.token, Method::GET, &conversation_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    let history = json_of(
        app.call(
            &c.patient.token,
            Method::GET,
            &format!("{conversation_path}/messages"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(history["items"][0]["body"], "My knee hurts");
    problem(
        c.post(app, &c.patient, conversation, json!({"body": "hello?"}))
            .await,
        409,
        "conflict",
    )
    .await;
    ended_at
}

async fn a_blocked_link_can_be_reopened_only_by_the_side_that_blocked(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = app.telehealth_clinic().await;
    // This time the doctor invites and the patient accepts.
    let invited = json_of(c.request(&app, &c.doctor).await).await;
    assert_eq!(invited["requested_by"], "provider");
    problem(
        c.move_link(&app, &c.doctor, id(&invited), "active").await,
        403,
        "forbidden",
    )
    .await;
    json_of(c.move_link(&app, &c.patient, id(&invited), "active").await).await;
    // Someone outside the pair changes nothing.
    let stranger = app.person(&[(Some(c.facility), Role::Doctor)]).await;
    problem(
        c.move_link(&app, &stranger, id(&invited), "blocked").await,
        404,
        "not-found",
    )
    .await;

    let blocked = json_of(c.move_link(&app, &c.patient, id(&invited), "blocked").await).await;
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["blocked_by"], "patient");
    assert_eq!(
        app.call(&c.doctor.token, Method::GET, &c.patient_record(), None)
            .await
            .status(),
        404
    );
    // The blocked side cannot ask again; the blocking side can.
    problem(c.request(&app, &c.doctor).await, 409, "conflict").await;
    let reopened = json_of(c.request(&app, &c.patient).await).await;
    assert_eq!(reopened["status"], "requested");
    assert_eq!(reopened["requested_by"], "patient");
    assert!(reopened["blocked_by"].is_null());
    // A patient record of another facility, or an unknown one, is refused.
    let refused = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &c.links(),
            Some(json!({"patient_id": Uuid::now_v7(), "provider_id": c.doctor.account_id})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "patient_id");
    app.stop().await;
}

/// DOMAIN.md: every change is audited in its transaction, names the patient
/// it concerns (so the patient's timeline shows it) and never the text; a
/// refused change leaves no event.
async fn link_and_message_changes_are_audited_with_their_patient_and_no_text(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = app.telehealth_clinic().await;
    let admin = app.person(&[(Some(c.facility), Role::Admin)]).await;
    let events = |resource: &str| {
        let path = format!(
            "/facilities/{}/audit-events?patient_id={}&resource_type={resource}&limit=200",
            c.facility, c.patient_id
        );
        let token = admin.token.clone();
        let app = &app;
        async move {
            let page = json_of(app.call(&token, Method::GET, &path, None).await).await;
            page["items"].as_array().unwrap().clone()
        }
    };
    let (link, conversation) = c.linked(&app).await;
    let link_events = events("care_team_link").await;
    let actions: Vec<&str> = link_events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"create") && actions.contains(&"update"),
        "{actions:?}"
    );
    json_of(
        c.post(
            &app,
            &c.patient,
            conversation,
            json!({"body": "Rash on left forearm"}),
        )
        .await,
    )
    .await;
    let written = events("message").await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["action"], "create");
    assert!(!serde_json::to_string(&written).unwrap().contains("forearm"));
    // Refused after the link ended: no message, no event.
    json_of(c.move_link(&app, &c.doctor, link, "ended").await).await;
    problem(
        c.post(
            &app,
            &c.patient,
            conversation,
            json!({"body": "Worse today"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(events("message").await.len(), 1);
    app.stop().await;
}
