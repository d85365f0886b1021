//! Messages: sealed bodies, threads, edits, deletion, read state and
//! cursors, refused input, and many senders at once.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, Ward, assert_no_plaintext, id, json_of, problem,
};

on_both_backends!(
    messages_are_sealed_threaded_edited_deleted_and_paged,
    bad_messages_name_the_field_and_write_nothing,
    many_senders_at_once_never_wait_on_the_pool_they_hold,
);

async fn messages_are_sealed_threaded_edited_deleted_and_paged(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let seqs = five_messages_and_a_thread(&app, &w).await;
    pages_by_cursor_and_thread(&app, &w, &seqs).await;
    unread_counts_follow_the_read_markers(&app, &w).await;
    only_the_sender_edits(&app, &w, &seqs).await;
    // Deleting keeps the place, not the body.
    let second = format!("/messages/{}", seqs[1]);
    assert_eq!(
        app.call(&w.physician.token, Method::DELETE, &w.path(&second), None)
            .await
            .status(),
        204
    );
    let all = json_of(
        app.call(
            &w.nurse.token,
            Method::GET,
            &w.path("/messages?after=0"),
            None,
        )
        .await,
    )
    .await;
    let deleted = &all["items"][1];
    assert_eq!(deleted["seq"], 2);
    assert!(deleted["body"].is_null());
    assert!(!deleted["deleted_at"].is_null());
    problem(
        app.call(
            &w.physician.token,
            Method::PATCH,
            &w.path(&second),
            Some(json!({"body": "y"})),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    // An outsider of the facility's staff sees nothing of it.
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    problem(
        app.call(&outsider.token, Method::GET, &w.path("/messages"), None)
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        post(&app, &w, &outsider, json!({"body": "hi"})).await,
        404,
        "not-found",
    )
    .await;
    bodies_are_sealed_and_reads_audited(&app, &w, backend).await;
    app.stop().await;
}

/// Posts a message to the ward's conversation as `by`.
async fn post(app: &TestApp, w: &Ward, by: &Person, body: Value) -> reqwest::Response {
    app.call(&by.token, Method::POST, &w.path("/messages"), Some(body))
        .await
}

/// Five messages of the physician, a reply of the nurse to the second and
/// the physician's answer to it: seven in all. Answers the five's ids.
async fn five_messages_and_a_thread(app: &TestApp, w: &Ward) -> Vec<Uuid> {
    let mut seqs = Vec::new();
    for i in 1..=5 {
        let sent = json_of(
            post(
                app,
                w,
                &w.physician,
                json!({"body": format!("Dressing change {i} for Mr Quillfeather")}),
            )
            .await,
        )
        .await;
        assert_eq!(sent["seq"], i);
        assert_eq!(sent["sender_id"], json!(w.physician.account_id));
        assert_eq!(sent["sender_name"], "Test Person");
        seqs.push(id(&sent));
    }
    // A reply joins the parent's thread.
    let reply = json_of(
        post(
            app,
            w,
            &w.nurse,
            json!({"body": "Done", "parent_message_id": seqs[1], "is_sensitive": true}),
        )
        .await,
    )
    .await;
    assert_eq!(reply["thread_id"], json!(seqs[1]));
    assert_eq!(reply["is_sensitive"], true);
    let nested = json_of(
        post(
            app,
            w,
            &w.physician,
            json!({"body": "Thanks", "parent_message_id": id(&reply)}),
        )
        .await,
    )
    .await;
    assert_eq!(
        nested["thread_id"],
        json!(seqs[1]),
        "a reply to a reply stays in the thread"
    );
    seqs
}

/// The sequence numbers of the messages the nurse reads at `query`.
async fn seqs_at(app: &TestApp, w: &Ward, query: &str) -> (Vec<i64>, Value) {
    let page = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path(query), None)
            .await,
    )
    .await;
    let got = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    (got, page)
}

/// Newest first, by cursor; catching up after a cursor, oldest first.
async fn pages_by_cursor_and_thread(app: &TestApp, w: &Ward, seqs: &[Uuid]) {
    let (got, page) = seqs_at(app, w, "/messages?limit=3").await;
    assert_eq!(got, [7, 6, 5]);
    assert_eq!(page["next_cursor"], 5);
    let (got, _) = seqs_at(app, w, "/messages?limit=3&before=5").await;
    assert_eq!(got, [4, 3, 2]);
    let (got, _) = seqs_at(app, w, "/messages?after=4").await;
    assert_eq!(got, [5, 6, 7]);
    let (_, thread) = seqs_at(app, w, &format!("/messages?thread_id={}", seqs[1])).await;
    assert_eq!(thread["items"].as_array().unwrap().len(), 2);
}

