//! AI qualification logs: each interaction logged and audited without its
//! text, and `needs_review` puts the lead up for clinical review.

use carebase::audit::AuditFilter;
use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, assert_no_plaintext, id, ids, json_of, new_lead, of_type, problem,
};

on_both_backends!(ai_interactions_are_logged_and_needs_review_flags_the_lead,);

async fn ai_interactions_are_logged_and_needs_review_flags_the_lead(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let other_sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let lead = app.create_lead(&sdr.token, facility, new_lead()).await;
    let lead_path = format!("/facilities/{facility}/leads/{}", id(&lead));
    let path = format!("{lead_path}/ai-qualifications");

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
        app.get_json(&sdr.token, &lead_path).await["review"]["status"],
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
        app.get_json(&sdr.token, &lead_path).await["review"]["status"],
        "pending",
        "needs_review puts the lead up for clinical review"
    );

    bad_and_unassigned_logs_are_refused(&app, &sdr.token, &other_sdr.token, &path).await;
    let listed = app.get_json(&other_sdr.token, &path).await;
    assert_eq!(ids(&listed), [id(&first), id(&second)], "nothing else");
    assert_eq!(
        listed["items"][1]["prompt"],
        "Visitor: I bruise easily after my last rhinoplasty"
    );

    the_log_is_audited_without_its_text(&app, &lead, backend).await;
    app.stop().await;
}

/// An interaction with the model about a bruising visitor.
fn interaction(outcome: &str, confidence: f64) -> Value {
    json!({
        "prompt": "Visitor: I bruise easily after my last rhinoplasty",
        "response": "Flagging for a clinician: possible bleeding disorder",
        "model": "qualifier-2026-11",
        "outcome": outcome,
        "confidence": confidence,
    })
}

/// A confidence out of range is bad input; an SDR logs nothing for a lead
/// not assigned to them.
async fn bad_and_unassigned_logs_are_refused(
    app: &TestApp,
    sdr: &str,
    other_sdr: &str,
    path: &str,
) {
    let bad = problem(
        app.call(sdr, Method::POST, path, Some(interaction("qualified", 1.5)))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "confidence");
    let refused = app
        .call(
            other_sdr,
            Method::POST,
            path,
            Some(interaction("qualified", 0.5)),
        )
        .await;
    assert_eq!(refused.status(), 403, "the lead is not assigned to them");
}

/// Every log and read is audited against the lead as PHI, the review it
/// asked for too, and no text of it is in the log or stored in clear.
async fn the_log_is_audited_without_its_text(app: &TestApp, lead: &Value, backend: TestBackend) {
    let logged = app.stored_events(of_type("ai_qualification")).await;
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
    assert!(logged.iter().all(|e| e.lead_id == Some(id(lead))));
    assert!(
        logged
            .iter()
            .all(|e| e.compliance_flags.contains(&"phi".to_owned()))
    );
    let review = app
        .stored_events(AuditFilter {
            lead_id: Some(id(lead)),
            resource_type: Some("lead".to_owned()),
            ..AuditFilter::default()
        })
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
}
