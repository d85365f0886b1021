//! Revocation reaches open sockets: whatever ends a caller's access over
//! HTTP (sign-out, a password change or reset, revoked sessions, a ban, a
//! deleted account, a revoked or expired API key, a lost membership or
//! role) ends it on a socket already open, within a second, on every server
//! sharing the database. And a browser opens the socket with a single-use
//! ticket instead of a token in the URL.

use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{
    PASSWORD, REVOCATION_WAIT, Socket, TestApp, TestBackend, Ward, code, id, json_of,
};

on_both_backends!(
    ending_a_session_closes_its_sockets,
    an_administrator_ending_an_account_closes_its_sockets,
    a_password_reset_closes_every_socket_of_the_account,
    losing_a_role_ends_what_it_allowed,
    a_revoked_or_expired_api_key_closes_its_socket,
    a_revocation_on_one_server_closes_sockets_on_another,
    a_ticket_opens_one_socket_once,
);

/// 4001: sign in again.
const SIGNED_OUT: u16 = 4001;
/// 4003: signed in, but reads no conversation any more.
const NOT_ALLOWED: u16 = 4003;

/// A second session of the nurse, with its own token.
async fn second_session(app: &TestApp, w: &Ward) -> String {
    let tokens = app.sign_in(&w.nurse.email).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// Changing the password ends the other sessions' sockets and keeps this
/// one's; signing out then ends this one's.
async fn ending_a_session_closes_its_sockets(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let other = second_session(&app, &w).await;
    let mut here = Socket::open(app.addr, &w.nurse.token).await;
    let mut there = Socket::open(app.addr, &other).await;
    let changed = app
        .call(
            &w.nurse.token,
            Method::POST,
            "/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "another long passphrase"})),
        )
        .await;
    assert_eq!(changed.status(), 204);
    assert_eq!(there.closed_within(REVOCATION_WAIT).await, Some(SIGNED_OUT));
    assert!(here.answers().await, "the session that changed it stays");
    app.sign_out(&w.nurse.token).await;
    assert_eq!(here.closed_within(REVOCATION_WAIT).await, Some(SIGNED_OUT));
    app.stop().await;
}

/// Revoking the sessions, banning and deleting the account each close the
/// account's sockets.
async fn an_administrator_ending_an_account_closes_its_sockets(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let sysadmin = app.system_admin().await;
    let account = |rest: &str| format!("/admin/accounts/{}{rest}", w.nurse.account_id);
    let mut socket = Socket::open(app.addr, &w.nurse.token).await;
    let revoked = app
        .call(
            &sysadmin.token,
            Method::POST,
            &account("/revoke-sessions"),
            None,
        )
        .await;
    assert!(revoked.status().is_success(), "{}", revoked.status());
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(SIGNED_OUT)
    );

    let mut socket = Socket::open(app.addr, &second_session(&app, &w).await).await;
    let banned = app
        .call(
            &sysadmin.token,
            Method::POST,
            &account("/ban"),
            Some(json!({})),
        )
        .await;
    assert!(banned.status().is_success(), "{}", banned.status());
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(SIGNED_OUT)
    );

    let mut socket = Socket::open(app.addr, &w.physician.token).await;
    let deleted = app
        .call(
            &sysadmin.token,
            Method::DELETE,
            &format!("/admin/accounts/{}", w.physician.account_id),
            None,
        )
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(SIGNED_OUT)
    );
    app.stop().await;
}