/// Unread counts and read markers.
async fn unread_counts_follow_the_read_markers(app: &TestApp, w: &Ward) {
    let conversation = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    // Replying marked the nurse's own reply read; the physician's answer
    // after it is not.
    assert_eq!(conversation["unread_count"], 1);
    assert_eq!(conversation["last_seq"], 7);
    let read = w.path("/read");
    let mark = |seq: i64| {
        app.call(
            &w.nurse.token,
            Method::POST,
            &read,
            Some(json!({ "seq": seq })),
        )
    };
    let marker = json_of(mark(7).await).await;
    assert_eq!(marker["seq"], 7);
    let back = json_of(mark(2).await).await;
    assert_eq!(back["seq"], 7, "markers never move back");
    let conversation = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["unread_count"], 0);
    let refused = problem(mark(99).await, 422, "validation").await;
    assert_eq!(refused["errors"][0]["field"], "seq");
}

/// Only the sender edits; the earlier body stays for administrators.
async fn only_the_sender_edits(app: &TestApp, w: &Ward, seqs: &[Uuid]) {
    let first = format!("/messages/{}", seqs[0]);
    problem(
        app.call(
            &w.nurse.token,
            Method::PATCH,
            &w.path(&first),
            Some(json!({"body": "x"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let edited = json_of(
        app.call(
            &w.physician.token,
            Method::PATCH,
            &w.path(&first),
            Some(json!({"body": "Dressing change moved to noon"})),
        )
        .await,
    )
    .await;
    assert_eq!(edited["body"], "Dressing change moved to noon");
    assert!(!edited["edited_at"].is_null());
    problem(
        app.call(
            &w.physician.token,
            Method::GET,
            &w.path(&format!("{first}/edits")),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let history = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &w.path(&format!("{first}/edits")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(history[0]["body"], "Dressing change 1 for Mr Quillfeather");
}

/// Bodies are sealed; reads are audited with the sequence numbers read.
async fn bodies_are_sealed_and_reads_audited(app: &TestApp, w: &Ward, backend: TestBackend) {
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(
        &bytes,
        &["Mr Quillfeather", "Dressing change moved", "Bed 7 handover"],
    );
    let events = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &format!(
                "/facilities/{}/audit-events?resource_type=messages&actor_id={}",
                w.facility, w.nurse.account_id
            ),
            None,
        )
        .await,
    )
    .await;
    assert!(
        !events["items"].as_array().unwrap().is_empty(),
        "the nurse's reads are audited"
    );
    assert!(
        !events.to_string().contains("Quillfeather"),
        "and name no message text"
    );
}

async fn bad_messages_name_the_field_and_write_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let post = |body: Value| {
        let token = w.physician.token.clone();
        let path = w.path("/messages");
        let app = &app;
        async move { app.call(&token, Method::POST, &path, Some(body)).await }
    };
    for (body, field) in [
        (json!({}), "body"),
        (json!({"body": ""}), "body"),
        (json!({"body": "x".repeat(10_001)}), "body"),
        (
            json!({"body": "x", "message_type": "system"}),
            "message_type",
        ),
        (json!({"body": "x", "ai_model": "gpt"}), "ai_model"),
        (
            json!({"body": "x", "parent_message_id": Uuid::now_v7()}),
            "parent_message_id",
        ),
    ] {
        let refused = problem(post(body.clone()).await, 422, "validation").await;
        assert_eq!(refused["errors"][0]["field"], field, "{body}");
    }
    let refused = problem(
        post(json!({"body": "x", "colour": "red"})).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "colour");
    // The assistant's answers need `message:assist`.
    let answer = json!({"body": "Likely cellulitis", "message_type": "ai_response", "ai_model": "clinic-llm", "ai_confidence": 0.82});
    problem(post(answer.clone()).await, 403, "forbidden").await;
    let by_assistant = json_of(
        app.call(
            &w.admin.token,
            Method::POST,
            &w.path("/messages"),
            Some(answer),
        )
        .await,
    )
    .await;
    assert!(by_assistant["sender_id"].is_null());
    assert_eq!(by_assistant["ai_confidence"], 0.82);
    assert_eq!(
        by_assistant["seq"], 1,
        "nothing refused took a sequence number"
    );
    app.stop().await;
}

/// A handler holding a transaction must not wait for a second pooled
/// connection: with more concurrent senders than connections, that waits
/// forever (until the pool's timeout fails them with a 500). The benchmark
/// found it; this keeps it fixed.
async fn many_senders_at_once_never_wait_on_the_pool_they_hold(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.db_max_connections = 3;
        c.db_acquire_timeout_secs = 3;
    })
    .await;
    let w = app.ward().await;
    let mut sends = Vec::new();
    for i in 0..24 {
        let request = app
            .client
            .post(app.url(&w.path("/messages")))
            .bearer_auth(if i % 2 == 0 {
                &w.physician.token
            } else {
                &w.nurse.token
            })
            .json(&json!({"body": format!("note {i}")}));
        sends.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), 201);
    }
    let conversation = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["last_seq"], 24);
    app.stop().await;
}
