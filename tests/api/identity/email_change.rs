//! A stolen access token alone cannot take an account over through an
//! email change: the change needs the current password (or a second-factor
//! code where one is enabled), and the old address is told, with a code
//! that brings it back, signs everyone out and voids the codes sent to the
//! new address meanwhile.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    PASSWORD, Person, TestApp, TestBackend, code, json_of, problem, totp_code, totp_code_after,
    unique_email,
};

on_both_backends!(
    a_token_alone_cannot_change_the_sign_in_email,
    the_old_address_can_undo_an_email_change,
    a_second_factor_code_stands_in_for_the_password,
);

async fn ask(app: &TestApp, person: &Person, body: Value) -> reqwest::Response {
    app.call(&person.token, Method::POST, "/me/email", Some(body))
        .await
}

async fn a_token_alone_cannot_change_the_sign_in_email(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let attacker = unique_email();
    for (body, field) in [
        (json!({"new_email": attacker}), "current_password"),
        (
            json!({"new_email": attacker, "current_password": "a guess at it"}),
            "current_password",
        ),
        (
            json!({"new_email": attacker, "totp_code": "123456"}),
            "current_password",
        ),
    ] {
        let refused = problem(ask(&app, &person, body).await, 422, "validation").await;
        assert_eq!(refused["errors"][0]["field"], field);
    }
    let sysadmin = app.system_admin().await;
    let page = app
        .get_json(&sysadmin.token, "/admin/outbox?limit=200")
        .await;
    assert!(
        !page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["recipient"] == attacker),
        "no code went to the new address"
    );
    app.stop().await;
}

async fn the_old_address_can_undo_an_email_change(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let new_email = unique_email();
    let asked = ask(
        &app,
        &person,
        json!({"new_email": new_email, "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(asked.status(), 202);
    let token = code(&app.mail_to(&new_email, "email_change").await);
    let changed = app
        .call(
            &person.token,
            Method::POST,
            "/me/email/confirm",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(json_of(changed).await["email"], new_email);
    // Whoever holds the new address asks for a recovery code.
    app.post("/auth/recover", json!({"email": new_email})).await;
    let recovery = code(&app.mail_to(&new_email, "recovery").await);
    let undo = code(&app.mail_to(&person.email, "email_changed").await);
    let undone = app
        .post("/auth/undo-email-change", json!({"token": undo}))
        .await;
    assert_eq!(undone.status(), 200);
    problem(
        app.call(&person.token, Method::GET, "/me", None).await,
        401,
        "unauthorized",
    )
    .await;
    let reset = app
        .post(
            "/auth/reset-password",
            json!({"token": recovery, "new_password": "the attacker's choice"}),
        )
        .await;
    problem(reset, 422, "validation").await;
    let back = app
        .post(
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(back.status(), 200, "the old address signs in again");
    let again = app
        .post("/auth/undo-email-change", json!({"token": undo}))
        .await;
    problem(again, 422, "validation").await;
    app.stop().await;
}

async fn a_second_factor_code_stands_in_for_the_password(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let enrollment = json_of(app.call(&person.token, Method::POST, "/me/mfa", None).await).await;
    let secret = enrollment["secret"].as_str().unwrap().to_owned();
    let confirmed = app
        .call(
            &person.token,
            Method::POST,
            "/me/mfa/confirm",
            Some(json!({"code": totp_code(&secret)})),
        )
        .await;
    assert_eq!(confirmed.status(), 204);
    let wrong = problem(
        ask(
            &app,
            &person,
            json!({"new_email": unique_email(), "totp_code": "000000"}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(wrong["errors"][0]["field"], "totp_code");
    // The code that confirmed the factor is used up; the next one works.
    let asked = ask(
        &app,
        &person,
        json!({"new_email": unique_email(), "totp_code": totp_code_after(&secret, 30)}),
    )
    .await;
    assert_eq!(asked.status(), 202);
    app.stop().await;
}
