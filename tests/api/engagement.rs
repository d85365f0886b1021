//! A lead's engagement (seed 000): AI qualification logs, web chat sessions
//! and their idle sweep, and `log_communication` as n8n calls it with an
//! API key: idempotent, counted on the lead, audited without its content.

use carebase::access::Permission;
use carebase::access::Role;
use carebase::audit::{self, AuditFilter, StoredEvent};
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, assert_no_plaintext, id, json_of, new_lead, new_patient, problem,
};
use crate::support::matrix::Case;

on_both_backends!(
    ai_interactions_are_logged_and_needs_review_flags_the_lead,
    chat_activity_counts_towards_the_lead_and_its_score,
    idle_chat_sessions_are_closed_by_the_job_which_is_audited,
    n8n_logs_a_communication_once_per_idempotency_key,
    communications_reach_only_what_the_caller_may_and_stay_sealed,
);

/// The audit events matching `filter`, newest first.
async fn events(app: &TestApp, filter: AuditFilter) -> Vec<StoredEvent> {
    audit::search(&app.state.db, &filter, None, 1000)
        .await
        .unwrap()
}

fn of_type(resource_type: &str) -> AuditFilter {
    AuditFilter {
        resource_type: Some(resource_type.to_owned()),
        ..AuditFilter::default()
    }
}

/// An API key of `facility` with `scopes`, made by its administrator.
async fn api_key(app: &TestApp, facility: Uuid, scopes: &[&str]) -> String {
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let created = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/api-keys"),
            Some(json!({ "name": "n8n", "scopes": scopes })),
        )
        .await,
    )
    .await;
    created["token"].as_str().unwrap().to_owned()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    json_of(app.call(token, Method::GET, path, None).await).await
}

fn ids(page: &Value) -> Vec<Uuid> {
    page["items"].as_array().unwrap().iter().map(id).collect()
}