async fn a_password_reset_closes_every_socket_of_the_account(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let mut socket = Socket::open(app.addr, &w.nurse.token).await;
    app.post("/auth/recover", json!({"email": w.nurse.email}))
        .await;
    let token = code(&app.mail_to(&w.nurse.email, "recovery").await);
    let reset = app
        .post(
            "/auth/reset-password",
            json!({"token": token, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(SIGNED_OUT)
    );
    app.stop().await;
}

/// Losing the role in one facility ends the subscriptions there (told with
/// an `unsubscribed` frame); losing the last role that reads conversations
/// closes the socket.
async fn losing_a_role_ends_what_it_allowed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let elsewhere = app.facility("Elsewhere").await;
    let sysadmin = app.system_admin().await;
    let also = app
        .grant_role(&sysadmin.token, elsewhere, w.nurse.account_id, "nurse")
        .await;
    let mut socket = Socket::open(app.addr, &w.nurse.token).await;
    let ack = socket.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([w.conversation]));
    let ward_role = app
        .membership_of(&w.admin.token, w.facility, w.nurse.account_id)
        .await;
    app.revoke_membership(&w.admin.token, w.facility, ward_role)
        .await;
    let told = socket.expect("unsubscribed").await;
    assert_eq!(told["conversation_ids"], json!([w.conversation]));
    json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "after the nurse left the ward"})),
        )
        .await,
    )
    .await;
    while let Some(event) = socket.next(std::time::Duration::from_millis(800)).await {
        assert_ne!(event["type"], "message.created", "{event}");
    }
    assert!(socket.answers().await, "still a nurse elsewhere");
    app.revoke_membership(&sysadmin.token, elsewhere, also)
        .await;
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(NOT_ALLOWED)
    );
    app.stop().await;
}

async fn a_revoked_or_expired_api_key_closes_its_socket(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let keys = format!("/facilities/{}/api-keys", w.facility);
    let create = |expires_at: Option<Timestamp>| {
        app.call(
            &w.admin.token,
            Method::POST,
            &keys,
            Some(
                json!({"name": "pager", "scopes": ["conversation:read"], "expires_at": expires_at}),
            ),
        )
    };
    let key = json_of(create(None).await).await;
    let mut socket = Socket::open(app.addr, key["token"].as_str().unwrap()).await;
    assert!(socket.answers().await);
    let revoked = app
        .call(
            &w.admin.token,
            Method::DELETE,
            &format!("{keys}/{}", id(&key)),
            None,
        )
        .await;
    assert!(revoked.status().is_success(), "{}", revoked.status());
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(SIGNED_OUT)
    );

    let expiring = json_of(create(Some(Timestamp::now().plus_secs(2))).await).await;
    let mut socket = Socket::open(app.addr, expiring["token"].as_str().unwrap()).await;
    assert!(socket.answers().await);
    let wait = std::time::Duration::from_secs(2) + REVOCATION_WAIT;
    assert_eq!(socket.closed_within(wait).await, Some(SIGNED_OUT));
    app.stop().await;
}

/// On PostgreSQL a second server shares the database: signing out on the
/// first closes the socket on the second. (On SQLite there is one server.)
async fn a_revocation_on_one_server_closes_sockets_on_another(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let second = match backend {
        TestBackend::Postgres => Some(app.second_server().await),
        TestBackend::Sqlite => None,
    };
    let addr = second.as_ref().map(|s| s.addr).unwrap_or(app.addr);
    let mut socket = Socket::open(addr, &w.nurse.token).await;
    assert!(socket.answers().await);
    app.sign_out(&w.nurse.token).await;
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(SIGNED_OUT)
    );
    if let Some(second) = second {
        second.stop().await;
    }
    app.stop().await;
}

/// A ticket opens a socket without `Authorization`, once; it needs a role
/// that reads conversations, and the socket it opens is revoked like any.
async fn a_ticket_opens_one_socket_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let issued = app
        .call(&w.nurse.token, Method::POST, "/realtime/tickets", None)
        .await;
    assert_eq!(issued.status(), 201);
    let ticket = json_of(issued).await["ticket"].as_str().unwrap().to_owned();
    let mut socket = Socket::open_with_ticket(app.addr, &ticket)
        .await
        .ok()
        .unwrap();
    let ack = socket.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([w.conversation]));
    assert_eq!(
        Socket::open_with_ticket(app.addr, &ticket).await.err(),
        Some(401),
        "a ticket works once"
    );
    assert_eq!(
        Socket::open_with_ticket(app.addr, "not-a-ticket")
            .await
            .err(),
        Some(401)
    );
    let no_reader = app
        .person(&[(Some(w.facility), Role::ResearchPartner)])
        .await;
    let refused = app
        .call(&no_reader.token, Method::POST, "/realtime/tickets", None)
        .await;
    assert_eq!(refused.status(), 403);
    app.sign_out(&w.nurse.token).await;
    assert_eq!(
        socket.closed_within(REVOCATION_WAIT).await,
        Some(SIGNED_OUT)
    );
    app.stop().await;
}
