//! Facility conversations (seed 002): their status machine, participants,
//! observers who read but do not take part, and the administrator's
//! oversight.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{PDF, Person, TestApp, TestBackend, Ward, id, json_of, problem};

on_both_backends!(
    facility_conversations_follow_their_status_machine,
    an_observer_reads_but_does_not_take_part,
);

async fn facility_conversations_follow_their_status_machine(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    the_status_machine_ends_in_archived(&app).await;
    participants_are_members_and_the_administrator_oversees(&app).await;
    app.stop().await;
}

async fn the_status_machine_ends_in_archived(app: &TestApp) {
    let w = app.ward().await;
    let status = |by: &Person, to: &str| {
        let token = by.token.clone();
        let path = w.path("/status");
        let body = json!({ "status": to });
        async move { app.call(&token, Method::POST, &path, Some(body)).await }
    };
    assert_eq!(
        json_of(status(&w.nurse, "escalated").await).await["status"],
        "escalated"
    );
    assert_eq!(
        json_of(status(&w.nurse, "active").await).await["status"],
        "active"
    );
    assert_eq!(
        json_of(status(&w.physician, "completed").await).await["status"],
        "completed"
    );
    problem(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "late"})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let refused = problem(
        status(&w.physician, "active").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["archived"]));
    let archived = json_of(status(&w.physician, "archived").await).await;
    assert_eq!(archived["archived_by"], json!(w.physician.account_id));
    assert!(!archived["archived_at"].is_null());
}

/// Participants: members only; removal takes the conversation away.
async fn participants_are_members_and_the_administrator_oversees(app: &TestApp) {
    let w = app.ward().await;
    let stranger = app.person(&[]).await;
    let refused = problem(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/participants"),
            Some(json!({"account_id": stranger.account_id})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "account_id");
    let removed = app
        .call(
            &w.physician.token,
            Method::DELETE,
            &w.path(&format!("/participants/{}", w.nurse.account_id)),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    problem(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
        404,
        "not-found",
    )
    .await;
    // The administrator oversees every conversation of the facility.
    let all = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &format!("/facilities/{}/conversations?all=true", w.facility),
            None,
        )
        .await,
    )
    .await;
    let ids: Vec<Uuid> = all["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(
        ids,
        [w.conversation],
        "though the administrator takes no part in it"
    );
    problem(
        app.call(
            &w.nurse.token,
            Method::GET,
            &format!("/facilities/{}/conversations?all=true", w.facility),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

/// An observer reads the conversation, its messages and its calls, and
/// keeps a read marker; posting, editing, typing, files and calls are
/// refused with a 403 and write nothing.
async fn an_observer_reads_but_does_not_take_part(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let observer = app.person(&[(Some(w.facility), Role::Nurse)]).await;
    let own = a_member_steps_back_to_observer(&app, &w, &observer).await;
    let call = json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/calls"),
            Some(json!({})),
        )
        .await,
    )
    .await;
    an_observer_reads(&app, &w, &observer).await;
    let own_path = format!("/messages/{}", id(&own));
    let call_status = format!("/calls/{}/status", id(&call));
    let refusals: [(Method, &str, Option<Value>); 6] = [
        (
            Method::POST,
            "/messages",
            Some(json!({"body": "May I add something?"})),
        ),
        (
            Method::PATCH,
            &own_path,
            Some(json!({"body": "Rewritten later"})),
        ),
        (Method::POST, "/typing", None),
        (
            Method::POST,
            "/attachments/uploads",
            Some(json!({"file_name": "a.pdf", "content_type": "application/pdf", "size": 10})),
        ),
        (Method::POST, "/calls", Some(json!({}))),
        (
            Method::POST,
            &call_status,
            Some(json!({"status": "active"})),
        ),
    ];
    for (method, path, body) in refusals {
        let refused = app
            .call(&observer.token, method.clone(), &w.path(path), body)
            .await;
        let refused = problem(refused, 403, "forbidden").await;
        assert!(
            refused["detail"].as_str().unwrap().contains("observer"),
            "{method} {path}: {refused}"
        );
    }
    let with_file = app
        .post_file(
            &observer.token,
            &w.path("/attachments"),
            Some(("a.pdf", "application/pdf", PDF)),
            &[],
        )
        .await;
    problem(with_file, 403, "forbidden").await;
    nothing_was_written(&app, &w, &own, &call).await;
    app.stop().await;
}

/// The observer sees the conversation (as an observer), its messages and
/// its calls, and keeps a read marker.
async fn an_observer_reads(app: &TestApp, w: &Ward, observer: &Person) {
    let shown = json_of(
        app.call(&observer.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    let me = shown["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account_id"] == json!(observer.account_id))
        .unwrap();
    assert_eq!(me["role"], "observer");
    let listed = app
        .call(&observer.token, Method::GET, &w.path("/messages"), None)
        .await;
    assert_eq!(json_of(listed).await["items"].as_array().unwrap().len(), 1);
    let calls = app
        .call(&observer.token, Method::GET, &w.path("/calls"), None)
        .await;
    assert_eq!(calls.status(), 200);
    let read = app
        .call(
            &observer.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 1})),
        )
        .await;
    assert_eq!(json_of(read).await["seq"], 1);
}

/// `observer` joins as a member and posts, leaves, and is brought back as
/// an observer. Answers the message they posted.
async fn a_member_steps_back_to_observer(app: &TestApp, w: &Ward, observer: &Person) -> Value {
    let add = |role: &str| {
        let body = json!({"account_id": observer.account_id, "role": role});
        let path = w.path("/participants");
        let token = &w.physician.token;
        async move { app.call(token, Method::POST, &path, Some(body)).await }
    };
    assert_eq!(add("member").await.status(), 200);
    let own = json_of(
        app.call(
            &observer.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "Bed 7 is stable"})),
        )
        .await,
    )
    .await;
    let me = w.path(&format!("/participants/{}", observer.account_id));
    let left = app.call(&observer.token, Method::DELETE, &me, None).await;
    assert_eq!(left.status(), 204);
    assert_eq!(add("observer").await.status(), 200);
    own
}

async fn nothing_was_written(app: &TestApp, w: &Ward, own: &Value, call: &Value) {
    let conversation = json_of(
        app.call(&w.physician.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["last_seq"], 1, "no message was posted");
    let message = json_of(
        app.call(&w.physician.token, Method::GET, &w.path("/messages"), None)
            .await,
    )
    .await;
    assert_eq!(message["items"][0]["body"], own["body"], "nor edited");
    let calls = json_of(
        app.call(&w.physician.token, Method::GET, &w.path("/calls"), None)
            .await,
    )
    .await;
    assert_eq!(
        calls["items"].as_array().unwrap().len(),
        1,
        "no call was started"
    );
    assert_eq!(calls["items"][0]["status"], call["status"], "nor moved");
}
