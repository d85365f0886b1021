//! A lead's lifecycle and pipeline: its moves and history, refused moves,
//! duplicates however written, and clinical review.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, json_of, new_lead, problem};

on_both_backends!(
    a_lead_moves_through_its_lifecycle_and_pipeline_and_keeps_its_history,
    refused_moves_name_the_allowed_ones,
    duplicates_are_found_by_email_or_phone_however_written,
    only_reviewers_decide_a_clinical_review,
);

async fn a_lead_moves_through_its_lifecycle_and_pipeline_and_keeps_its_history(
    backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let lead = app.create_lead(&sdr.token, facility, new_lead()).await;
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["stage"], "HHQ Started");
    assert_eq!(
        lead["owner_id"],
        json!(sdr.account_id),
        "the creator owns it"
    );
    assert_eq!(lead["interests"][0]["procedure"], "Rhinoplasty");
    let factors: Vec<&str> = lead["score_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["factor"].as_str().unwrap())
        .collect();
    assert_eq!(
        factors,
        ["readiness", "source", "interests", "engagement", "recency"]
    );
    // Warm 20 + Newsletter 5 + one high-priority interest 10 + today 5.
    assert_eq!(lead["score"], 40);

    for status in ["contacted", "qualified", "booked", "completed"] {
        if status == "booked" {
            approve(&app, facility, &lead).await;
        }
        let moved = json_of(app.move_lead(&sdr.token, &lead, status).await).await;
        assert_eq!(moved["status"], status);
    }

    let base = format!("/facilities/{facility}/leads/{}", id(&lead));
    let pipelines = json_of(
        app.call(
            &sdr.token,
            Method::GET,
            &format!("/facilities/{facility}/pipelines?kind=lead"),
            None,
        )
        .await,
    )
    .await;
    let signed = pipelines["items"][0]["stages"][1].clone();
    assert_eq!(signed["name"], "HHQ Signed");
    let moved = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &format!("{base}/stage"),
            Some(json!({ "stage_id": signed["id"] })),
        )
        .await,
    )
    .await;
    assert_eq!(moved["stage"], "HHQ Signed");

    let called = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &format!("{base}/calls"),
            Some(json!({ "outcome": "Left voicemail" })),
        )
        .await,
    )
    .await;
    assert_eq!(called["number_of_calls"], 1);
    assert_eq!(called["outcome"], "Left voicemail");
    assert_eq!(called["score"], 43, "a call adds 3 points of engagement");
    assert!(called["first_contacted_at"].is_string());

    the_history_lists_every_move_newest_first(&app, &sdr.token, sdr.account_id, &base, &signed)
        .await;
    app.stop().await;
}

/// Approves `lead`'s clinical review as a reviewer, as booking it needs.
async fn approve(app: &TestApp, facility: Uuid, lead: &Value) {
    let reviewer = app
        .person(&[(Some(facility), Role::ClinicalReviewer)])
        .await;
    let review = format!("/facilities/{facility}/leads/{}/review", id(lead));
    let decision = Some(json!({ "decision": "approve" }));
    json_of(
        app.call(&reviewer.token, Method::POST, &review, decision)
            .await,
    )
    .await;
}

async fn the_history_lists_every_move_newest_first(
    app: &TestApp,
    token: &str,
    sdr: Uuid,
    base: &str,
    signed: &Value,
) {
    let history = json_of(
        app.call(token, Method::GET, &format!("{base}/history"), None)
            .await,
    )
    .await;
    let moves: Vec<(Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from_status"].clone(), m["to_status"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (Value::Null, Value::Null),
            (json!("booked"), json!("completed")),
            (json!("qualified"), json!("booked")),
            (json!("contacted"), json!("qualified")),
            (json!("new"), json!("contacted")),
            (Value::Null, json!("new")),
        ],
        "newest first: the stage move, the four status moves, the creation"
    );
    assert_eq!(history["items"][0]["to_stage_id"], signed["id"]);
    assert_eq!(history["items"][0]["actor_id"], json!(sdr));
}

