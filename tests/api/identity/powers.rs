//! Powers over people stay with people: no one grants a role to themselves
//! (the system administrator, who has no patient access by design, cannot
//! give itself some), an API key cannot grant roles, invite or manage keys,
//! and a developer revokes its own keys, not an administrator's.

use carebase::policy::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, json_of, problem};

on_both_backends!(
    no_one_grants_a_role_to_themselves,
    an_api_key_has_no_power_over_people,
    a_developer_revokes_only_its_own_keys,
);

async fn no_one_grants_a_role_to_themselves(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Clinic").await;
    let sysadmin = app.system_admin().await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    for (who, role) in [(&sysadmin, "physician"), (&admin, "physician")] {
        problem(
            app.call(
                &who.token,
                Method::POST,
                &format!("/facilities/{facility}/memberships"),
                Some(json!({"account_id": who.account_id, "role": role})),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
    }
    // The system administrator still holds no patient access.
    problem(
        app.call(
            &sysadmin.token,
            Method::GET,
            &format!("/facilities/{facility}/patients"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    app.stop().await;
}

fn key_request(scopes: &[&str]) -> Value {
    json!({"name": "n8n", "scopes": scopes})
}

async fn an_api_key_has_no_power_over_people(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let keys = format!("/facilities/{facility}/api-keys");
    for scope in ["membership:manage", "api_key:manage"] {
        let refused = problem(
            app.call(
                &admin.token,
                Method::POST,
                &keys,
                Some(key_request(&[scope, "facility:read"])),
            )
            .await,
            422,
            "validation",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "scopes");
    }
    // A key stored with such a scope (made before the rule) cannot use it.
    let created = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &keys,
            Some(key_request(&["facility:read"])),
        )
        .await,
    )
    .await;
    let conn = app.state.db.conn();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "UPDATE api_keys SET scopes = $1 WHERE id = $2",
        [
            r#"["facility:read","membership:manage"]"#.into(),
            id(&created).into(),
        ],
    ))
    .await
    .unwrap();
    let key = created["token"].as_str().unwrap();
    let invite = app
        .call(
            key,
            Method::POST,
            &format!("/facilities/{facility}/invitations"),
            Some(json!({"email": "someone@clinic.example", "role": "physician"})),
        )
        .await;
    assert_eq!(invite.status(), 403);
    let grant = app
        .call(
            key,
            Method::POST,
            &format!("/facilities/{facility}/memberships"),
            Some(json!({"account_id": admin.account_id, "role": "physician"})),
        )
        .await;
    assert_eq!(grant.status(), 403);
    let read = app
        .call(key, Method::GET, &format!("/facilities/{facility}"), None)
        .await;
    assert_eq!(read.status(), 200, "its other scopes still work");
    app.stop().await;
}

async fn a_developer_revokes_only_its_own_keys(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let developer = app.person(&[(Some(facility), Role::Developer)]).await;
    let keys = format!("/facilities/{facility}/api-keys");
    let make = |token: String| {
        let app = &app;
        let keys = keys.clone();
        async move {
            let made = app
                .call(
                    &token,
                    Method::POST,
                    &keys,
                    Some(key_request(&["facility:read"])),
                )
                .await;
            id(&json_of(made).await)
        }
    };
    let admins: Uuid = make(admin.token.clone()).await;
    let developers: Uuid = make(developer.token.clone()).await;
    let revoke = |token: String, key: Uuid| {
        let app = &app;
        let path = format!("{keys}/{key}");
        async move { app.call(&token, Method::DELETE, &path, None).await.status() }
    };
    assert_eq!(revoke(developer.token.clone(), admins).await, 403);
    assert_eq!(revoke(developer.token.clone(), developers).await, 204);
    let another: Uuid = make(developer.token.clone()).await;
    assert_eq!(revoke(admin.token.clone(), another).await, 204);
    assert_eq!(revoke(admin.token.clone(), admins).await, 204);
    app.stop().await;
}
