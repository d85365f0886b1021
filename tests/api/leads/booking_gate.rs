//! Clinical review gates booking: a lead pending review, declined or
//! disqualified is neither booked an appointment nor moved to `booked`,
//! until a reviewer approves it or its facility switches the gate off.

use carebase::policy::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, hours_ahead, id, json_of, new_lead, problem, text};

on_both_backends!(
    a_lead_held_back_by_its_review_is_not_booked_until_approved,
    a_facility_can_switch_the_gate_off,
);

fn booking(provider: Uuid, lead: &Value, hours: i64) -> Value {
    json!({"provider_id": provider, "starts_at": text(hours_ahead(hours)), "lead_id": id(lead)})
}

/// Asserts that booking `lead` with `provider` and moving it to `booked`
/// are both refused for `reason`.
async fn refused_both(app: &TestApp, token: &str, provider: Uuid, lead: &Value, reason: &str) {
    let facility: Uuid = lead["facility_id"].as_str().unwrap().parse().unwrap();
    let booking = booking(provider, lead, 30);
    refused(app.book(token, facility, booking).await, reason).await;
    refused(app.move_lead(token, lead, "booked").await, reason).await;
}

/// Asserts `response` is the gate's refusal for `reason`, naming its rule.
async fn refused(response: reqwest::Response, reason: &str) {
    let refusal = problem(response, 409, "clinical-review-required").await;
    assert_eq!(refusal["reason"], reason);
    let detail = refusal["detail"].as_str().unwrap();
    assert!(
        detail.contains("crm.booking_requires_clinical_review"),
        "{detail}"
    );
}

async fn a_lead_held_back_by_its_review_is_not_booked_until_approved(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, _admin, provider) = app.open_clinic().await;
    let reviewer = app
        .person(&[(Some(facility), Role::ClinicalReviewer)])
        .await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let provider = provider.account_id;

    let pending = app.create_lead(&sdr.token, facility, new_lead()).await;
    app.qualified(&sdr.token, &pending, &reviewer.token, None)
        .await;
    let before = app.appointment_count().await;
    refused_both(&app, &sdr.token, provider, &pending, "review_pending").await;
    assert_eq!(
        app.appointment_count().await,
        before,
        "nothing half-written"
    );
    assert_eq!(
        app.lead_now(&sdr.token, &pending).await["status"],
        "qualified"
    );

    let declined = app.create_lead(&sdr.token, facility, new_lead()).await;
    app.qualified(&sdr.token, &declined, &reviewer.token, Some("decline"))
        .await;
    refused_both(&app, &sdr.token, provider, &declined, "review_declined").await;

    let disqualified = app.create_lead(&sdr.token, facility, new_lead()).await;
    json_of(
        app.move_lead(&sdr.token, &disqualified, "disqualified")
            .await,
    )
    .await;
    refused_both(&app, &sdr.token, provider, &disqualified, "disqualified").await;

    // Approving unblocks both ways of booking.
    json_of(
        app.call(
            &reviewer.token,
            reqwest::Method::POST,
            &format!("/facilities/{facility}/leads/{}/review", id(&pending)),
            Some(json!({"decision": "approve"})),
        )
        .await,
    )
    .await;
    let appointment = app
        .booked(&sdr.token, facility, booking(provider, &pending, 30))
        .await;
    assert_eq!(appointment["lead_id"], pending["id"]);
    assert_eq!(app.lead_now(&sdr.token, &pending).await["status"], "booked");
    let approved = app.create_lead(&sdr.token, facility, new_lead()).await;
    app.qualified(&sdr.token, &approved, &reviewer.token, Some("approve"))
        .await;
    let moved = json_of(app.move_lead(&sdr.token, &approved, "booked").await).await;
    assert_eq!(moved["status"], "booked");

    // A lead never put up for review is not held back by it: a new lead's
    // discovery call is booked (and the lead stays new).
    let new = app.create_lead(&sdr.token, facility, new_lead()).await;
    app.booked(&sdr.token, facility, booking(provider, &new, 60))
        .await;
}

async fn a_facility_can_switch_the_gate_off(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let provider = provider.account_id;
    let pending = app.create_lead(&admin.token, facility, new_lead()).await;
    app.qualified(&admin.token, &pending, &admin.token, None)
        .await;
    refused(
        app.book(&admin.token, facility, booking(provider, &pending, 30))
            .await,
        "review_pending",
    )
    .await;

    // Other settings are kept; a value that is not a boolean keeps the gate.
    app.set_facility_settings(
        &admin.token,
        facility,
        json!({"crm": {"booking_requires_clinical_review": "no"}, "theme": "dark"}),
    )
    .await;
    refused(
        app.book(&admin.token, facility, booking(provider, &pending, 30))
            .await,
        "review_pending",
    )
    .await;

    app.set_facility_settings(
        &admin.token,
        facility,
        json!({"crm": {"booking_requires_clinical_review": false}}),
    )
    .await;
    app.booked(&admin.token, facility, booking(provider, &pending, 30))
        .await;
    assert_eq!(
        app.lead_now(&admin.token, &pending).await["status"],
        "booked"
    );
    let declined = app.create_lead(&admin.token, facility, new_lead()).await;
    app.qualified(&admin.token, &declined, &admin.token, Some("decline"))
        .await;
    let moved = json_of(app.move_lead(&admin.token, &declined, "booked").await).await;
    assert_eq!(moved["status"], "booked");

    // Another facility keeps its gate.
    let (other, other_admin, other_provider) = app.open_clinic().await;
    let held = app.create_lead(&other_admin.token, other, new_lead()).await;
    app.qualified(&other_admin.token, &held, &other_admin.token, None)
        .await;
    let body = booking(other_provider.account_id, &held, 30);
    refused(
        app.book(&other_admin.token, other, body).await,
        "review_pending",
    )
    .await;
}
