//! The outbox is no way into someone else's account: an administrator
//! reading it over the API is shown no other person's recovery or sign-in
//! code (only the invitations it sent itself), a facility's administrators
//! read their facility's messages and nothing else, and every read is in
//! the audit log.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, of_type, unique_email};

on_both_backends!(
    the_outbox_shows_no_one_else_s_codes,
    facility_administrators_read_their_facility_s_outbox,
);

/// The messages of `page` to `to`.
fn to<'a>(page: &'a Value, to: &str) -> Vec<&'a Value> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["recipient"] == to)
        .collect()
}

async fn invite(app: &TestApp, admin: &Person, facility: uuid::Uuid, email: &str) {
    let invited = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/invitations"),
            Some(json!({"email": email, "role": "nurse"})),
        )
        .await;
    assert_eq!(invited.status(), 201);
}

async fn the_outbox_shows_no_one_else_s_codes(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let sysadmin = app.system_admin().await;
    let facility = app.facility("Clinic").await;
    let person = app.person(&[]).await;
    app.post("/auth/recover", json!({"email": person.email}))
        .await;
    let newcomer = unique_email();
    invite(&app, &sysadmin, facility, &newcomer).await;
    let reads_before = app.stored_events(of_type("outbox")).await.len();
    let page = app
        .get_json(&sysadmin.token, "/admin/outbox?limit=200")
        .await;
    let recovery = to(&page, &person.email)[0];
    assert_eq!(recovery["kind"], "recovery");
    assert_eq!(recovery["code_withheld"], true);
    let code = app.mail_to(&person.email, "recovery").await["body"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    assert!(!recovery["body"].as_str().unwrap().contains(&code));
    let invitation = to(&page, &newcomer)[0];
    assert_eq!(invitation["code_withheld"], false, "its own invitation");
    let reads = app.stored_events(of_type("outbox")).await;
    assert_eq!(reads.len(), reads_before + 1, "the read is audited");
    app.stop().await;
}

async fn facility_administrators_read_their_facility_s_outbox(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let clinic = app.facility("Clinic").await;
    let elsewhere = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let colleague = app.person(&[(Some(clinic), Role::Admin)]).await;
    let stranger = app.person(&[(Some(elsewhere), Role::Admin)]).await;
    let (mine, theirs, foreign) = (unique_email(), unique_email(), unique_email());
    invite(&app, &admin, clinic, &mine).await;
    invite(&app, &colleague, clinic, &theirs).await;
    invite(&app, &stranger, elsewhere, &foreign).await;
    let page = app
        .get_json(&admin.token, &format!("/facilities/{clinic}/outbox"))
        .await;
    assert_eq!(to(&page, &mine)[0]["code_withheld"], false);
    assert_eq!(to(&page, &theirs)[0]["code_withheld"], true);
    assert!(to(&page, &foreign).is_empty(), "another facility's mail");
    let other = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{elsewhere}/outbox"),
            None,
        )
        .await;
    assert_eq!(other.status(), 404);
    let everything = app
        .call(&admin.token, Method::GET, "/admin/outbox", None)
        .await;
    assert_eq!(everything.status(), 403);
    let nurse = app.person(&[(Some(clinic), Role::Nurse)]).await;
    let refused = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("/facilities/{clinic}/outbox"),
            None,
        )
        .await;
    assert_eq!(refused.status(), 403);
    let reads = app.stored_events(of_type("outbox")).await;
    assert_eq!(reads.len(), 1, "the one read that succeeded");
    app.stop().await;
}
