//! No one is put into a facility, or given a patient's record, without
//! saying yes: an invitation is held pending until the invited person
//! accepts (with the mailed code and their password, or signed in), and
//! inviting an address answers alike whether it has an account or not.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    PASSWORD, Person, TestApp, TestBackend, code, id, json_of, new_patient, problem, unique_email,
};

on_both_backends!(
    inviting_an_existing_address_answers_as_for_a_new_one,
    an_existing_account_joins_only_by_accepting,
    a_patient_portal_opens_only_when_its_owner_accepts,
);

async fn invite(app: &TestApp, admin: &Person, facility: Uuid, email: &str) -> reqwest::Response {
    app.call(
        &admin.token,
        Method::POST,
        &format!("/facilities/{facility}/invitations"),
        Some(json!({"email": email, "role": "nurse"})),
    )
    .await
}

/// The keys of a JSON object, sorted: what a response says beyond its ids
/// and times.
fn shape(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

async fn facility_ids(app: &TestApp, person: &Person) -> Vec<String> {
    let me = app.get_json(&person.token, "/me").await;
    me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["facility_id"].as_str().map(str::to_owned))
        .collect()
}

async fn inviting_an_existing_address_answers_as_for_a_new_one(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let clinic = app.facility("Clinic").await;
    let elsewhere = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let existing = app.person(&[(Some(elsewhere), Role::Nurse)]).await;
    let new = unique_email();
    let for_existing = invite(&app, &admin, clinic, &existing.email).await;
    let for_new = invite(&app, &admin, clinic, &new).await;
    assert_eq!(for_existing.status(), 201);
    assert_eq!(for_new.status(), 201);
    let (for_existing, for_new) = (json_of(for_existing).await, json_of(for_new).await);
    assert_eq!(shape(&for_existing), shape(&for_new));
    for answer in [&for_existing, &for_new] {
        assert_eq!(answer["status"], "pending");
        assert_eq!(answer["role"], "nurse");
        assert!(answer.get("account_id").is_none() && answer.get("new_account").is_none());
    }
    let outbox = app
        .get_json(
            &admin.token,
            &format!("/facilities/{clinic}/outbox?limit=200"),
        )
        .await;
    let mail = |to: &str| -> Value {
        outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["recipient"] == to)
            .cloned()
            .unwrap()
    };
    let (to_existing, to_new) = (mail(&existing.email), mail(&new));
    for field in ["kind", "subject", "code_withheld"] {
        assert_eq!(to_existing[field], to_new[field], "{field}");
    }
    let without_code = |m: &Value| {
        let body = m["body"].as_str().unwrap().trim_end().to_owned();
        body.rsplit_once(char::is_whitespace).unwrap().0.to_owned()
    };
    assert_eq!(without_code(&to_existing), without_code(&to_new));
    assert!(
        !facility_ids(&app, &existing)
            .await
            .contains(&clinic.to_string())
    );
    app.stop().await;
}

