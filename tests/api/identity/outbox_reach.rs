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
    an_outbox_message_is_read_by_id_within_its_scope,
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

async fn an_outbox_message_is_read_by_id_within_its_scope(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let sysadmin = app.system_admin().await;
    let clinic = app.facility("Clinic").await;
    let elsewhere = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let colleague = app.person(&[(Some(clinic), Role::Admin)]).await;
    let (mine, theirs) = (unique_email(), unique_email());
    invite(&app, &admin, clinic, &mine).await;
    invite(&app, &colleague, clinic, &theirs).await;
    let page = app
        .get_json(&admin.token, &format!("/facilities/{clinic}/outbox"))
        .await;
    let (listed_mine, listed_theirs) = (to(&page, &mine)[0], to(&page, &theirs)[0]);
    let path = |facility: uuid::Uuid, message: &Value| {
        format!(
            "/facilities/{facility}/outbox/{}",
            message["id"].as_str().unwrap()
        )
    };
    let reads_before = app.stored_events(of_type("outbox")).await.len();
    let read = app.get_json(&admin.token, &path(clinic, listed_mine)).await;
    assert_eq!(&read, listed_mine, "as the list shows it");
    assert_eq!(read["code_withheld"], false, "its own invitation");
    let other = app
        .get_json(&admin.token, &path(clinic, listed_theirs))
        .await;
    assert_eq!(other["code_withheld"], true);
    assert_eq!(&other, listed_theirs);
    let reads = app.stored_events(of_type("outbox")).await;
    assert_eq!(reads.len(), reads_before + 2, "each read is audited");
    assert_eq!(
        reads[0].changes.as_ref().unwrap()["messages"],
        json!([listed_theirs["id"]])
    );
    assert_eq!(reads[0].facility_id, Some(clinic));

    let status = |token: &str, path: String| {
        let token = token.to_owned();
        let app = &app;
        async move { app.call(&token, Method::GET, &path, None).await.status() }
    };
    assert_eq!(
        status(&admin.token, path(elsewhere, listed_mine)).await,
        404
    );
    let stranger = app.person(&[(Some(elsewhere), Role::Admin)]).await;
    assert_eq!(
        status(&stranger.token, path(elsewhere, listed_mine)).await,
        404,
        "another facility's message"
    );
    let unknown = json!({"id": uuid::Uuid::new_v4()});
    assert_eq!(status(&admin.token, path(clinic, &unknown)).await, 404);
    let nurse = app.person(&[(Some(clinic), Role::Nurse)]).await;
    assert_eq!(status(&nurse.token, path(clinic, listed_mine)).await, 403);

    let admin_path = format!("/admin/outbox/{}", listed_mine["id"].as_str().unwrap());
    assert_eq!(status(&admin.token, admin_path.clone()).await, 403);
    let whole = app.get_json(&sysadmin.token, &admin_path).await;
    assert_eq!(whole["id"], listed_mine["id"]);
    assert_eq!(
        whole["code_withheld"], true,
        "the system administrator did not invite"
    );
    app.stop().await;
}
