//! Emailed and texted codes: recovery works once and expires, and email
//! and phone changes need confirmation.

use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{
    PASSWORD, Person, TestApp, TestBackend, code, json_of, problem, unique_email,
};

on_both_backends!(
    emailed_tokens_work_once_and_expire,
    email_and_phone_changes_need_confirmation,
);

async fn emailed_tokens_work_once_and_expire(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    assert_eq!(
        app.post("/auth/recover", json!({"email": person.email}))
            .await
            .status(),
        202
    );
    assert_eq!(
        app.post("/auth/recover", json!({"email": unique_email()}))
            .await
            .status(),
        202
    );
    let token = code(&app.mail_to(&person.email, "recovery").await);
    let new_password = "a brand new passphrase";
    let reset = app
        .post(
            "/auth/reset-password",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    assert_eq!(reset.status(), 200);
    // The old sessions ended with the reset; the token works once.
    problem(
        app.call(&person.token, Method::GET, "/me", None).await,
        401,
        "unauthorized",
    )
    .await;
    let again = problem(
        app.post(
            "/auth/reset-password",
            json!({"token": token, "new_password": new_password}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(again["errors"][0]["field"], "token");
    assert_eq!(
        app.post(
            "/auth/sign-in",
            json!({"email": person.email, "password": new_password})
        )
        .await
        .status(),
        200
    );

    an_expired_code_is_refused(&app, &person, new_password).await;
    app.stop().await;
}

async fn email_and_phone_changes_need_confirmation(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.system_admin().await;
    let person = app.person(&[]).await;
    let new_email = unique_email();
    let asked = app
        .call(
            &person.token,
            Method::POST,
            "/me/email",
            Some(json!({"new_email": new_email, "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(asked.status(), 202);
    let taken = app
        .call(
            &person.token,
            Method::POST,
            "/me/email",
            Some(json!({"new_email": admin.email, "current_password": PASSWORD})),
        )
        .await;
    problem(taken, 409, "conflict").await;
    let token = code(&app.mail_to(&new_email, "email_change").await);
    let changed = json_of(
        app.call(
            &person.token,
            Method::POST,
            "/me/email/confirm",
            Some(json!({"token": token})),
        )
        .await,
    )
    .await;
    assert_eq!(changed["email"], new_email);
    assert_eq!(
        app.post(
            "/auth/sign-in",
            json!({"email": new_email, "password": PASSWORD})
        )
        .await
        .status(),
        200
    );
    problem(
        app.post(
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    a_phone_change_needs_the_texted_code(&app, &person).await;
    app.stop().await;
}

/// An expired code is refused, and so is one never issued.
async fn an_expired_code_is_refused(app: &TestApp, person: &Person, new_password: &str) {
    app.post("/auth/recover", json!({"email": person.email}))
        .await;
    let token = code(&app.mail_to(&person.email, "recovery").await);
    let backend_kind = app.state.db.conn().get_database_backend();
    app.state
        .db
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            "UPDATE account_tokens SET expires_at = $1 WHERE used_at IS NULL",
            [1i64.into()],
        ))
        .await
        .unwrap();
    problem(
        app.post(
            "/auth/reset-password",
            json!({"token": token, "new_password": new_password}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    problem(
        app.post("/auth/confirm-email", json!({"token": "made-up"}))
            .await,
        422,
        "validation",
    )
    .await;
}

/// A phone number changes only with the code texted to it.
async fn a_phone_change_needs_the_texted_code(app: &TestApp, person: &Person) {
    problem(
        app.call(
            &person.token,
            Method::POST,
            "/me/phone",
            Some(json!({"phone": "555-0100"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(
        app.call(
            &person.token,
            Method::POST,
            "/me/phone",
            Some(json!({"phone": "+15550109999"}))
        )
        .await
        .status(),
        202
    );
    let sms = app.mail_to("+15550109999", "phone_change").await;
    assert_eq!(sms["channel"], "sms");
    let changed = json_of(
        app.call(
            &person.token,
            Method::POST,
            "/me/phone/confirm",
            Some(json!({"token": code(&sms)})),
        )
        .await,
    )
    .await;
    assert_eq!(changed["phone"], "+15550109999");
    assert_eq!(changed["phone_confirmed"], true);
}
