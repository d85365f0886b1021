//! The lead follows what happens to it: calls and communications make a
//! new lead contacted, its appointment books it, the appointment's no-show
//! or completion moves it on, conversion ends its life as a lead. Each
//! move is an ordinary, audited transition naming its cause; a lead is
//! never moved where its state machine does not go.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, hours_ahead, id, ids, json_of, lead_path, new_lead, text,
};

on_both_backends!(
    calls_and_communications_make_a_new_lead_contacted,
    appointments_book_a_lead_and_their_outcome_moves_it_on,
    a_lead_is_never_moved_where_its_machine_does_not_go,
    a_converted_lead_leaves_the_active_leads_and_shows_its_patient,
);

/// Every status move in the lead's history, oldest first, with its cause.
async fn moves(app: &TestApp, token: &str, lead: &Value) -> Vec<(Value, Value, Value)> {
    let path = format!("{}/history", lead_path(lead));
    let history = json_of(app.call(token, Method::GET, &path, None).await).await;
    let mut moves: Vec<_> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["to_status"].is_null())
        .map(|m| {
            (
                m["from_status"].clone(),
                m["to_status"].clone(),
                m["cause"].clone(),
            )
        })
        .collect();
    moves.reverse();
    moves
}

async fn calls_and_communications_make_a_new_lead_contacted(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;

    let called = app.create_lead(&sdr.token, facility, new_lead()).await;
    let call_path = format!("{}/calls", lead_path(&called));
    let answer = json_of(
        app.call(&sdr.token, Method::POST, &call_path, Some(json!({})))
            .await,
    )
    .await;
    assert_eq!(
        answer["status"], "contacted",
        "the call's answer shows the move"
    );
    let step = app.newest_move(&sdr.token, &called).await;
    assert_eq!(
        (&step["from_status"], &step["to_status"], &step["cause"]),
        (&json!("new"), &json!("contacted"), &json!("call_logged"))
    );
    assert_eq!(step["actor_id"], json!(sdr.account_id));
    let events = app.status_events(&called).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["status"],
        json!({"from": "new", "to": "contacted"})
    );
    assert_eq!(events[0]["cause"]["event"], "call_logged");

    // A second call counts, and moves nothing.
    json_of(
        app.call(&sdr.token, Method::POST, &call_path, Some(json!({})))
            .await,
    )
    .await;
    let lead = app.lead_now(&sdr.token, &called).await;
    assert_eq!(
        (lead["status"].as_str(), lead["number_of_calls"].as_i64()),
        (Some("contacted"), Some(2))
    );
    assert_eq!(app.status_events(&called).await.len(), 1);

    // A reply from the lead is a conversation too; it does not date a first
    // contact the facility never made (speed-to-lead measures that).
    let wrote = app.create_lead(&sdr.token, facility, new_lead()).await;
    let logged = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &format!("/facilities/{facility}/communications"),
            Some(json!({
                "idempotency_key": Uuid::new_v4().to_string(), "lead_id": id(&wrote),
                "channel": "email", "direction": "inbound", "summary": "Asked about prices",
                "contains_phi": false, "retention_category": "marketing",
            })),
        )
        .await,
    )
    .await;
    let lead = app.lead_now(&sdr.token, &wrote).await;
    assert_eq!(lead["status"], "contacted");
    assert!(lead["first_contacted_at"].is_null(), "{lead}");
    let step = app.newest_move(&sdr.token, &wrote).await;
    assert_eq!(step["cause"], "communication_logged");
    assert_eq!(
        step["cause_id"], logged["id"],
        "the history names the communication"
    );
    let events = app.status_events(&wrote).await;
    assert_eq!(
        events[0]["cause"],
        json!({"event": "communication_logged", "id": logged["id"]})
    );
}

