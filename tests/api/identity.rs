//! Identity over the real API: sign-up, confirmation, sign-in, throttling,
//! tokens, sessions and their limits, the second factor, API keys,
//! invitations, recovery, and email and phone changes.

use carebase::access::Permission;
use std::time::Duration;

use carebase::access::Role;
use carebase::identity::settings::IdentitySettings;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{PASSWORD, TestApp, TestBackend, code, json_of, new_patient, problem};
use crate::support::matrix::{Case, Grant};

on_both_backends!(
    sign_up_confirm_and_sign_in,
    sign_up_answers_alike_for_a_taken_address,
    a_wrong_password_and_an_unknown_email_answer_alike,
    failed_sign_ins_are_throttled_per_email_and_per_address,
    a_banned_account_loses_its_sessions_at_once,
    emailed_tokens_work_once_and_expire,
    refresh_tokens_rotate_and_a_replay_ends_the_session,
    sign_out_and_revocation_take_effect_at_once,
    sessions_end_when_idle_and_when_old,
    the_second_factor_is_required_once_enabled,
    api_keys_act_within_their_scopes_facility_and_time,
    an_invitation_makes_an_account_with_a_role,
    email_and_phone_changes_need_confirmation,
);

async fn post(app: &TestApp, path: &str, payload: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&payload)
        .send()
        .await
        .unwrap()
}

fn unique_email() -> String {
    format!("{}@people.example", Uuid::new_v4().simple())
}

