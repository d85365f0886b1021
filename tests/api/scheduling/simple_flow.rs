//! Seed 001's statuses as its users work with them: the simple flow's
//! one-step moves from Scheduled, lists filtered by a status as seed 001
//! shows it, and the facility's windows for check-in and no-shows.

use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, hours_ahead, id, new_lead, problem, text};

on_both_backends!(
    scheduled_moves_straight_to_each_end_in_the_simple_flow,
    a_seed_001_status_lists_every_appointment_shown_so,
    check_in_and_no_show_wait_for_the_facilitys_window,
);

/// Books a confirmed ("Scheduled") appointment with `lead` at `start`.
async fn scheduled(
    app: &TestApp,
    token: &str,
    facility: Uuid,
    provider: Uuid,
    lead: &Value,
    start: Timestamp,
) -> Value {
    app.booked(
        token,
        facility,
        json!({"provider_id": provider, "starts_at": text(start), "lead_id": lead["id"],
               "status": "Scheduled"}),
    )
    .await
}

async fn read(app: &TestApp, token: &str, appointment: &Value) -> Value {
    let path = format!(
        "/facilities/{}/appointments/{}",
        appointment["facility_id"].as_str().unwrap(),
        id(appointment)
    );
    app.call(token, Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap()
}

async fn scheduled_moves_straight_to_each_end_in_the_simple_flow(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let book = |start| {
        scheduled(
            &app,
            &admin.token,
            facility,
            provider.account_id,
            &lead,
            start,
        )
    };
    let soon = book(Timestamp::now().plus_secs(1800)).await;
    // The full flow (the default) completes only after check-in and start.
    let refused = problem(
        app.move_appointment(&admin.token, &soon, "Completed").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        refused["allowed"],
        json!([
            "reminded",
            "checked_in",
            "no_show",
            "cancelled",
            "rescheduled"
        ])
    );
    app.set_scheduling_rules(&admin.token, facility, json!({"status_flow": "simple"}))
        .await;
    let done = app
        .move_appointment(&provider.token, &soon, "Completed")
        .await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.unwrap();
    assert_eq!(
        (&done["status"], &done["seed_001_status"]),
        (&json!("completed"), &json!("Completed"))
    );
    assert!(done["completed_at"].is_string() && done["checked_in_at"].is_null());
    a_pending_one_moves_straight_too(&app, facility, &admin.token, provider.account_id, &lead)
        .await;
    // A no-show straight from Scheduled once its start has passed.
    let missed = book(hours_ahead(5)).await;
    app.shift_appointment(&missed, -6 * 3600).await;
    let no_show = app
        .move_appointment(&provider.token, &missed, "No Show")
        .await;
    assert_eq!(no_show.status(), 200);
    assert_eq!(
        read(&app, &admin.token, &missed).await["seed_001_status"],
        "No Show"
    );
}

/// In the simple flow a pending appointment moves straight on too, the
/// refusal lists the direct moves, and completing waits for check-in's
/// window.
async fn a_pending_one_moves_straight_too(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    provider: Uuid,
    lead: &Value,
) {
    // A pending one too, and the refusal lists the direct moves.
    let pending = app
        .booked(
            token,
            facility,
            json!({"provider_id": provider, "lead_id": lead["id"],
                   "starts_at": text(hours_ahead(3))}),
        )
        .await;
    let refused = problem(
        app.move_appointment(token, &pending, "in_progress").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        refused["allowed"],
        json!([
            "confirmed",
            "cancelled",
            "rescheduled",
            "completed",
            "no_show"
        ])
    );
    // Completing it three hours ahead is too early; cancelling is not.
    let early = problem(
        app.move_appointment(token, &pending, "Completed").await,
        409,
        "too-early",
    )
    .await;
    assert_eq!(early["reason"], "check_in_window", "{early}");
    let cancelled = app.move_appointment(token, &pending, "Cancelled").await;
    assert_eq!(cancelled.status(), 200);
}

async fn a_seed_001_status_lists_every_appointment_shown_so(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let token = admin.token.as_str();
    let by_status = one_in_each_status(&app, token, facility, provider.account_id).await;
    let ids = |statuses: &[&str]| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = by_status
            .iter()
            .filter(|(s, _)| statuses.contains(s))
            .map(|(_, id)| *id)
            .collect();
        ids.sort();
        ids
    };
    let scheduled = ids(&["pending", "confirmed", "checked_in", "in_progress"]);
    for (filter, shown) in [
        ("Scheduled", scheduled),
        ("Cancelled", ids(&["cancelled", "rescheduled"])),
        ("cancelled", ids(&["cancelled"])),
        ("Completed", ids(&["completed"])),
        ("confirmed", ids(&["confirmed"])),
    ] {
        let path = format!("/facilities/{facility}/appointments?status={filter}&limit=200");
        let page: Value = app
            .call(token, Method::GET, &path, None)
            .await
            .json()
            .await
            .unwrap();
        let mut listed: Vec<Uuid> = page["items"].as_array().unwrap().iter().map(id).collect();
        listed.sort();
        assert_eq!(listed, shown, "{filter}: {page}");
    }
    let path = format!("/facilities/{facility}/appointments?status=Booked");
    let unknown = app.call(token, Method::GET, &path, None).await;
    let body = problem(unknown, 422, "validation").await;
    assert_eq!(body["errors"][0]["field"], "status", "{body}");
}

