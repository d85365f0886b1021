//! Sessions: refresh tokens rotate and a replay ends the session, sign-out
//! and revocation take effect at once, and sessions end when idle and
//! when old.

use std::time::Duration;

use carebase::identity::settings::IdentitySettings;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, json_of, problem};

on_both_backends!(
    refresh_tokens_rotate_and_a_replay_ends_the_session,
    sign_out_and_revocation_take_effect_at_once,
    sessions_end_when_idle_and_when_old,
);

async fn refresh_tokens_rotate_and_a_replay_ends_the_session(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let person = app.person(&[]).await;
    let rotated = json_of(
        app.post(
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
        app.post(
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
        app.post(
            "/auth/refresh",
            json!({"refresh_token": rotated["refresh_token"]}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    problem(
        app.post("/auth/refresh", json!({"refresh_token": "nonsense"}))
            .await,
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
        app.post(
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
        app.post(
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
        app.post(
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
