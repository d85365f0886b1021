//! The waitlist: a freed slot is offered to the first eligible entry and
//! held for it; an offer that runs out passes to the next.

use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, hours_ahead, id, new_patient, poll_every, problem, text,
};

on_both_backends!(a_freed_slot_is_offered_to_the_waitlist_and_held,);

/// A new patient on the waitlist for the next four days with `providers`.
async fn join_waitlist(app: &TestApp, token: &str, facility: Uuid, providers: Value) -> Value {
    let patient = app.patient(facility, new_patient()).await;
    let response = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist"),
            Some(json!({"patient_id": patient["id"], "provider_ids": providers,
                        "window_start": text(hours_ahead(24)), "window_end": text(hours_ahead(96))})),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn a_freed_slot_is_offered_to_the_waitlist_and_held(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| poll_every(c, 3600)).await;
    let (facility, _, provider) = app.open_clinic().await;
    let desk = app.person(&[(Some(facility), Role::Staff)]).await;
    let booked_patient = app.patient(facility, new_patient()).await;
    let start = hours_ahead(48);
    let appointment = app.booked(&desk.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(start), "patient_id": booked_patient["id"]}),
    )
    .await;
    // Two patients wait; the first names another provider, so the second
    // is the first eligible one.
    let other = app.person(&[(Some(facility), Role::Provider)]).await;
    let mut entries = Vec::new();
    for providers in [json!([other.account_id]), json!([provider.account_id])] {
        entries.push(join_waitlist(&app, &desk.token, facility, providers).await);
    }
    assert_eq!(entries[0]["status"], "waiting");
    let bad = app
        .call(
            &desk.token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist"),
            Some(json!({"patient_id": booked_patient["id"], "window_start": text(hours_ahead(5)), "window_end": text(hours_ahead(4))})),
        )
        .await;
    assert_eq!(
        problem(bad, 422, "validation").await["errors"][0]["field"],
        "window_end"
    );
    assert_eq!(
        app.move_appointment(&desk.token, &appointment, "cancelled")
            .await
            .status(),
        200
    );
    let list: Value = app
        .call(
            &desk.token,
            Method::GET,
            &format!("/facilities/{facility}/waitlist"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items[0]["status"], "waiting");
    assert_eq!(items[1]["status"], "offered");
    assert_eq!(items[1]["offer_starts_at"], text(start));
    let appointment = the_held_slot_is_accepted_once(
        &app,
        facility,
        &desk.token,
        provider.account_id,
        start,
        &booked_patient,
        &items[1],
    )
    .await;
    an_offer_that_runs_out_passes_to_the_next(&app, facility, &desk.token, &appointment, start)
        .await;
}

/// The held slot is not bookable by anyone else; the offer is accepted
/// once. Answers the appointment it makes.
async fn the_held_slot_is_accepted_once(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    provider: Uuid,
    start: Timestamp,
    booked_patient: &Value,
    offered: &Value,
) -> Value {
    // The held slot is not bookable by anyone else.
    let taken = app.book(token,
        facility,
        json!({"provider_id": provider, "starts_at": text(start), "patient_id": booked_patient["id"]}),
    )
    .await;
    assert_eq!(
        problem(taken, 409, "slot-unavailable").await["reason"],
        "taken"
    );
    let accepted = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist/{}/accept", id(offered)),
            None,
        )
        .await;
    assert_eq!(accepted.status(), 201);
    let appointment: Value = accepted.json().await.unwrap();
    assert_eq!(appointment["patient_id"], offered["patient_id"]);
    assert_eq!(appointment["status"], "confirmed");
    let twice = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist/{}/accept", id(offered)),
            None,
        )
        .await;
    problem(twice, 409, "conflict").await;
    appointment
}

/// An offer that runs out passes the slot to the next eligible entry.
async fn an_offer_that_runs_out_passes_to_the_next(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    appointment: &Value,
    start: Timestamp,
) {
    let third = join_waitlist(app, token, facility, json!([])).await;
    let fourth = join_waitlist(app, token, facility, json!([])).await;
    assert_eq!(
        app.move_appointment(token, appointment, "cancelled")
            .await
            .status(),
        200
    );
    let later = Timestamp::now().plus_secs(2 * 3600);
    let expired = carebase::scheduling::waitlist::expire_offers(&app.state, later)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let db = app.state.db.conn();
    let entry = |e: Value| async move {
        carebase::scheduling::waitlist::Entity::find_by_id(id(&e))
            .one(db)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(entry(third).await.status, "expired");
    let fourth = entry(fourth).await;
    assert_eq!(fourth.status, "offered");
    assert_eq!(fourth.offer_starts_at, Some(start));
    // Each offer was sent: to the first entry, the third, then the fourth.
    let offers = carebase::notify::outbox::Entity::find()
        .filter(carebase::notify::outbox::Column::Kind.eq("waitlist_offer"))
        .count(db)
        .await
        .unwrap();
    assert_eq!(offers, 3);
}