/// An appointment of one lead in each status but reminded and no-show,
/// an hour apart, with the status it is in.
async fn one_in_each_status(
    app: &TestApp,
    token: &str,
    facility: Uuid,
    provider: Uuid,
) -> Vec<(&'static str, Uuid)> {
    // Check-in from a day ahead, so each status can be reached now.
    app.set_scheduling_rules(token, facility, json!({"check_in_opens_minutes": 1440}))
        .await;
    let lead = app.create_lead(token, facility, new_lead()).await;
    let mut by_status = Vec::new();
    let walks: [(&str, &[&str]); 6] = [
        ("pending", &[]),
        ("confirmed", &[]),
        ("checked_in", &["checked_in"]),
        ("in_progress", &["checked_in", "in_progress"]),
        ("completed", &["checked_in", "in_progress", "completed"]),
        ("cancelled", &["cancelled"]),
    ];
    for (hour, (status, moves)) in walks.into_iter().enumerate() {
        let body = json!({"provider_id": provider, "lead_id": lead["id"],
            "starts_at": text(hours_ahead(hour as i64 + 1)),
            "status": if status == "pending" { "pending" } else { "confirmed" }});
        let appointment = app.booked(token, facility, body).await;
        for to in moves {
            let moved = app.move_appointment(token, &appointment, to).await;
            assert_eq!(moved.status(), 200, "{status}: {to}");
        }
        by_status.push((status, id(&appointment)));
    }
    let old = app
        .booked(
            token,
            facility,
            json!({"provider_id": provider, "lead_id": lead["id"],
                 "starts_at": text(hours_ahead(8)), "status": "confirmed"}),
        )
        .await;
    let path = format!(
        "/facilities/{facility}/appointments/{}/reschedule",
        id(&old)
    );
    let body = json!({"starts_at": text(hours_ahead(9))});
    let moved: Value = app
        .call(token, Method::POST, &path, Some(body))
        .await
        .json()
        .await
        .unwrap();
    by_status.push(("rescheduled", id(&old)));
    by_status.push(("confirmed", id(&moved)));
    by_status
}

async fn check_in_and_no_show_wait_for_the_facilitys_window(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let token = admin.token.as_str();
    let later = scheduled(
        &app,
        token,
        facility,
        provider.account_id,
        &lead,
        hours_ahead(3),
    )
    .await;
    // By default check-in opens an hour before the start; a no-show at it.
    let early = problem(
        app.move_appointment(token, &later, "checked_in").await,
        409,
        "too-early",
    )
    .await;
    assert_eq!(early["reason"], "check_in_window");
    assert!(
        early["detail"].as_str().unwrap().contains("60 minutes"),
        "{early}"
    );
    let early = problem(
        app.move_appointment(token, &later, "No Show").await,
        409,
        "too-early",
    )
    .await;
    assert_eq!(early["reason"], "no_show_window");
    assert_eq!(read(&app, token, &later).await["status"], "confirmed");
    bad_rules_are_named_and_change_nothing(&app, facility, token).await;
    app.set_scheduling_rules(
        token,
        facility,
        json!({"check_in_opens_minutes": 300, "no_show_after_minutes": 15}),
    )
    .await;
    let checked_in = app.move_appointment(token, &later, "checked_in").await;
    assert_eq!(checked_in.status(), 200);
    // Started ten minutes ago: within the 15 minutes' grace, then past it.
    let start = hours_ahead(6);
    let missed = scheduled(&app, token, facility, provider.account_id, &lead, start).await;
    let until_start = (start.as_micros() - Timestamp::now().as_micros()) / 1_000_000;
    app.shift_appointment(&missed, -until_start - 600).await;
    let grace = problem(
        app.move_appointment(token, &missed, "no_show").await,
        409,
        "too-early",
    )
    .await;
    assert!(
        grace["detail"].as_str().unwrap().contains("15 minutes"),
        "{grace}"
    );
    app.shift_appointment(&missed, -600).await;
    assert_eq!(
        app.move_appointment(token, &missed, "no_show")
            .await
            .status(),
        200
    );
}

/// Settings the scheduling rules cannot read are refused, each named, and
/// the facility keeps its settings.
async fn bad_rules_are_named_and_change_nothing(app: &TestApp, facility: Uuid, token: &str) {
    let path = format!("/facilities/{facility}");
    let bad = app
        .call(
            token,
            Method::PATCH,
            &path,
            Some(json!({"settings": {"scheduling": {
            "status_flow": "quick", "check_in_opens_minutes": -5, "no_show_after": 1}}})),
        )
        .await;
    let body = problem(bad, 422, "validation").await;
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "settings.scheduling.check_in_opens_minutes",
            "settings.scheduling.no_show_after",
            "settings.scheduling.status_flow"
        ],
        "{body}"
    );
    let facility: Value = app
        .call(token, Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(facility["settings"], json!({}), "{facility}");
}
