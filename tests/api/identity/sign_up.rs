//! Becoming an account: sign-up and its confirmation, the same answer for
//! a taken address, and invitations that make an account with a role.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{PASSWORD, TestApp, TestBackend, code, json_of, problem, unique_email};

on_both_backends!(
    sign_up_confirm_and_sign_in,
    sign_up_answers_alike_for_a_taken_address,
    an_invitation_makes_an_account_with_a_role,
);

async fn sign_up_confirm_and_sign_in(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let signed_up = app
        .post(
            "/auth/sign-up",
            json!({"email": email, "password": PASSWORD, "full_name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(signed_up.status(), 202);
    // The account is made after the answer; its confirmation mail says so.
    let message = app.mail_to(&email, "confirm_email").await;
    let credentials = json!({"email": email, "password": PASSWORD});
    problem(
        app.post("/auth/sign-in", credentials.clone()).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        message["status"], "held",
        "no mail server: held for an administrator"
    );
    let token = code(&message);
    assert_eq!(
        app.post("/auth/confirm-email", json!({"token": token}))
            .await
            .status(),
        200
    );
    let tokens = json_of(app.post("/auth/sign-in", credentials).await).await;
    assert_eq!(tokens["token_type"], "Bearer");
    let me = json_of(
        app.call(
            tokens["access_token"].as_str().unwrap(),
            Method::GET,
            "/me",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(me["account"]["email"], email);
    assert_eq!(me["account"]["full_name"], "Ada Lovelace");
    assert_eq!(me["memberships"], json!([]));
    // Weak passwords and bad addresses name their field.
    let weak = problem(
        app.post(
            "/auth/sign-up",
            json!({"email": unique_email(), "password": "short"}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(weak["errors"][0]["field"], "password");
    let bad = problem(
        app.post(
            "/auth/sign-up",
            json!({"email": "nobody", "password": PASSWORD}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "email");
    app.stop().await;
}

async fn sign_up_answers_alike_for_a_taken_address(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.system_admin().await;
    let taken = app
        .post(
            "/auth/sign-up",
            json!({"email": admin.email, "password": PASSWORD}),
        )
        .await;
    let fresh = app
        .post(
            "/auth/sign-up",
            json!({"email": unique_email(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(taken.status(), fresh.status());
    assert_eq!(taken.text().await.unwrap(), fresh.text().await.unwrap());
    let notice = app.mail_to(&admin.email, "already_registered").await;
    assert!(notice["body"].as_str().unwrap().contains("already has one"));
    app.stop().await;
}

async fn an_invitation_makes_an_account_with_a_role(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Inviting").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let email = unique_email();
    let invited = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/invitations"),
            Some(json!({"email": email, "role": "Health Coach"})),
        )
        .await;
    assert_eq!(invited.status(), 201);
    let invited = json_of(invited).await;
    assert_eq!(invited["status"], "pending");
    assert_eq!(invited["role"], "Health Coach");
    problem(
        app.post(
            "/auth/sign-in",
            json!({"email": email, "password": PASSWORD}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    let token = code(&app.mail_to(&email, "invitation").await);
    assert_eq!(
        app.post(
            "/auth/accept-invitation",
            json!({"token": token, "password": PASSWORD, "full_name": "Coach Carter"})
        )
        .await
        .status(),
        200
    );
    let tokens = json_of(
        app.post(
            "/auth/sign-in",
            json!({"email": email, "password": PASSWORD}),
        )
        .await,
    )
    .await;
    let me = json_of(
        app.call(
            tokens["access_token"].as_str().unwrap(),
            Method::GET,
            "/me",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(me["memberships"][0]["facility_id"], facility.to_string());
    assert_eq!(me["memberships"][0]["role"], "Health Coach");
    no_one_is_invited_to_an_installation_or_unknown_role(&app, facility, &admin.token).await;
    app.stop().await;
}

/// No one is invited to an installation role, or to a role that does not
/// exist.
async fn no_one_is_invited_to_an_installation_or_unknown_role(
    app: &TestApp,
    facility: Uuid,
    token: &str,
) {
    let system = problem(
        app.call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/invitations"),
            Some(json!({"email": unique_email(), "role": "system_admin"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(system["errors"][0]["field"], "role");
    let unknown_role = problem(
        app.call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/invitations"),
            Some(json!({"email": unique_email(), "role": "root"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(unknown_role["errors"][0]["field"], "role");
}