/// A provider's appointment with `lead`, `hours` from now, booked by `token`.
async fn book_lead(
    app: &TestApp,
    token: &str,
    facility: Uuid,
    provider: Uuid,
    lead: &Value,
    hours: i64,
) -> reqwest::Response {
    app.book(
        token,
        facility,
        json!({"provider_id": provider, "starts_at": text(hours_ahead(hours)), "lead_id": id(lead)}),
    )
    .await
}

async fn appointments_book_a_lead_and_their_outcome_moves_it_on(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;

    let missed = app.create_lead(&sdr.token, facility, new_lead()).await;
    app.qualified(&sdr.token, &missed, &admin.token, Some("approve"))
        .await;
    let response = book_lead(&app, &sdr.token, facility, provider.account_id, &missed, 30).await;
    assert_eq!(response.status(), 201);
    let appointment: Value = response.json().await.unwrap();
    let step = app.newest_move(&sdr.token, &missed).await;
    assert_eq!(
        (&step["to_status"], &step["cause"]),
        (&json!("booked"), &json!("appointment_booked"))
    );
    assert_eq!(step["cause_id"], appointment["id"]);
    json_of(
        app.move_appointment(&admin.token, &appointment, "confirmed")
            .await,
    )
    .await;
    assert_eq!(
        app.lead_now(&sdr.token, &missed).await["status"],
        "booked",
        "confirming moves nothing"
    );
    // A no-show is marked once the appointment has started.
    app.shift_appointment(&appointment, -31 * 3600).await;
    json_of(
        app.move_appointment(&admin.token, &appointment, "No Show")
            .await,
    )
    .await;
    assert_eq!(
        moves(&app, &sdr.token, &missed).await[3..],
        [
            (
                json!("qualified"),
                json!("booked"),
                json!("appointment_booked")
            ),
            (
                json!("booked"),
                json!("no_show"),
                json!("appointment_no_show")
            ),
        ]
    );
    let events = app.status_events(&missed).await;
    assert_eq!(
        events[0]["status"],
        json!({"from": "booked", "to": "no_show"})
    );
    assert_eq!(
        events[0]["cause"],
        json!({"event": "appointment_no_show", "id": appointment["id"]})
    );
    a_completed_appointment_completes_its_lead(&app, facility, &admin, &sdr, provider.account_id)
        .await;
}

/// A lead booked for an appointment that is seen is completed by it.
async fn a_completed_appointment_completes_its_lead(
    app: &TestApp,
    facility: Uuid,
    admin: &Person,
    sdr: &Person,
    provider: Uuid,
) {
    let seen = app.create_lead(&sdr.token, facility, new_lead()).await;
    app.qualified(&sdr.token, &seen, &admin.token, Some("approve"))
        .await;
    let response = book_lead(app, &admin.token, facility, provider, &seen, 40).await;
    let appointment: Value = response.json().await.unwrap();
    // Check-in opens an hour before the start: it started ten minutes ago.
    app.shift_appointment(&appointment, -(40 * 3600 + 600))
        .await;
    for status in ["confirmed", "checked_in", "in_progress", "completed"] {
        json_of(
            app.move_appointment(&admin.token, &appointment, status)
                .await,
        )
        .await;
    }
    let lead = app.lead_now(&sdr.token, &seen).await;
    assert_eq!(lead["status"], "completed");
    let step = app.newest_move(&sdr.token, &seen).await;
    assert_eq!(
        (&step["cause"], &step["cause_id"]),
        (&json!("appointment_completed"), &appointment["id"])
    );
    assert_eq!(
        step["actor_id"],
        json!(admin.account_id),
        "moved by whoever completed it"
    );
}

