//! Realtime delivery: WebSocket events reach a conversation's participants
//! only, across two servers, and stop when the participant leaves or loses
//! the facility.

use std::time::Duration;

use carebase::policy::Role;
use reqwest::Method;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{Socket, TestApp, TestBackend, Ward, id, json_of};

on_both_backends!(
    sockets_receive_their_conversations_events_and_outsiders_nothing,
    events_reach_sockets_on_another_server,
    a_socket_follows_only_conversations_of_facilities_it_still_belongs_to,
);

async fn sockets_receive_their_conversations_events_and_outsiders_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    let mut nurse = Socket::open(app.addr, &w.nurse.token).await;
    let mut spy = Socket::open(app.addr, &outsider.token).await;
    let ack = nurse.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([w.conversation]));
    let ack = spy.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([]));
    assert_eq!(ack["refused"], json!([w.conversation]));
    the_nurse_hears_posts_edits_and_typing(&app, &w, &mut nurse).await;
    let mut physician = the_reader_sends_a_receipt(&app, &w).await;
    // Typing through the socket reaches the others.
    nurse
        .send(json!({"type": "typing", "conversation_id": w.conversation}))
        .await;
    assert_eq!(
        physician.expect("typing").await["account_id"],
        json!(w.nurse.account_id)
    );
    assert!(
        spy.next(Duration::from_millis(500)).await.is_none(),
        "the outsider hears nothing"
    );
    removal_stops_the_socket_at_once(&app, &w, &mut nurse, &mut physician).await;
    a_socket_needs_a_token_and_a_role_that_reads(&app, &w).await;
    app.stop().await;
}

async fn the_nurse_hears_posts_edits_and_typing(app: &TestApp, w: &Ward, nurse: &mut Socket) {
    let sent = json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "Bloods are back"})),
        )
        .await,
    )
    .await;
    let event = nurse.expect("message.created").await;
    assert_eq!(event["conversation_id"], json!(w.conversation));
    assert_eq!(event["message"]["body"], "Bloods are back");
    assert_eq!(event["message"]["seq"], sent["seq"]);
    json_of(
        app.call(
            &w.physician.token,
            Method::PATCH,
            &w.path(&format!("/messages/{}", id(&sent))),
            Some(json!({"body": "Bloods are back: normal"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        nurse.expect("message.edited").await["message"]["body"],
        "Bloods are back: normal"
    );
    assert_eq!(
        app.call(&w.physician.token, Method::POST, &w.path("/typing"), None)
            .await
            .status(),
        202
    );
    assert_eq!(
        nurse.expect("typing").await["account_id"],
        json!(w.physician.account_id)
    );
    json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 0})),
        )
        .await,
    )
    .await;
}

/// The nurse reads; the physician's socket gets the receipt.
async fn the_reader_sends_a_receipt(app: &TestApp, w: &Ward) -> Socket {
    let mut physician = Socket::open(app.addr, &w.physician.token).await;
    physician.subscribe(&[w.conversation]).await;
    json_of(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 1})),
        )
        .await,
    )
    .await;
    let receipt = physician.expect("read").await;
    assert_eq!(receipt["account_id"], json!(w.nurse.account_id));
    assert_eq!(receipt["seq"], 1);
    physician
}

/// Removed from the conversation: the nurse's socket stops at once, and
/// catches up by cursor on what it may still read... which is nothing.
async fn removal_stops_the_socket_at_once(
    app: &TestApp,
    w: &Ward,
    nurse: &mut Socket,
    physician: &mut Socket,
) {
    app.call(
        &w.physician.token,
        Method::DELETE,
        &w.path(&format!("/participants/{}", w.nurse.account_id)),
        None,
    )
    .await;
    let left = physician.expect("participant.left").await;
    assert_eq!(left["account_id"], json!(w.nurse.account_id));
    json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "after"})),
        )
        .await,
    )
    .await;
    physician.expect("message.created").await;
    loop {
        match nurse.next(Duration::from_millis(500)).await {
            None => break,
            Some(event) => assert_ne!(event["type"], "message.created", "{event}"),
        }
    }
}

/// A socket without a token, or with a role that reads no conversation.
async fn a_socket_needs_a_token_and_a_role_that_reads(app: &TestApp, w: &Ward) {
    let unauthenticated = app.client.get(app.url("/realtime")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let no_access = app
        .person(&[(Some(w.facility), Role::ResearchPartner)])
        .await;
    let refused = app
        .client
        .get(app.url("/realtime"))
        .bearer_auth(&no_access.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

async fn events_reach_sockets_on_another_server(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = app.telehealth_clinic().await;
    let (link, conversation) = c.linked(&app).await;
    // A second server on the same database (on SQLite, the same process
    // shares nothing: the test then shows a single server's delivery).
    let second = match backend {
        TestBackend::Postgres => Some(app.second_server().await),
        TestBackend::Sqlite => None,
    };
    let socket_addr = second.as_ref().map(|s| s.addr).unwrap_or(app.addr);
    let mut doctor = Socket::open(socket_addr, &c.doctor.token).await;
    assert_eq!(
        doctor.subscribe(&[conversation]).await["conversation_ids"],
        json!([conversation])
    );
    // Posted on the first server, heard on the second.
    json_of(
        c.post(
            &app,
            &c.patient,
            conversation,
            json!({"body": "Rash is spreading"}),
        )
        .await,
    )
    .await;
    let event = doctor.expect("message.created").await;
    assert_eq!(event["message"]["body"], "Rash is spreading");
    assert_eq!(event["message"]["sender_id"], json!(c.patient.account_id));
    // Ending the link reaches the other server too: the doctor's socket
    // is told and hears nothing more of the conversation.
    json_of(c.move_link(&app, &c.patient, link, "ended").await).await;
    assert_eq!(
        doctor.expect("participant.left").await["account_id"],
        json!(c.doctor.account_id)
    );
    assert!(doctor.next(Duration::from_millis(300)).await.is_none());
    if let Some(second) = second {
        second.stop().await;
    }
    app.stop().await;
}

/// Taking part is not enough once the account's role in the facility is
/// revoked: a socket (of an account still a member elsewhere) is refused
/// the conversation.
async fn a_socket_follows_only_conversations_of_facilities_it_still_belongs_to(
    backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let elsewhere = app.facility("Elsewhere").await;
    let membership = app
        .membership_of(&w.admin.token, w.facility, w.nurse.account_id)
        .await;
    let sysadmin = app.system_admin().await;
    app.grant_role(&sysadmin.token, elsewhere, w.nurse.account_id, "nurse")
        .await;
    app.revoke_membership(&w.admin.token, w.facility, membership)
        .await;
    let nurse = app.sign_in(&w.nurse.email).await;
    let mut socket = Socket::open(app.addr, nurse["access_token"].as_str().unwrap()).await;
    let ack = socket.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([]));
    assert_eq!(ack["refused"], json!([w.conversation]));
    app.stop().await;
}
