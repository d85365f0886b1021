//! `log_communication` as n8n calls it with an API key: idempotent,
//! counted on the lead, audited without its content, reaching only what
//! the caller may, and sealed.

use carebase::audit::{AuditFilter, StoredEvent};
use carebase::policy::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, assert_no_plaintext, id, ids, json_of, new_lead, new_patient, of_type,
    problem,
};

on_both_backends!(
    n8n_logs_a_communication_once_per_idempotency_key,
    communications_reach_only_what_the_caller_may_and_stay_sealed,
);

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
    let n8n = app.api_key(facility, &["communication:log"]).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let path = format!("/facilities/{facility}/communications");
    let first = a_retry_is_answered_not_repeated(&app, &n8n, &path, &lead).await;
    let a = deliveries_at_once_are_logged_once(&app, &n8n, &path, &lead).await;
    the_event_names_the_key_and_no_content(&app, &first, &lead).await;
    the_seed_view_shows_the_retention_category(&app, &first, &a).await;
    replies_and_contacts_count_on_the_lead(&app, facility, &admin.token, &n8n, &path, &lead).await;
    nothing_is_logged_without_the_scope_or_elsewhere(&app, facility, other, &n8n, &path, &lead)
        .await;
    app.stop().await;
}

/// The first delivery logs it; a retry is answered, not repeated; the key
/// reused for something else is a conflict. Answers what was logged.
async fn a_retry_is_answered_not_repeated(
    app: &TestApp,
    n8n: &str,
    path: &str,
    lead: &Value,
) -> Value {
    let body = communication(id(lead), "n8n-exec-4411", "inbound");

    let first = app.call(n8n, Method::POST, path, Some(body.clone())).await;
    assert_eq!(first.status(), 201);
    let first = first.json::<Value>().await.unwrap();
    assert_eq!(first["lead_id"], json!(id(lead)));
    assert!(first["api_key_id"].is_string());
    let retry = app.call(n8n, Method::POST, path, Some(body.clone())).await;
    assert_eq!(retry.status(), 200, "a retry is answered, not repeated");
    let retry = retry.json::<Value>().await.unwrap();
    assert_eq!(retry, first);
    let mut changed = body.clone();
    changed["summary"] = json!("Something else entirely");
    let reused = problem(
        app.call(n8n, Method::POST, path, Some(changed)).await,
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
    first
}

/// Deliveries of one message at once: it is logged once, all get it.
/// Answers what was logged.
async fn deliveries_at_once_are_logged_once(
    app: &TestApp,
    n8n: &str,
    path: &str,
    lead: &Value,
) -> Value {
    let again = communication(id(lead), "n8n-exec-4413", "inbound");
    let deliveries = futures_util::future::join_all(
        (0..4).map(|_| app.call(n8n, Method::POST, path, Some(again.clone()))),
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
    a
}

/// One event for each communication: the key is the actor, and the changes
/// name no content.
async fn the_event_names_the_key_and_no_content(app: &TestApp, first: &Value, lead: &Value) {
    let logged = app.stored_events(of_type("communication")).await;
    assert_eq!(logged.len(), 2, "one event for each communication");
    let event = logged
        .iter()
        .find(|e| e.resource_id == Some(id(first)))
        .unwrap();
    assert_eq!(event.resource_id, Some(id(first)));
    assert_eq!(event.lead_id, Some(id(lead)));
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
}

/// Seed 000's view shows it with its retention category.
async fn the_seed_view_shows_the_retention_category(app: &TestApp, first: &Value, a: &Value) {
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
    assert_eq!(shown, [expected(id(first)), expected(id(a))]);
}

/// Each inbound communication is a reply; an outbound one is the first and
/// last contact.
async fn replies_and_contacts_count_on_the_lead(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    n8n: &str,
    path: &str,
    lead: &Value,
) {
    let replied = app
        .get_json(token, &format!("/facilities/{facility}/leads/{}", id(lead)))
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
            n8n,
            Method::POST,
            path,
            Some(communication(id(lead), "n8n-exec-4412", "outbound")),
        )
        .await,
    )
    .await;
    let contacted = app
        .get_json(token, &format!("/facilities/{facility}/leads/{}", id(lead)))
        .await;
    assert_eq!(contacted["replies"], 2);
    assert_eq!(contacted["first_contacted_at"], outbound["occurred_at"]);
    assert_eq!(contacted["last_contacted_at"], outbound["occurred_at"]);
}