async fn a_lead_is_never_moved_where_its_machine_does_not_go(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;

    // A discovery call with a new lead books no one: the lead is not
    // qualified, so `booked` is not where it can go; its completion does
    // not complete it either.
    let new = app.create_lead(&admin.token, facility, new_lead()).await;
    let response = book_lead(&app, &admin.token, facility, provider.account_id, &new, 20).await;
    let call: Value = response.json().await.unwrap();
    app.shift_appointment(&call, -(20 * 3600 + 600)).await;
    for status in ["confirmed", "checked_in", "in_progress", "completed"] {
        json_of(app.move_appointment(&admin.token, &call, status).await).await;
    }
    assert_eq!(app.lead_now(&admin.token, &new).await["status"], "new");
    assert_eq!(
        moves(&app, &admin.token, &new).await.len(),
        1,
        "only its creation"
    );

    // A booked lead that is called again stays booked: never dragged back.
    let booked = app.create_lead(&admin.token, facility, new_lead()).await;
    app.qualified(&admin.token, &booked, &admin.token, Some("approve"))
        .await;
    book_lead(
        &app,
        &admin.token,
        facility,
        provider.account_id,
        &booked,
        30,
    )
    .await;
    let call_path = format!("{}/calls", lead_path(&booked));
    let answer = json_of(
        app.call(&admin.token, Method::POST, &call_path, Some(json!({})))
            .await,
    )
    .await;
    assert_eq!(answer["status"], "booked");
    // A second appointment of a booked lead moves nothing.
    let again = book_lead(
        &app,
        &admin.token,
        facility,
        provider.account_id,
        &booked,
        50,
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(
        app.status_events(&booked).await.len(),
        3,
        "contacted, qualified, booked"
    );

    // An archived lead stays archived whatever happens to it.
    let closed = app.create_lead(&admin.token, facility, new_lead()).await;
    json_of(app.move_lead(&admin.token, &closed, "archived").await).await;
    let call_path = format!("{}/calls", lead_path(&closed));
    let answer = json_of(
        app.call(&admin.token, Method::POST, &call_path, Some(json!({})))
            .await,
    )
    .await;
    assert_eq!(answer["status"], "archived");
}

async fn a_converted_lead_leaves_the_active_leads_and_shows_its_patient(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let booked = app.create_lead(&admin.token, facility, new_lead()).await;
    app.qualified(&admin.token, &booked, &admin.token, Some("approve"))
        .await;
    book_lead(
        &app,
        &admin.token,
        facility,
        provider.account_id,
        &booked,
        30,
    )
    .await;
    let contacted = app.create_lead(&admin.token, facility, new_lead()).await;
    json_of(app.move_lead(&admin.token, &contacted, "contacted").await).await;
    let untouched = app.create_lead(&admin.token, facility, new_lead()).await;

    let active = format!("/facilities/{facility}/leads?view=active");
    let before = ids(&app.get_json(&admin.token, &active).await);
    assert_eq!(before, [id(&booked), id(&contacted), id(&untouched)]);

    let mut patients = Vec::new();
    for (lead, mrn) in [(&booked, "CV-1001"), (&contacted, "CV-1002")] {
        let converted = json_of(
            app.call(
                &admin.token,
                Method::POST,
                &format!("{}/convert", lead_path(lead)),
                Some(json!({"mrn": mrn, "date_of_birth": "1980-02-03"})),
            )
            .await,
        )
        .await;
        assert_eq!(converted["lead"]["patient_id"], converted["patient_id"]);
        patients.push(converted["patient_id"].clone());
    }
    assert_eq!(
        ids(&app.get_json(&admin.token, &active).await),
        [id(&untouched)]
    );

    let lead = app.lead_now(&admin.token, &booked).await;
    assert_eq!(
        (&lead["status"], &lead["patient_id"]),
        (&json!("completed"), &patients[0])
    );
    assert!(!lead["converted_at"].is_null());
    let step = app.newest_move(&admin.token, &booked).await;
    assert_eq!(
        (&step["cause"], &step["cause_id"]),
        (&json!("lead_converted"), &patients[0])
    );
    // A lead converted before it was booked keeps its status: completed
    // is reached only from booked. It is no longer an active lead all the same.
    let lead = app.lead_now(&admin.token, &contacted).await;
    assert_eq!(
        (&lead["status"], &lead["patient_id"]),
        (&json!("contacted"), &patients[1])
    );
}