async fn ai_interactions_are_logged_and_needs_review_flags_the_lead(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let other_sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let lead = app.create_lead(&sdr.token, facility, new_lead()).await;
    let lead_path = format!("/facilities/{facility}/leads/{}", id(&lead));
    let path = format!("{lead_path}/ai-qualifications");
    let interaction = |outcome: &str, confidence: f64| {
        json!({
            "prompt": "Visitor: I bruise easily after my last rhinoplasty",
            "response": "Flagging for a clinician: possible bleeding disorder",
            "model": "qualifier-2026-11",
            "outcome": outcome,
            "confidence": confidence,
        })
    };

    let first = app
        .call(
            &sdr.token,
            Method::POST,
            &path,
            Some(interaction("qualified", 0.82)),
        )
        .await;
    assert_eq!(first.status(), 201);
    let first = first.json::<Value>().await.unwrap();
    assert_eq!(first["outcome"], "qualified");
    assert_eq!(first["confidence"], 0.82);
    assert_eq!(first["created_by"], json!(sdr.account_id));
    assert_eq!(
        get(&app, &sdr.token, &lead_path).await["review"]["status"],
        "not_required"
    );

    let second = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &path,
            Some(interaction("needs_review", 0.4)),
        )
        .await,
    )
    .await;
    assert_eq!(
        get(&app, &sdr.token, &lead_path).await["review"]["status"],
        "pending",
        "needs_review puts the lead up for clinical review"
    );

    let bad = problem(
        app.call(
            &sdr.token,
            Method::POST,
            &path,
            Some(interaction("qualified", 1.5)),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "confidence");
    let refused = app
        .call(
            &other_sdr.token,
            Method::POST,
            &path,
            Some(interaction("qualified", 0.5)),
        )
        .await;
    assert_eq!(refused.status(), 403, "the lead is not assigned to them");

    let listed = get(&app, &other_sdr.token, &path).await;
    assert_eq!(ids(&listed), [id(&first), id(&second)], "nothing else");
    assert_eq!(
        listed["items"][1]["prompt"],
        "Visitor: I bruise easily after my last rhinoplasty"
    );

    let logged = events(&app, of_type("ai_qualification")).await;
    let actions: Vec<String> = logged
        .iter()
        .map(|e| {
            serde_json::to_value(e.action)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(actions, ["read", "read", "create", "create"]);
    assert!(logged.iter().all(|e| e.lead_id == Some(id(&lead))));
    assert!(
        logged
            .iter()
            .all(|e| e.compliance_flags.contains(&"phi".to_owned()))
    );
    let review = events(
        &app,
        AuditFilter {
            lead_id: Some(id(&lead)),
            resource_type: Some("lead".to_owned()),
            ..AuditFilter::default()
        },
    )
    .await;
    assert!(review.iter().any(|e| {
        e.changes
            .as_ref()
            .is_some_and(|c| c["review"]["to"] == "pending")
    }));
    let text = serde_json::to_string(&logged).unwrap();
    assert!(
        !text.contains("bruise") && !text.contains("bleeding"),
        "{text}"
    );
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["bruise easily", "bleeding disorder"]);
    app.stop().await;
}

async fn chat_activity_counts_towards_the_lead_and_its_score(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let other_staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let lead = app.create_lead(&staff.token, facility, new_lead()).await;
    let other_lead = app.create_lead(&staff.token, facility, new_lead()).await;
    let lead_path = format!("/facilities/{facility}/leads/{}", id(&lead));
    let sessions = format!("/facilities/{facility}/chat-sessions");
    let before = lead["score"].as_i64().unwrap();

    let linked = app
        .call(
            &staff.token,
            Method::POST,
            &sessions,
            Some(json!({ "lead_id": id(&lead), "visitor_ref": "cookie-77" })),
        )
        .await;
    assert_eq!(linked.status(), 201);
    let linked = linked.json::<Value>().await.unwrap();
    assert_eq!(linked["channel"], "web chat");
    assert_eq!(linked["is_active"], true);
    let messages = |session: &Value| format!("{sessions}/{}/messages", id(session));
    let counted = json_of(
        app.call(
            &staff.token,
            Method::POST,
            &messages(&linked),
            Some(json!({ "count": 10 })),
        )
        .await,
    )
    .await;
    assert_eq!(counted["message_count"], 10);
    let chatted = get(&app, &staff.token, &lead_path).await;
    assert_eq!(chatted["chat_messages"], 10);
    assert_eq!(
        chatted["score"].as_i64().unwrap(),
        before + 5,
        "one point per two chat messages"
    );

    // An anonymous visitor chats, then turns out to be the lead.
    let anonymous = json_of(
        app.call(
            &staff.token,
            Method::POST,
            &sessions,
            Some(json!({ "channel": "instagram" })),
        )
        .await,
    )
    .await;
    json_of(
        app.call(
            &staff.token,
            Method::POST,
            &messages(&anonymous),
            Some(json!({ "count": 4 })),
        )
        .await,
    )
    .await;
    let link = format!("{sessions}/{}", id(&anonymous));
    let refused = app
        .call(
            &other_staff.token,
            Method::PATCH,
            &link,
            Some(json!({ "lead_id": id(&lead) })),
        )
        .await;
    assert_eq!(refused.status(), 403, "the lead is not theirs");
    let now_linked = json_of(
        app.call(
            &staff.token,
            Method::PATCH,
            &link,
            Some(json!({ "lead_id": id(&lead) })),
        )
        .await,
    )
    .await;
    assert_eq!(now_linked["lead_id"], json!(id(&lead)));
    let chatted = get(&app, &staff.token, &lead_path).await;
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
            Some(json!({ "lead_id": id(&other_lead) })),
        )
        .await;
    problem(relinked, 409, "conflict").await;

    let bad = problem(
        app.call(
            &staff.token,
            Method::POST,
            &messages(&linked),
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
            &messages(&linked),
            Some(json!({ "count": 1 })),
        )
        .await;
    assert_eq!(refused.status(), 403);

    let active = get(&app, &other_staff.token, &format!("{sessions}?active=true")).await;
    assert_eq!(ids(&active), [id(&linked), id(&anonymous)]);
    let of_lead = get(
        &app,
        &other_staff.token,
        &format!("{sessions}?lead_id={}", id(&lead)),
    )
    .await;
    assert_eq!(of_lead["items"].as_array().unwrap().len(), 2);
    app.stop().await;
}

async fn idle_chat_sessions_are_closed_by_the_job_which_is_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sessions = format!("/facilities/{facility}/chat-sessions");
    let days_ago = |days: i64| Timestamp::now().plus_secs(-days * 86_400).to_string();
    let old = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &sessions,
            Some(json!({ "started_at": days_ago(40) })),
        )
        .await,
    )
    .await;
    json_of(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{sessions}/{}/messages", id(&old)),
            Some(json!({ "count": 3, "at": days_ago(35) })),
        )
        .await,
    )
    .await;
    let recent = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &sessions,
            Some(json!({ "started_at": days_ago(20) })),
        )
        .await,
    )
    .await;
    let fresh = json_of(
        app.call(&admin.token, Method::POST, &sessions, Some(json!({})))
            .await,
    )
    .await;

    let closed = carebase::crm::chat::deactivate_idle(&app.state.db, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(closed, 1);
    let again = carebase::crm::chat::deactivate_idle(&app.state.db, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(again, 0, "a closed session is not closed twice");

    let inactive = get(&app, &admin.token, &format!("{sessions}?active=false")).await;
    assert_eq!(ids(&inactive), [id(&old)]);
    let active = get(&app, &admin.token, &format!("{sessions}?active=true")).await;
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

    let sweeps: Vec<StoredEvent> = events(&app, of_type("chat_session"))
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

fn communication(lead: Uuid, key: &str, direction: &str) -> Value {
    json!({
        "idempotency_key": key,
        "lead_id": lead,
        "channel": "sms",
        "direction": direction,
        "summary": "Asked whether Xarelto must stop before surgery",
        "contains_phi": true,
        "retention_category": "clinical",
    })
}

async fn n8n_logs_a_communication_once_per_idempotency_key(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let other = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let n8n = api_key(&app, facility, &["communication:log"]).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let path = format!("/facilities/{facility}/communications");
    let body = communication(id(&lead), "n8n-exec-4411", "inbound");

    let first = app
        .call(&n8n, Method::POST, &path, Some(body.clone()))
        .await;
    assert_eq!(first.status(), 201);
    let first = first.json::<Value>().await.unwrap();
    assert_eq!(first["lead_id"], json!(id(&lead)));
    assert!(first["api_key_id"].is_string());
    let retry = app
        .call(&n8n, Method::POST, &path, Some(body.clone()))
        .await;
    assert_eq!(retry.status(), 200, "a retry is answered, not repeated");
    let retry = retry.json::<Value>().await.unwrap();
    assert_eq!(retry, first);
    let mut changed = body.clone();
    changed["summary"] = json!("Something else entirely");
    let reused = problem(
        app.call(&n8n, Method::POST, &path, Some(changed)).await,
        409,
        "conflict",
    )
    .await;
    assert!(
        reused["detail"]
            .as_str()
            .unwrap()
            .contains(&id(&first).to_string())
    );

    let rows = carebase::crm::communications::Entity::find()
        .count(app.state.db.conn())
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // Deliveries of one message at once: it is logged once, all get it.
    let again = communication(id(&lead), "n8n-exec-4413", "inbound");
    let deliveries = futures_util::future::join_all(
        (0..4).map(|_| app.call(&n8n, Method::POST, &path, Some(again.clone()))),
    )
    .await;
    let mut statuses: Vec<u16> = deliveries.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 201]);
    let mut answers = Vec::new();
    for delivery in deliveries {
        answers.push(delivery.json::<Value>().await.unwrap());
    }
    let a = answers[0].clone();
    assert!(answers.iter().all(|answer| answer["id"] == a["id"]));
    let logged = events(&app, of_type("communication")).await;
    assert_eq!(logged.len(), 2, "one event for each communication");
    let event = logged
        .iter()
        .find(|e| e.resource_id == Some(id(&first)))
        .unwrap();
    assert_eq!(event.resource_id, Some(id(&first)));
    assert_eq!(event.lead_id, Some(id(&lead)));
    assert_eq!(
        serde_json::to_value(event.actor_type).unwrap(),
        "api_key",
        "the key is the actor"
    );
    assert!(event.compliance_flags.contains(&"phi".to_owned()));
    assert_eq!(
        event.changes.as_ref().unwrap(),
        &json!({
            "channel": "sms",
            "direction": "inbound",
            "retention_category": "clinical",
            "contains_phi": true,
            "idempotency_key": "n8n-exec-4411",
        })
    );

    // Seed 000's view shows it with its retention category.
    let db = app.state.db.conn();
    let view = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT communication_id, channel, direction, retention_category \
             FROM communication_audit",
        ))
        .await
        .unwrap();
    let mut shown: Vec<(Uuid, String, String, String)> = view
        .iter()
        .map(|row| {
            (
                row.try_get("", "communication_id").unwrap(),
                row.try_get("", "channel").unwrap(),
                row.try_get("", "direction").unwrap(),
                row.try_get("", "retention_category").unwrap(),
            )
        })
        .collect();
    shown.sort();
    let expected = |id| (id, "sms".into(), "inbound".into(), "clinical".into());
    assert_eq!(shown, [expected(id(&first)), expected(id(&a))]);

    let replied = get(
        &app,
        &admin.token,
        &format!("/facilities/{facility}/leads/{}", id(&lead)),
    )
    .await;
    assert_eq!(
        replied["replies"], 2,
        "each inbound communication is a reply"
    );
    assert_eq!(
        replied["score"].as_i64().unwrap(),
        lead["score"].as_i64().unwrap() + 8
    );
    assert!(replied["first_contacted_at"].is_null());
    let outbound = json_of(
        app.call(
            &n8n,
            Method::POST,
            &path,
            Some(communication(id(&lead), "n8n-exec-4412", "outbound")),
        )
        .await,
    )
    .await;
    let contacted = get(
        &app,
        &admin.token,
        &format!("/facilities/{facility}/leads/{}", id(&lead)),
    )
    .await;
    assert_eq!(contacted["replies"], 2);
    assert_eq!(contacted["first_contacted_at"], outbound["occurred_at"]);
    assert_eq!(contacted["last_contacted_at"], outbound["occurred_at"]);

    // Without the scope, or for another facility's lead, nothing is logged.
    let reader = api_key(&app, facility, &["lead:read"]).await;
    problem(
        app.call(
            &reader,
            Method::POST,
            &path,
            Some(communication(id(&lead), "n8n-exec-9", "inbound")),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let other_admin = app.person(&[(Some(other), Role::Admin)]).await;
    let foreign = app.create_lead(&other_admin.token, other, new_lead()).await;
    problem(
        app.call(
            &n8n,
            Method::POST,
            &path,
            Some(communication(id(&foreign), "n8n-exec-10", "inbound")),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            &n8n,
            Method::POST,
            &format!("/facilities/{other}/communications"),
            Some(communication(id(&foreign), "n8n-exec-11", "inbound")),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    let rows = carebase::crm::communications::Entity::find()
        .count(app.state.db.conn())
        .await
        .unwrap();
    assert_eq!(rows, 3);
    app.stop().await;
}

async fn communications_reach_only_what_the_caller_may_and_stay_sealed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let other = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let n8n = api_key(&app, facility, &["communication:log"]).await;
    let lead = app.create_lead(&sdr.token, facility, new_lead()).await;
    let patient = app.patient(facility, new_patient()).await;
    let foreign_patient = app.patient(other, new_patient()).await;
    let path = format!("/facilities/{facility}/communications");

    let with_lead = json_of(
        app.call(
            &n8n,
            Method::POST,
            &path,
            Some(communication(id(&lead), "lead-1", "inbound")),
        )
        .await,
    )
    .await;
    let to_patient = |key: &str, patient: Uuid| {
        json!({
            "idempotency_key": key,
            "patient_id": patient,
            "channel": "portal",
            "direction": "outbound",
            "summary": "Post-op wound photo reviewed: mild erythema",
            "contains_phi": true,
            "retention_category": "clinical",
            "occurred_at": "2024-11-20T10:00:00Z",
        })
    };
    let with_patient = app
        .call(
            &n8n,
            Method::POST,
            &path,
            Some(to_patient("patient-1", id(&patient))),
        )
        .await;
    assert_eq!(
        with_patient.status(),
        201,
        "a key that logs communications may log one with any patient of its facility"
    );
    let with_patient = with_patient.json::<Value>().await.unwrap();
    assert_eq!(with_patient["occurred_at"], "2024-11-20T10:00:00Z");
    problem(
        app.call(
            &n8n,
            Method::POST,
            &path,
            Some(to_patient("patient-2", id(&foreign_patient))),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    let mut both = to_patient("both", id(&patient));
    both["lead_id"] = json!(id(&lead));
    let refused = problem(
        app.call(&n8n, Method::POST, &path, Some(both)).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "patient_id");

    // The SDR reads leads, not patients: it sees the lead's communications only.
    let seen = get(&app, &sdr.token, &path).await;
    assert_eq!(ids(&seen), [id(&with_lead)]);
    assert_eq!(
        seen["items"][0]["summary"],
        "Asked whether Xarelto must stop before surgery"
    );
    problem(
        app.call(
            &sdr.token,
            Method::GET,
            &format!("{path}?patient_id={}", id(&patient)),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let all = get(&app, &admin.token, &path).await;
    assert_eq!(ids(&all), [id(&with_lead), id(&with_patient)]);
    let of_patient = get(
        &app,
        &admin.token,
        &format!("{path}?patient_id={}", id(&patient)),
    )
    .await;
    assert_eq!(ids(&of_patient), [id(&with_patient)]);
    let of_lead = get(&app, &admin.token, &format!("{path}?lead_id={}", id(&lead))).await;
    assert_eq!(ids(&of_lead), [id(&with_lead)]);
    let paged = get(&app, &admin.token, &format!("{path}?limit=1")).await;
    assert_eq!(ids(&paged), [id(&with_lead)]);
    assert_eq!(paged["next_cursor"], json!(id(&with_lead)));
    problem(
        app.call(&n8n, Method::GET, &path, None).await,
        403,
        "forbidden",
    )
    .await;

    let reads: Vec<StoredEvent> = events(&app, of_type("communication"))
        .await
        .into_iter()
        .filter(|e| serde_json::to_value(e.action).unwrap() == "read")
        .collect();
    assert!(
        reads
            .iter()
            .any(|e| e.patient_id == Some(id(&patient)) && e.resource_id == Some(id(&with_patient)))
    );
    let everything = serde_json::to_string(&events(&app, AuditFilter::default()).await).unwrap();
    for summary in ["Xarelto", "erythema"] {
        assert!(
            !everything.contains(summary),
            "`{summary}` is in the audit log"
        );
    }
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["Xarelto", "wound photo", "erythema"]);
    app.stop().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("log AI qualification of someone else's lead", Method::POST, P::LEAD_UPDATE, |r, _| {
                format!(
                    "/facilities/{}/leads/{}/ai-qualifications",
                    r.facility, r.lead
                )
            })
            .body(|_, _| {
                Some(json!({"prompt": "p", "response": "r", "model": "m", "outcome": "qualified"}))
            }),
        Case::new("list AI qualifications", Method::GET, P::LEAD_READ, |r, _| {
                format!(
                    "/facilities/{}/leads/{}/ai-qualifications",
                    r.facility, r.lead
                )
            }),
        Case::new("open a chat session for someone else's lead", Method::POST, P::LEAD_UPDATE, |r, _| format!("/facilities/{}/chat-sessions", r.facility))
            .body(|w, _| Some(json!({"lead_id": w.own.lead}))),
        Case::new("record messages of someone else's lead's chat", Method::POST, P::LEAD_UPDATE, |r, _| {
                format!(
                    "/facilities/{}/chat-sessions/{}/messages",
                    r.facility, r.chat
                )
            })
            .body(|_, _| Some(json!({"count": 1}))),
        Case::new("list chat sessions", Method::GET, P::LEAD_READ, |r, _| format!("/facilities/{}/chat-sessions", r.facility)),
        Case::new("log communication", Method::POST, P::COMMUNICATION_LOG, |r, _| format!("/facilities/{}/communications", r.facility))
            .body(|w, _| {
                Some(json!({
                    "idempotency_key": Uuid::new_v4().to_string(), "lead_id": w.own.lead,
                    "channel": "email", "direction": "outbound", "summary": "s",
                    "contains_phi": false, "retention_category": "marketing",
                }))
            }),
        Case::new("list communications", Method::GET, P::LEAD_READ, |r, _| format!("/facilities/{}/communications", r.facility)),
    ]
}