async fn refused_moves_name_the_allowed_ones(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let refused = problem(
        app.move_lead(&admin.token, &lead, "booked").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        refused["allowed"],
        json!(["contacted", "archived", "disqualified"])
    );
    assert!(refused["detail"].as_str().unwrap().contains("`new`"));

    json_of(app.move_lead(&admin.token, &lead, "archived").await).await;
    let final_state = problem(
        app.move_lead(&admin.token, &lead, "contacted").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(final_state["allowed"], json!([]));

    let unknown = app.move_lead(&admin.token, &lead, "won").await;
    assert_eq!(unknown.status(), 422, "an unknown status is bad input");
    app.stop().await;
}

async fn duplicates_are_found_by_email_or_phone_however_written(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let other = app.facility("Elsewhere").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let mut first = new_lead();
    first["email"] = json!("Same.Person@Example.org");
    first["phone"] = json!("+1 (555) 010-7777");
    let lead = app.create_lead(&staff.token, facility, first).await;

    let mut by_email = new_lead();
    by_email["email"] = json!("same.person@example.org ");
    let path = format!("/facilities/{facility}/leads");
    let refused = problem(
        app.call(&staff.token, Method::POST, &path, Some(by_email))
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains(&id(&lead).to_string())
    );
    assert!(refused["detail"].as_str().unwrap().contains("email"));

    let mut by_phone = new_lead();
    by_phone["phone"] = json!("+15550107777");
    let refused = problem(
        app.call(&staff.token, Method::POST, &path, Some(by_phone))
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("phone"));

    // Another facility's leads are not duplicates of this one's.
    let other_admin = app.person(&[(Some(other), Role::Admin)]).await;
    let mut same = new_lead();
    same["email"] = json!("same.person@example.org");
    app.create_lead(&other_admin.token, other, same).await;

    // Changing a lead to another lead's email is refused too.
    let second = app.create_lead(&staff.token, facility, new_lead()).await;
    let refused = app
        .call(
            &staff.token,
            Method::PATCH,
            &format!("{path}/{}", id(&second)),
            Some(json!({ "email": "SAME.person@example.org" })),
        )
        .await;
    assert_eq!(refused.status(), 409);
    app.stop().await;
}

async fn only_reviewers_decide_a_clinical_review(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let reviewer = app
        .person(&[(Some(facility), Role::ClinicalReviewer)])
        .await;
    let lead = app.create_lead(&staff.token, facility, new_lead()).await;
    assert_eq!(lead["review"]["status"], "not_required");
    let review = format!("/facilities/{facility}/leads/{}/review", id(&lead));
    let not_pending = app
        .call(
            &reviewer.token,
            Method::POST,
            &review,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(not_pending.status(), 409);

    json_of(app.move_lead(&staff.token, &lead, "contacted").await).await;
    let qualified = json_of(app.move_lead(&staff.token, &lead, "qualified").await).await;
    assert_eq!(qualified["review"]["status"], "pending");
    let pending = json_of(
        app.call(
            &reviewer.token,
            Method::GET,
            &format!("/facilities/{facility}/leads?review=pending"),
            None,
        )
        .await,
    )
    .await;
    let ids: Vec<Uuid> = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(ids, [id(&lead)]);

    only_a_reviewer_decides_once_with_a_reason(&app, &staff, &reviewer, &review).await;
    app.stop().await;
}

/// Staff do not decide; a decline needs a reason; a review is decided
/// once.
async fn only_a_reviewer_decides_once_with_a_reason(
    app: &TestApp,
    staff: &Person,
    reviewer: &Person,
    review: &str,
) {
    let staff_decides = app
        .call(
            &staff.token,
            Method::POST,
            review,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(staff_decides.status(), 403, "staff have no lead:review");
    let no_reason = problem(
        app.call(
            &reviewer.token,
            Method::POST,
            review,
            Some(json!({ "decision": "decline" })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(no_reason["errors"][0]["field"], "reason");
    let declined = json_of(
        app.call(
            &reviewer.token,
            Method::POST,
            review,
            Some(json!({ "decision": "decline", "reason": "Contraindicated: anticoagulants" })),
        )
        .await,
    )
    .await;
    assert_eq!(declined["review"]["status"], "declined");
    assert_eq!(
        declined["review"]["reason"],
        "Contraindicated: anticoagulants"
    );
    assert_eq!(
        declined["review"]["reviewed_by"],
        json!(reviewer.account_id)
    );
    let again = app
        .call(
            &reviewer.token,
            Method::POST,
            review,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(again.status(), 409, "a review is decided once");
}
