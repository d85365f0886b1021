//! API keys act within their scopes, their facility and their time, and
//! only while their creator holds the role.

use std::time::Duration;

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, json_of, new_patient, problem};

on_both_backends!(api_keys_act_within_their_scopes_facility_and_time,);

async fn api_keys_act_within_their_scopes_facility_and_time(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Keyed").await;
    let other = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    app.patient(facility, new_patient()).await;
    let keys = format!("/facilities/{facility}/api-keys");
    let patients = format!("/facilities/{facility}/patients");
    let (created, key) =
        a_key_acts_within_its_scopes_and_facility(&app, other, &admin, &keys, &patients).await;
    scopes_beyond_the_creators_own_are_refused(&app, facility, &admin, &keys).await;
    revoked_and_expired_keys_are_refused(&app, &admin, &keys, &patients, &created, &key).await;
    a_key_stops_working_when_its_creator_loses_the_role(&app, facility, &admin, &keys, &patients)
        .await;
    app.stop().await;
}

/// A key reads what its scope allows, in its facility only, and makes no
/// keys; its secret is never listed. Answers the key and its secret.
async fn a_key_acts_within_its_scopes_and_facility(
    app: &TestApp,
    other: Uuid,
    admin: &Person,
    keys: &str,
    patients: &str,
) -> (Value, String) {
    let created = app
        .call(
            &admin.token,
            Method::POST,
            keys,
            Some(json!({"name": "n8n", "scopes": ["patient:read"]})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    let key = created["token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cbak_"));
    assert_eq!(
        app.call(&key, Method::GET, patients, None).await.status(),
        200
    );
    problem(
        app.call(&key, Method::POST, patients, Some(new_patient()))
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
            keys,
            Some(json!({"name": "x", "scopes": ["patient:read"]})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let listed = json_of(app.call(&admin.token, Method::GET, keys, None).await).await;
    assert!(listed["items"][0]["last_used_at"].is_string());
    assert!(
        listed.to_string().find(&key[10..]).is_none(),
        "the secret is never listed"
    );
    (created, key)
}

/// Scopes beyond the creator's own permissions are refused.
async fn scopes_beyond_the_creators_own_are_refused(
    app: &TestApp,
    facility: Uuid,
    admin: &Person,
    keys: &str,
) {
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let beyond = app
        .call(
            &nurse.token,
            Method::POST,
            keys,
            Some(json!({"name": "x", "scopes": ["audit:read"]})),
        )
        .await;
    problem(beyond, 403, "forbidden").await;
    let bad_scope = problem(
        app.call(
            &admin.token,
            Method::POST,
            keys,
            Some(json!({"name": "x", "scopes": ["facility:create"]})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad_scope["errors"][0]["field"], "scopes");
}

/// Revoked: refused at once. Expired: refused.
async fn revoked_and_expired_keys_are_refused(
    app: &TestApp,
    admin: &Person,
    keys: &str,
    patients: &str,
    created: &Value,
    key: &str,
) {
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
        app.call(key, Method::GET, patients, None).await,
        401,
        "unauthorized",
    )
    .await;
    let soon = carebase::time::Timestamp::now().plus_secs(1).to_string();
    let short = json_of(
        app.call(
            &admin.token,
            Method::POST,
            keys,
            Some(json!({"name": "brief", "scopes": ["patient:read"], "expires_at": soon})),
        )
        .await,
    )
    .await;
    let short_key = short["token"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    problem(
        app.call(short_key, Method::GET, patients, None).await,
        401,
        "unauthorized",
    )
    .await;
}

/// A key stops working when its creator loses the role.
async fn a_key_stops_working_when_its_creator_loses_the_role(
    app: &TestApp,
    facility: Uuid,
    admin: &Person,
    keys: &str,
    patients: &str,
) {
    let third = json_of(
        app.call(
            &admin.token,
            Method::POST,
            keys,
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
        app.call(third_key, Method::GET, patients, None).await,
        404,
        "not-found",
    )
    .await;
}
