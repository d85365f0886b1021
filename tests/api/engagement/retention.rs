//! Retention that acts: a communication's content past its category's
//! period is purged (the record, its metadata and the audit log stay),
//! once; a dry run reports the same counts and changes nothing; a category
//! under a hold is never purged.

use carebase::audit::AuditAction;
use carebase::crm::retention::{self, RetentionSettings};
use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, json_of, new_lead, of_type};

on_both_backends!(content_past_its_period_is_purged_and_the_record_kept,);

const DAY: i64 = 24 * 3600;

async fn content_past_its_period_is_purged_and_the_record_kept(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let other = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let n8n = app.api_key(facility, &["communication:log"]).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let path = format!("/facilities/{facility}/communications");
    let now = Timestamp::now();
    let mut logged = Vec::new();
    for (category, days_ago) in [
        ("marketing", 800),
        ("marketing", 10),
        ("clinical", 4000),
        ("legal", 9000),
    ] {
        let body = json!({"idempotency_key": format!("{category}-{days_ago}"), "lead_id": lead["id"],
            "channel": "email", "direction": "outbound", "contains_phi": false,
            "summary": format!("Spring offer {days_ago}"), "retention_category": category,
            "occurred_at": now.plus_secs(-days_ago * DAY).to_string()});
        let response = app.call(&n8n, Method::POST, &path, Some(body)).await;
        assert_eq!(response.status(), 201);
        logged.push(json_of(response).await);
    }
    let report_path = format!("/facilities/{facility}/retention");
    let due = json!({"clinical": 1, "legal": 0, "marketing": 1, "operational": 0});
    let dry = app.get_json(&admin.token, &report_path).await;
    assert_eq!(dry, json!({"communications": due, "dry_run": true}));
    assert_eq!(
        app.get_json(&admin.token, &report_path).await,
        dry,
        "a dry run changes nothing"
    );
    let events_before = app.stored_events(Default::default()).await.len();

    let settings = RetentionSettings::default();
    let db = &app.state.db;
    let done = retention::purge(db, &app.state.keyring, &settings, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&done.communications).unwrap(), due);
    let again = retention::purge(db, &app.state.keyring, &settings, Timestamp::now())
        .await
        .unwrap();
    assert!(again.communications.values().all(|n| *n == 0), "once");
    let after = app.get_json(&admin.token, &report_path).await;
    assert!(
        after["communications"]
            .as_object()
            .unwrap()
            .values()
            .all(|n| n == 0)
    );

    summaries_after_the_purge(&app, &admin.token, &path, &logged).await;
    let purged = app.stored_events(of_type("communication_content")).await;
    assert_eq!(purged.len(), 2);
    assert!(purged.iter().all(|e| e.action == AuditAction::Delete
        && e.lead_id == Some(id(&lead))
        && e.actor_job.as_deref() == Some(retention::JOB)));
    let events_after = app.stored_events(Default::default()).await.len();
    assert!(
        events_after >= events_before + 2,
        "the audit log is kept whole"
    );

    only_its_administrators_read_the_report(&app, &admin.token, facility, other).await;
    app.stop().await;
}

/// The records stay; only the content past its period is gone.
async fn summaries_after_the_purge(app: &TestApp, token: &str, path: &str, logged: &[Value]) {
    let listed = app.get_json(token, path).await;
    let summary_of = |logged: &Value| -> Value {
        let found = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == logged["id"]);
        found.expect("the record stays")["summary"].clone()
    };
    assert_eq!(summary_of(&logged[0]), "", "past its period");
    assert_eq!(summary_of(&logged[1]), "Spring offer 10");
    assert_eq!(summary_of(&logged[2]), "");
    assert_eq!(summary_of(&logged[3]), "Spring offer 9000", "under a hold");
}

/// Other roles are refused the report, other facilities hidden.
async fn only_its_administrators_read_the_report(
    app: &TestApp,
    admin: &str,
    facility: Uuid,
    other: Uuid,
) {
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let refused = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("/facilities/{facility}/retention"),
            None,
        )
        .await;
    assert_eq!(refused.status(), 403);
    let elsewhere = format!("/facilities/{other}/retention");
    let hidden = app.call(admin, Method::GET, &elsewhere, None).await;
    assert_eq!(hidden.status(), 404);
}
