//! Calendar feeds: one's own appointments, without PHI, until revoked.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, always_open, hours_ahead, id, new_patient, problem, text,
};

on_both_backends!(calendar_feeds_show_own_appointments_without_phi_until_revoked,);

async fn feed(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

async fn calendar_feeds_show_own_appointments_without_phi_until_revoked(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in("UTC").await;
    let provider = app.person(&[(Some(facility), Role::Provider)]).await;
    let colleague = app.person(&[(Some(facility), Role::Provider)]).await;
    for p in [&provider, &colleague] {
        app.set_schedule(&admin.token, facility, p.account_id, always_open())
            .await;
    }
    let patient = app.patient(facility, new_patient()).await;
    let start = hours_ahead(24);
    app.booked(&admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(start), "patient_id": patient["id"],
               "title": "Septoplasty Xylophone", "notes": "Quixotic history",
               "meeting_link": "https://meet.example/room-42", "kind": "procedure"}),
    )
    .await;
    app.booked(&admin.token,
        facility,
        json!({"provider_id": colleague.account_id, "starts_at": text(start.plus_secs(3600)), "patient_id": patient["id"]}),
    )
    .await;
    let feeds = format!("/facilities/{facility}/calendar-feeds");
    let made = the_providers_feed_shows_no_phi(&app, &feeds, &provider, &colleague).await;
    let path = made["path"].as_str().unwrap().to_owned();
    let own =
        a_patients_feed_shows_both_appointments(&app, facility, &feeds, &admin.token, &patient)
            .await;
    // Each fetch is in the audit log as the owner's read.
    let reads: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/audit-events?resource_type=calendar_feed&action=read"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reads["items"].as_array().unwrap().len(), 2, "{reads}");
    only_its_owner_or_an_administrator_revokes_a_feed(
        &app, &feeds, &made, &path, &provider, &colleague,
    )
    .await;
    // A patient unlinked from the portal account loses the feed at once.
    app.call(
        &admin.token,
        Method::PATCH,
        &format!(
            "/facilities/{facility}/patients/{}",
            patient["id"].as_str().unwrap()
        ),
        Some(json!({"portal_account_id": null})),
    )
    .await;
    problem(
        feed(&app, own["path"].as_str().unwrap()).await,
        404,
        "not-found",
    )
    .await;
}

/// Only one's own feed; it shows the appointment without PHI; the token
/// is shown once and the list leaves it out.
async fn the_providers_feed_shows_no_phi(
    app: &TestApp,
    feeds: &str,
    provider: &Person,
    colleague: &Person,
) -> Value {
    let refused = app
        .call(
            &colleague.token,
            Method::POST,
            feeds,
            Some(json!({"provider_id": provider.account_id})),
        )
        .await;
    problem(refused, 403, "forbidden").await;
    let made = app
        .call(
            &provider.token,
            Method::POST,
            feeds,
            Some(json!({"provider_id": provider.account_id})),
        )
        .await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let path = made["path"].as_str().unwrap().to_owned();
    let response = feed(app, &path).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar"),
    );
    let body = response.text().await.unwrap();
    let parsed: icalendar::Calendar = body.parse().unwrap();
    let events: Vec<&icalendar::Event> = parsed
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .collect();
    use icalendar::Component;
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0].get_summary(), Some("Procedure at MiKO Clinic"));
    assert_eq!(events[0].get_url(), Some("https://meet.example/room-42"));
    for phi in ["Xylophone", "Quixotic", "Zebediah", "Quuxworth"] {
        assert!(!body.contains(phi), "{phi} in the feed: {body}");
    }
    // The token is shown once; the list leaves it out.
    let listed: Value = app
        .call(&provider.token, Method::GET, feeds, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], made["id"]);
    assert!(listed["items"][0].get("path").is_none());
    made
}

/// Staff make no feed for a patient; the patient's own feed shows both of
/// their appointments.
async fn a_patients_feed_shows_both_appointments(
    app: &TestApp,
    facility: Uuid,
    feeds: &str,
    token: &str,
    patient: &Value,
) -> Value {
    let portal = app.person(&[(Some(facility), Role::Patient)]).await;
    let staff_try = app
        .call(
            token,
            Method::POST,
            feeds,
            Some(json!({"patient_id": patient["id"]})),
        )
        .await;
    assert_eq!(
        problem(staff_try, 422, "validation").await["errors"][0]["field"],
        "patient_id"
    );
    app.link_portal(facility, id(patient), &portal).await;
    let own = app
        .call(
            &portal.token,
            Method::POST,
            feeds,
            Some(json!({"patient_id": patient["id"]})),
        )
        .await;
    assert_eq!(own.status(), 201);
    let own: Value = own.json().await.unwrap();
    let own_body = feed(app, own["path"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(own_body.matches("BEGIN:VEVENT").count(), 2, "{own_body}");
    own
}

/// Someone else's feed is revoked only by an administrator; revoked, or
/// unknown: not found.
async fn only_its_owner_or_an_administrator_revokes_a_feed(
    app: &TestApp,
    feeds: &str,
    made: &Value,
    path: &str,
    provider: &Person,
    colleague: &Person,
) {
    let not_yours = app
        .call(
            &colleague.token,
            Method::DELETE,
            &format!("{feeds}/{}", id(made)),
            None,
        )
        .await;
    problem(not_yours, 403, "forbidden").await;
    // Revoked, or unknown: not found.
    let revoke = app
        .call(
            &provider.token,
            Method::DELETE,
            &format!("{feeds}/{}", id(made)),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    problem(feed(app, path).await, 404, "not-found").await;
    problem(
        feed(app, "/calendar/not-a-token.ics").await,
        404,
        "not-found",
    )
    .await;
}