/// Without the scope, or for another facility's lead, nothing is logged.
async fn nothing_is_logged_without_the_scope_or_elsewhere(
    app: &TestApp,
    facility: Uuid,
    other: Uuid,
    n8n: &str,
    path: &str,
    lead: &Value,
) {
    let reader = app.api_key(facility, &["lead:read"]).await;
    problem(
        app.call(
            &reader,
            Method::POST,
            path,
            Some(communication(id(lead), "n8n-exec-9", "inbound")),
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
            n8n,
            Method::POST,
            path,
            Some(communication(id(&foreign), "n8n-exec-10", "inbound")),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            n8n,
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
}

async fn communications_reach_only_what_the_caller_may_and_stay_sealed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let other = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let n8n = app.api_key(facility, &["communication:log"]).await;
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
    let with_patient = a_key_logs_with_any_patient_of_its_facility(
        &app,
        &n8n,
        &path,
        &patient,
        &foreign_patient,
        &lead,
    )
    .await;
    the_sdr_sees_the_leads_communications_only(&app, &sdr.token, &path, &patient, &with_lead).await;
    let all = app.get_json(&admin.token, &path).await;
    assert_eq!(ids(&all), [id(&with_lead), id(&with_patient)]);
    let of_patient = app
        .get_json(&admin.token, &format!("{path}?patient_id={}", id(&patient)))
        .await;
    assert_eq!(ids(&of_patient), [id(&with_patient)]);
    let of_lead = app
        .get_json(&admin.token, &format!("{path}?lead_id={}", id(&lead)))
        .await;
    assert_eq!(ids(&of_lead), [id(&with_lead)]);
    let paged = app.get_json(&admin.token, &format!("{path}?limit=1")).await;
    assert_eq!(ids(&paged), [id(&with_lead)]);
    assert_eq!(paged["next_cursor"], json!(id(&with_lead)));
    problem(
        app.call(&n8n, Method::GET, &path, None).await,
        403,
        "forbidden",
    )
    .await;

    reads_are_audited_and_nothing_is_in_clear(&app, &patient, &with_patient, backend).await;
    app.stop().await;
}

/// A communication with `patient`, logged under `key`.
fn to_patient(key: &str, patient: Uuid) -> Value {
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
}

/// A key that logs communications may log one with any patient of its
/// facility, not another facility's, and not with a lead too. Answers what
/// was logged.
async fn a_key_logs_with_any_patient_of_its_facility(
    app: &TestApp,
    n8n: &str,
    path: &str,
    patient: &Value,
    foreign_patient: &Value,
    lead: &Value,
) -> Value {
    let with_patient = app
        .call(
            n8n,
            Method::POST,
            path,
            Some(to_patient("patient-1", id(patient))),
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
            n8n,
            Method::POST,
            path,
            Some(to_patient("patient-2", id(foreign_patient))),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    let mut both = to_patient("both", id(patient));
    both["lead_id"] = json!(id(lead));
    let refused = problem(
        app.call(n8n, Method::POST, path, Some(both)).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "patient_id");
    with_patient
}

/// The SDR reads leads, not patients: it sees the lead's communications only.
async fn the_sdr_sees_the_leads_communications_only(
    app: &TestApp,
    sdr: &str,
    path: &str,
    patient: &Value,
    with_lead: &Value,
) {
    let seen = app.get_json(sdr, path).await;
    assert_eq!(ids(&seen), [id(with_lead)]);
    assert_eq!(
        seen["items"][0]["summary"],
        "Asked whether Xarelto must stop before surgery"
    );
    problem(
        app.call(
            sdr,
            Method::GET,
            &format!("{path}?patient_id={}", id(patient)),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

/// Reads of a patient's communications are audited against the patient;
/// no summary is in the audit log or stored in clear.
async fn reads_are_audited_and_nothing_is_in_clear(
    app: &TestApp,
    patient: &Value,
    with_patient: &Value,
    backend: TestBackend,
) {
    let reads: Vec<StoredEvent> = app
        .stored_events(of_type("communication"))
        .await
        .into_iter()
        .filter(|e| serde_json::to_value(e.action).unwrap() == "read")
        .collect();
    assert!(
        reads
            .iter()
            .any(|e| e.patient_id == Some(id(patient)) && e.resource_id == Some(id(with_patient)))
    );
    let everything =
        serde_json::to_string(&app.stored_events(AuditFilter::default()).await).unwrap();
    for summary in ["Xarelto", "erythema"] {
        assert!(
            !everything.contains(summary),
            "`{summary}` is in the audit log"
        );
    }
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["Xarelto", "wound photo", "erythema"]);
}