async fn an_existing_account_joins_only_by_accepting(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let clinic = app.facility("Clinic").await;
    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let person = app.person(&[]).await;
    assert_eq!(
        invite(&app, &admin, clinic, &person.email).await.status(),
        201
    );
    let token = code(&app.mail_to(&person.email, "invitation").await);
    let inviter_try = app
        .post(
            "/auth/accept-invitation",
            json!({"token": token, "password": "the inviter's choice 1"}),
        )
        .await;
    let refused = problem(inviter_try, 422, "validation").await;
    assert_eq!(refused["errors"][0]["field"], "password");
    assert!(facility_ids(&app, &person).await.is_empty());
    let accepted = app
        .post(
            "/auth/accept-invitation",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(facility_ids(&app, &person).await, [clinic.to_string()]);
    app.sign_in(&person.email).await;

    // Signed in, from the list of pending invitations.
    let other = app.facility("Other").await;
    let other_admin = app.person(&[(Some(other), Role::Admin)]).await;
    assert_eq!(
        invite(&app, &other_admin, other, &person.email)
            .await
            .status(),
        201
    );
    // Its code is no password oracle for the inviter who may read it.
    let second_code = code(&app.mail_to(&person.email, "invitation").await);
    let guess = |n: usize| json!({"token": second_code, "password": format!("guess number {n}")});
    // Four more wrong passwords: five with the inviter's try above.
    for n in 0..4 {
        let wrong = app.post("/auth/accept-invitation", guess(n)).await;
        assert_eq!(wrong.status(), 422);
    }
    let throttled = app
        .post(
            "/auth/accept-invitation",
            json!({"token": second_code, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        throttled.status(),
        429,
        "even the right one, from this address"
    );
    let pending = app.get_json(&person.token, "/me/invitations").await;
    let items = pending["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["facility_id"], other.to_string());
    let path = format!(
        "/me/invitations/{}/accept",
        items[0]["id"].as_str().unwrap()
    );
    let by_the_inviter = app
        .call(&other_admin.token, Method::POST, &path, None)
        .await;
    assert_eq!(
        by_the_inviter.status(),
        404,
        "only the invited person accepts"
    );
    let accepted = json_of(app.call(&person.token, Method::POST, &path, None).await).await;
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(facility_ids(&app, &person).await.len(), 2);
    let again = app.call(&person.token, Method::POST, &path, None).await;
    assert_eq!(again.status(), 404, "an invitation is accepted once");
    app.stop().await;
}

async fn a_patient_portal_opens_only_when_its_owner_accepts(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let clinic = app.facility("Clinic").await;
    let elsewhere = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let stranger = app.person(&[(Some(elsewhere), Role::Nurse)]).await;
    let patients = format!("/facilities/{clinic}/patients");
    let mut attached = new_patient();
    attached["portal_account_id"] = json!(stranger.account_id);
    let refused = app
        .call(&admin.token, Method::POST, &patients, Some(attached))
        .await;
    assert_eq!(
        refused.status(),
        422,
        "no account is attached at registration"
    );
    let patient = app.patient(clinic, new_patient()).await;
    let record = format!("{patients}/{}", id(&patient));
    let attach = app
        .call(
            &admin.token,
            Method::PATCH,
            &record,
            Some(json!({"portal_account_id": stranger.account_id})),
        )
        .await;
    let attach = problem(attach, 422, "validation").await;
    assert_eq!(attach["errors"][0]["field"], "portal_account_id");
    let as_patient = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{clinic}/memberships"),
            Some(json!({"account_id": stranger.account_id, "role": "patient"})),
        )
        .await;
    let as_patient = problem(as_patient, 422, "validation").await;
    assert_eq!(as_patient["errors"][0]["field"], "role");

    let invited = app
        .call(
            &admin.token,
            Method::POST,
            &format!("{record}/portal-invitations"),
            Some(json!({"email": stranger.email})),
        )
        .await;
    assert_eq!(invited.status(), 201);
    let invited = json_of(invited).await;
    assert_eq!(invited["patient_id"], patient["id"]);
    let before = app.call(&stranger.token, Method::GET, &record, None).await;
    assert_eq!(
        before.status(),
        404,
        "nothing is open before the owner accepts"
    );
    let unchanged = app.get_json(&admin.token, &record).await;
    assert!(unchanged["portal_account_id"].is_null());
    let accept = format!("/me/invitations/{}/accept", invited["id"].as_str().unwrap());
    let accepted = app.call(&stranger.token, Method::POST, &accept, None).await;
    assert_eq!(accepted.status(), 200);
    let own = app.get_json(&stranger.token, &record).await;
    assert_eq!(own["portal_account_id"], stranger.account_id.to_string());
    let key = app
        .api_key(clinic, &["patient:update", "patient:read"])
        .await;
    let by_key = app
        .call(
            &key,
            Method::POST,
            &format!("{record}/portal-invitations"),
            Some(json!({"email": unique_email()})),
        )
        .await;
    assert_eq!(by_key.status(), 403, "a key invites no one");
    app.stop().await;
}
