//! Signing in: one answer for a wrong password and an unknown email,
//! banned and deleted accounts, and the second factor (throttling is in
//! `throttling`).

use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    PASSWORD, Person, TestApp, TestBackend, json_of, problem, totp_code, unique_email,
};

on_both_backends!(
    a_wrong_password_and_an_unknown_email_answer_alike,
    a_banned_account_loses_its_sessions_at_once,
    the_second_factor_is_required_once_enabled,
);

fn without_request(mut problem: Value) -> Value {
    problem.as_object_mut().unwrap().remove("request_id");
    problem
}

async fn a_wrong_password_and_an_unknown_email_answer_alike(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let wrong = problem(
        app.post(
            "/auth/sign-in",
            json!({"email": person.email, "password": "not the password"}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    let unknown = problem(
        app.post(
            "/auth/sign-in",
            json!({"email": unique_email(), "password": "not the password"}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(without_request(wrong), without_request(unknown));
    let admin = app.system_admin().await;
    let events = json_of(
        app.call(
            &admin.token,
            Method::GET,
            "/admin/audit-events?action=login_failed",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2);
    app.stop().await;
}

async fn a_banned_account_loses_its_sessions_at_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.system_admin().await;
    let person = app.person(&[]).await;
    assert_eq!(
        app.call(&person.token, Method::GET, "/me", None)
            .await
            .status(),
        200
    );
    let banned = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/admin/accounts/{}/ban", person.account_id),
            Some(json!({})),
        )
        .await;
    assert_eq!(banned.status(), 200);
    problem(
        app.call(&person.token, Method::GET, "/me", None).await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        app.post(
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.post(
            "/auth/refresh",
            json!({"refresh_token": person.refresh_token}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    app.call(
        &admin.token,
        Method::POST,
        &format!("/admin/accounts/{}/unban", person.account_id),
        None,
    )
    .await;
    assert_eq!(
        app.post(
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD})
        )
        .await
        .status(),
        200
    );
    a_deleted_account_answers_like_an_unknown_one(&app, &admin, &person).await;
    app.stop().await;
}

/// A deleted account answers like an unknown one.
async fn a_deleted_account_answers_like_an_unknown_one(
    app: &TestApp,
    admin: &Person,
    person: &Person,
) {
    app.call(
        &admin.token,
        Method::DELETE,
        &format!("/admin/accounts/{}", person.account_id),
        None,
    )
    .await;
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
}

async fn the_second_factor_is_required_once_enabled(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let enrollment = json_of(app.call(&person.token, Method::POST, "/me/mfa", None).await).await;
    assert!(
        enrollment["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let secret = enrollment["secret"].as_str().unwrap();
    problem(
        app.call(
            &person.token,
            Method::POST,
            "/me/mfa/confirm",
            Some(json!({"code": "000000"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    let confirmed = app
        .call(
            &person.token,
            Method::POST,
            "/me/mfa/confirm",
            Some(json!({"code": totp_code(secret)})),
        )
        .await;
    assert_eq!(confirmed.status(), 204);

    let credentials = json!({"email": person.email, "password": PASSWORD});
    problem(
        app.post("/auth/sign-in", credentials.clone()).await,
        401,
        "mfa-required",
    )
    .await;
    let mut with_wrong = credentials.clone();
    with_wrong["totp_code"] = json!("123456");
    problem(
        app.post("/auth/sign-in", with_wrong).await,
        401,
        "unauthorized",
    )
    .await;
    // The code of this step was spent confirming; rather than wait 30 s
    // for the next step, forget that step was used.
    let backend_kind = app.state.db.conn().get_database_backend();
    app.state
        .db
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            "UPDATE accounts SET totp_last_step = NULL WHERE id = $1",
            [person.account_id.into()],
        ))
        .await
        .unwrap();
    let mut with_code = credentials.clone();
    with_code["totp_code"] = json!(totp_code(secret));
    assert_eq!(
        app.post("/auth/sign-in", with_code.clone()).await.status(),
        200
    );
    problem(
        app.post("/auth/sign-in", with_code).await,
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}
