//! Facility conversations (seed 002): their status machine, participants,
//! and the administrator's oversight.

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, json_of, problem};

on_both_backends!(facility_conversations_follow_their_status_machine,);

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
