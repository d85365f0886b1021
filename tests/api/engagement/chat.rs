//! Web chat sessions: activity counts towards the lead and its score, and
//! idle sessions are closed by an audited job.

use carebase::audit::StoredEvent;
use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, ids, json_of, new_lead, of_type, problem};

on_both_backends!(
    chat_activity_counts_towards_the_lead_and_its_score,
    idle_chat_sessions_are_closed_by_the_job_which_is_audited,
);

async fn chat_activity_counts_towards_the_lead_and_its_score(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let other_staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let lead = app.create_lead(&staff.token, facility, new_lead()).await;
    let other_lead = app.create_lead(&staff.token, facility, new_lead()).await;
    let lead_path = format!("/facilities/{facility}/leads/{}", id(&lead));
    let sessions = format!("/facilities/{facility}/chat-sessions");

    let linked =
        a_linked_session_counts_towards_the_lead(&app, &staff, &lead, &sessions, &lead_path).await;
    let anonymous = an_anonymous_visitor_turns_out_to_be_the_lead(
        &app,
        &staff,
        &other_staff,
        &lead,
        &other_lead,
        &sessions,
        &lead_path,
    )
    .await;

    let bad = problem(
        app.call(
            &staff.token,
            Method::POST,
            &messages(&sessions, &linked),
            Some(json!({ "count": 0 })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "count");
    let refused = app
        .call(
            &other_staff.token,
            Method::POST,
            &messages(&sessions, &linked),
            Some(json!({ "count": 1 })),
        )
        .await;
    assert_eq!(refused.status(), 403);

    let active = app
        .get_json(&other_staff.token, &format!("{sessions}?active=true"))
        .await;
    assert_eq!(ids(&active), [id(&linked), id(&anonymous)]);
    let of_lead = app
        .get_json(
            &other_staff.token,
            &format!("{sessions}?lead_id={}", id(&lead)),
        )
        .await;
    assert_eq!(of_lead["items"].as_array().unwrap().len(), 2);
    app.stop().await;
}

/// The path that records a session's messages.
fn messages(sessions: &str, session: &Value) -> String {
    format!("{sessions}/{}/messages", id(session))
}

/// A session linked to the lead from the start: its messages count on the
/// lead and raise its score.
async fn a_linked_session_counts_towards_the_lead(
    app: &TestApp,
    staff: &Person,
    lead: &Value,
    sessions: &str,
    lead_path: &str,
) -> Value {
    let before = lead["score"].as_i64().unwrap();
    let linked = app
        .call(
            &staff.token,
            Method::POST,
            sessions,
            Some(json!({ "lead_id": id(lead), "visitor_ref": "cookie-77" })),
        )
        .await;
    assert_eq!(linked.status(), 201);
    let linked = linked.json::<Value>().await.unwrap();
    assert_eq!(linked["channel"], "web chat");
    assert_eq!(linked["is_active"], true);
    let counted = json_of(
        app.call(
            &staff.token,
            Method::POST,
            &messages(sessions, &linked),
            Some(json!({ "count": 10 })),
        )
        .await,
    )
    .await;
    assert_eq!(counted["message_count"], 10);
    let chatted = app.get_json(&staff.token, lead_path).await;
    assert_eq!(chatted["chat_messages"], 10);
    assert_eq!(
        chatted["score"].as_i64().unwrap(),
        before + 5,
        "one point per two chat messages"
    );
    linked
}

/// An anonymous visitor chats, then turns out to be the lead: linked by
/// someone the lead is assigned to, once.
/// Linking the session at `link` to `lead` is refused (403) to `who`.
async fn link_is_refused(app: &TestApp, who: &Person, link: &str, lead: &Value, why: &str) {
    let refused = app
        .call(
            &who.token,
            Method::PATCH,
            link,
            Some(json!({ "lead_id": id(lead) })),
        )
        .await;
    assert_eq!(refused.status(), 403, "{why}");
}

async fn an_anonymous_visitor_turns_out_to_be_the_lead(
    app: &TestApp,
    staff: &Person,
    other_staff: &Person,
    lead: &Value,
    other_lead: &Value,
    sessions: &str,
    lead_path: &str,
) -> Value {
    let before = lead["score"].as_i64().unwrap();
    let anonymous = json_of(
        app.call(
            &staff.token,
            Method::POST,
            sessions,
            Some(json!({ "channel": "instagram" })),
        )
        .await,
    )
    .await;
    json_of(
        app.call(
            &staff.token,
            Method::POST,
            &messages(sessions, &anonymous),
            Some(json!({ "count": 4 })),
        )
        .await,
    )
    .await;
    let link = format!("{sessions}/{}", id(&anonymous));
    link_is_refused(app, other_staff, &link, lead, "the lead is not theirs").await;
    let now_linked = json_of(
        app.call(
            &staff.token,
            Method::PATCH,
            &link,
            Some(json!({ "lead_id": id(lead) })),
        )
        .await,
    )
    .await;
    assert_eq!(now_linked["lead_id"], json!(id(lead)));
    let why = "a link that already holds is no answer to someone who may not make it";
    link_is_refused(app, other_staff, &link, lead, why).await;
    let chatted = app.get_json(&staff.token, lead_path).await;
    assert_eq!(chatted["chat_messages"], 14);
    assert_eq!(
        chatted["score"].as_i64().unwrap(),
        before + 6,
        "chat counts for at most 6 points"
    );
    let relinked = app
        .call(
            &staff.token,
            Method::PATCH,
            &link,
            Some(json!({ "lead_id": id(other_lead) })),
        )
        .await;
    problem(relinked, 409, "conflict").await;
    anonymous
}

async fn idle_chat_sessions_are_closed_by_the_job_which_is_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sessions = format!("/facilities/{facility}/chat-sessions");
    let (old, recent, fresh) =
        an_old_a_recent_and_a_fresh_session(&app, &admin.token, &sessions).await;
    let closed = carebase::crm::chat::deactivate_idle(&app.state.db, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(closed, 1);
    let again = carebase::crm::chat::deactivate_idle(&app.state.db, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(again, 0, "a closed session is not closed twice");

    let inactive = app
        .get_json(&admin.token, &format!("{sessions}?active=false"))
        .await;
    assert_eq!(ids(&inactive), [id(&old)]);
    let active = app
        .get_json(&admin.token, &format!("{sessions}?active=true"))
        .await;
    assert_eq!(ids(&active), [id(&recent), id(&fresh)]);
    problem(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{sessions}/{}/messages", id(&old)),
            Some(json!({ "count": 1 })),
        )
        .await,
        409,
        "conflict",
    )
    .await;

    let sweeps: Vec<StoredEvent> = app
        .stored_events(of_type("chat_session"))
        .await
        .into_iter()
        .filter(|e| e.actor_job.as_deref() == Some("chat-sessions-idle"))
        .collect();
    assert_eq!(sweeps.len(), 1, "one event per sweep that closed something");
    assert_eq!(
        serde_json::to_value(sweeps[0].actor_type).unwrap(),
        "system"
    );
    assert_eq!(sweeps[0].changes.as_ref().unwrap()["deactivated"], 1);
    assert!(sweeps[0].actor_id.is_none());
    app.stop().await;
}

/// Sessions started 40 days ago (last message 35 days ago), 20 days ago,
/// and now.
async fn an_old_a_recent_and_a_fresh_session(
    app: &TestApp,
    token: &str,
    sessions: &str,
) -> (Value, Value, Value) {
    let days_ago = |days: i64| Timestamp::now().plus_secs(-days * 86_400).to_string();
    let old = json_of(
        app.call(
            token,
            Method::POST,
            sessions,
            Some(json!({ "started_at": days_ago(40) })),
        )
        .await,
    )
    .await;
    json_of(
        app.call(
            token,
            Method::POST,
            &format!("{sessions}/{}/messages", id(&old)),
            Some(json!({ "count": 3, "at": days_ago(35) })),
        )
        .await,
    )
    .await;
    let recent = json_of(
        app.call(
            token,
            Method::POST,
            sessions,
            Some(json!({ "started_at": days_ago(20) })),
        )
        .await,
    )
    .await;
    let fresh = json_of(
        app.call(token, Method::POST, sessions, Some(json!({})))
            .await,
    )
    .await;
    (old, recent, fresh)
}