async fn sign_up_confirm_and_sign_in(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.system_admin().await;
    let email = unique_email();
    let signed_up = post(
        &app,
        "/auth/sign-up",
        json!({"email": email, "password": PASSWORD, "full_name": "Ada Lovelace"}),
    )
    .await;
    assert_eq!(signed_up.status(), 202);
    let credentials = json!({"email": email, "password": PASSWORD});
    problem(
        post(&app, "/auth/sign-in", credentials.clone()).await,
        403,
        "forbidden",
    )
    .await;
    let message = app.outbox(&admin, &email, "confirm_email").await;
    assert_eq!(
        message["status"], "held",
        "no mail server: held for an administrator"
    );
    let token = code(&message);
    assert_eq!(
        post(&app, "/auth/confirm-email", json!({"token": token}))
            .await
            .status(),
        200
    );
    let tokens = json_of(post(&app, "/auth/sign-in", credentials).await).await;
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
        post(
            &app,
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
        post(
            &app,
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
    let taken = post(
        &app,
        "/auth/sign-up",
        json!({"email": admin.email, "password": PASSWORD}),
    )
    .await;
    let fresh = post(
        &app,
        "/auth/sign-up",
        json!({"email": unique_email(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(taken.status(), fresh.status());
    assert_eq!(taken.text().await.unwrap(), fresh.text().await.unwrap());
    let notice = app.outbox(&admin, &admin.email, "already_registered").await;
    assert!(notice["body"].as_str().unwrap().contains("already has one"));
    app.stop().await;
}

fn without_request(mut problem: Value) -> Value {
    problem.as_object_mut().unwrap().remove("request_id");
    problem
}

async fn a_wrong_password_and_an_unknown_email_answer_alike(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let wrong = problem(
        post(
            &app,
            "/auth/sign-in",
            json!({"email": person.email, "password": "not the password"}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    let unknown = problem(
        post(
            &app,
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

async fn failed_sign_ins_are_throttled_per_email_and_per_address(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    for email in [person.email.clone(), unique_email()] {
        for _ in 0..5 {
            post(
                &app,
                "/auth/sign-in",
                json!({"email": email, "password": "guess guess guess"}),
            )
            .await;
        }
        // Blocked now, even with the right password, existing account or not.
        let blocked = post(
            &app,
            "/auth/sign-in",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        assert!(blocked.headers().get("retry-after").is_some());
        problem(blocked, 429, "too-many-requests").await;
    }
    // The address has now failed 10 times; 20 more over many emails blocks it.
    for _ in 0..20 {
        post(
            &app,
            "/auth/sign-in",
            json!({"email": unique_email(), "password": "guess guess guess"}),
        )
        .await;
    }
    let (_, other) = app.account(&[]).await;
    let blocked = post(
        &app,
        "/auth/sign-in",
        json!({"email": other, "password": PASSWORD}),
    )
    .await;
    problem(blocked, 429, "too-many-requests").await;
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
        post(
            &app,
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        post(
            &app,
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
        post(
            &app,
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD})
        )
        .await
        .status(),
        200
    );
    // A deleted account answers like an unknown one.
    app.call(
        &admin.token,
        Method::DELETE,
        &format!("/admin/accounts/{}", person.account_id),
        None,
    )
    .await;
    problem(
        post(
            &app,
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}

async fn emailed_tokens_work_once_and_expire(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.system_admin().await;
    let person = app.person(&[]).await;
    assert_eq!(
        post(&app, "/auth/recover", json!({"email": person.email}))
            .await
            .status(),
        202
    );
    assert_eq!(
        post(&app, "/auth/recover", json!({"email": unique_email()}))
            .await
            .status(),
        202
    );
    let token = code(&app.outbox(&admin, &person.email, "recovery").await);
    let new_password = "a brand new passphrase";
    let reset = post(
        &app,
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
        post(
            &app,
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
        post(
            &app,
            "/auth/sign-in",
            json!({"email": person.email, "password": new_password})
        )
        .await
        .status(),
        200
    );

    // An expired token is refused.
    post(&app, "/auth/recover", json!({"email": person.email})).await;
    let token = code(&app.outbox(&admin, &person.email, "recovery").await);
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
        post(
            &app,
            "/auth/reset-password",
            json!({"token": token, "new_password": new_password}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    problem(
        post(&app, "/auth/confirm-email", json!({"token": "made-up"})).await,
        422,
        "validation",
    )
    .await;
    app.stop().await;
}

async fn refresh_tokens_rotate_and_a_replay_ends_the_session(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let rotated = json_of(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": person.refresh_token}),
        )
        .await,
    )
    .await;
    assert_ne!(rotated["refresh_token"], person.refresh_token.as_str());
    assert_eq!(rotated["session_id"], person.session_id.to_string());
    let new_access = rotated["access_token"].as_str().unwrap();
    assert_eq!(
        app.call(new_access, Method::GET, "/me", None)
            .await
            .status(),
        200
    );
    // The spent token again: refused, and the whole session ends.
    problem(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": person.refresh_token}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        app.call(new_access, Method::GET, "/me", None).await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": rotated["refresh_token"]}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        post(&app, "/auth/refresh", json!({"refresh_token": "nonsense"})).await,
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}

async fn sign_out_and_revocation_take_effect_at_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.system_admin().await;
    let person = app.person(&[]).await;
    assert_eq!(
        app.call(&person.token, Method::POST, "/auth/sign-out", None)
            .await
            .status(),
        204
    );
    problem(
        app.call(&person.token, Method::GET, "/me", None).await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": person.refresh_token}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;

    let laptop = app.sign_in(&person.email).await;
    let phone = app.sign_in(&person.email).await;
    let sessions = json_of(
        app.call(
            laptop["access_token"].as_str().unwrap(),
            Method::GET,
            "/me/sessions",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(sessions["items"].as_array().unwrap().len(), 2);
    let revoked = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &format!("/admin/accounts/{}/revoke-sessions", person.account_id),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(revoked["revoked"], 2);
    for tokens in [laptop, phone] {
        problem(
            app.call(
                tokens["access_token"].as_str().unwrap(),
                Method::GET,
                "/me",
                None,
            )
            .await,
            401,
            "unauthorized",
        )
        .await;
    }
    problem(
        app.client
            .get(app.url("/me"))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}

async fn sessions_end_when_idle_and_when_old(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.edit_section(|s: &mut IdentitySettings| {
            s.session_idle_timeout_secs = 2;
            s.session_lifetime_secs = 3600;
        })
    })
    .await;
    let person = app.person(&[]).await;
    // Used within the idle time, the session lives on.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            app.call(&person.token, Method::GET, "/me", None)
                .await
                .status(),
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    problem(
        app.call(&person.token, Method::GET, "/me", None).await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": person.refresh_token}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;

    // A session past its absolute lifetime ends however active it is.
    let other = app.person(&[]).await;
    let backend_kind = app.state.db.conn().get_database_backend();
    app.state
        .db
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            "UPDATE sessions SET expires_at = $1 WHERE id = $2",
            [1i64.into(), other.session_id.into()],
        ))
        .await
        .unwrap();
    problem(
        app.call(&other.token, Method::GET, "/me", None).await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        post(
            &app,
            "/auth/refresh",
            json!({"refresh_token": other.refresh_token}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}

fn totp_code(secret_base32: &str) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build()
        .unwrap();
    totp.generate_current().to_string()
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
        post(&app, "/auth/sign-in", credentials.clone()).await,
        401,
        "mfa-required",
    )
    .await;
    let mut with_wrong = credentials.clone();
    with_wrong["totp_code"] = json!("123456");
    problem(
        post(&app, "/auth/sign-in", with_wrong).await,
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
        post(&app, "/auth/sign-in", with_code.clone())
            .await
            .status(),
        200
    );
    problem(
        post(&app, "/auth/sign-in", with_code).await,
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}

async fn api_keys_act_within_their_scopes_facility_and_time(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Keyed").await;
    let other = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    app.patient(facility, new_patient()).await;
    let keys = format!("/facilities/{facility}/api-keys");
    let created = app
        .call(
            &admin.token,
            Method::POST,
            &keys,
            Some(json!({"name": "n8n", "scopes": ["patient:read"]})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    let key = created["token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cbak_"));

    let patients = format!("/facilities/{facility}/patients");
    assert_eq!(
        app.call(&key, Method::GET, &patients, None).await.status(),
        200
    );
    problem(
        app.call(&key, Method::POST, &patients, Some(new_patient()))
            .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.call(
            &key,
            Method::GET,
            &format!("/facilities/{other}/patients"),
            None,
        )
        .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            &key,
            Method::POST,
            &keys,
            Some(json!({"name": "x", "scopes": ["patient:read"]})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let listed = json_of(app.call(&admin.token, Method::GET, &keys, None).await).await;
    assert!(listed["items"][0]["last_used_at"].is_string());
    assert!(
        listed.to_string().find(&key[10..]).is_none(),
        "the secret is never listed"
    );

    // Scopes beyond the creator's own permissions are refused.
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let beyond = app
        .call(
            &nurse.token,
            Method::POST,
            &keys,
            Some(json!({"name": "x", "scopes": ["audit:read"]})),
        )
        .await;
    problem(beyond, 403, "forbidden").await;
    let bad_scope = problem(
        app.call(
            &admin.token,
            Method::POST,
            &keys,
            Some(json!({"name": "x", "scopes": ["facility:create"]})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad_scope["errors"][0]["field"], "scopes");

    // Revoked: refused at once. Expired: refused.
    let key_id = created["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            &admin.token,
            Method::DELETE,
            &format!("{keys}/{key_id}"),
            None
        )
        .await
        .status(),
        204
    );
    problem(
        app.call(&key, Method::GET, &patients, None).await,
        401,
        "unauthorized",
    )
    .await;
    let soon = carebase::time::Timestamp::now().plus_secs(1).to_string();
    let short = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &keys,
            Some(json!({"name": "brief", "scopes": ["patient:read"], "expires_at": soon})),
        )
        .await,
    )
    .await;
    let short_key = short["token"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    problem(
        app.call(short_key, Method::GET, &patients, None).await,
        401,
        "unauthorized",
    )
    .await;
    // A key stops working when its creator loses the role.
    let third = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &keys,
            Some(json!({"name": "third", "scopes": ["patient:read"]})),
        )
        .await,
    )
    .await;
    let third_key = third["token"].as_str().unwrap();
    let memberships = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/memberships"),
            None,
        )
        .await,
    )
    .await;
    let admin_membership = memberships["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account_id"] == admin.account_id.to_string())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sysadmin = app.system_admin().await;
    app.call(
        &sysadmin.token,
        Method::DELETE,
        &format!("/facilities/{facility}/memberships/{admin_membership}"),
        None,
    )
    .await;
    problem(
        app.call(third_key, Method::GET, &patients, None).await,
        404,
        "not-found",
    )
    .await;
    app.stop().await;
}

async fn an_invitation_makes_an_account_with_a_role(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let sysadmin = app.system_admin().await;
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
    assert_eq!(invited["new_account"], true);
    assert_eq!(invited["membership"]["role"], "Health Coach");
    problem(
        post(
            &app,
            "/auth/sign-in",
            json!({"email": email, "password": PASSWORD}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    let token = code(&app.outbox(&sysadmin, &email, "invitation").await);
    assert_eq!(
        post(
            &app,
            "/auth/accept-invitation",
            json!({"token": token, "password": PASSWORD, "full_name": "Coach Carter"})
        )
        .await
        .status(),
        200
    );
    let tokens = json_of(
        post(
            &app,
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
    let system = problem(
        app.call(
            &admin.token,
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
            &admin.token,
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
            Some(json!({"new_email": new_email})),
        )
        .await;
    assert_eq!(asked.status(), 202);
    let taken = app
        .call(
            &person.token,
            Method::POST,
            "/me/email",
            Some(json!({"new_email": admin.email})),
        )
        .await;
    problem(taken, 409, "conflict").await;
    let token = code(&app.outbox(&admin, &new_email, "email_change").await);
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
        post(
            &app,
            "/auth/sign-in",
            json!({"email": new_email, "password": PASSWORD})
        )
        .await
        .status(),
        200
    );
    problem(
        post(
            &app,
            "/auth/sign-in",
            json!({"email": person.email, "password": PASSWORD}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;

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
    let sms = app.outbox(&admin, "+15550109999", "phone_change").await;
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
    app.stop().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("invite", Method::POST, P::MEMBERSHIP_MANAGE, |r, _| format!("/facilities/{f}/invitations", f = r.facility))
            .body(|_, _| {
                Some(
                    json!({"email": format!("{}@invited.example", Uuid::new_v4().simple()), "role": "nurse"}),
                )
            }),
        Case::new("list accounts", Method::GET, P::ACCOUNT_MANAGE, |_, _| "/admin/accounts".to_owned())
            .grant(Grant::Installation),
    ]
}
