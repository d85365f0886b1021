//! Calls and meetings that are no clinic slots (an SDR's discovery call, a
//! coach's video session, an entry logged after the fact): no schedule
//! needed, in the past only when logged as completed, and still no
//! provider, patient or lead booked twice, under concurrent requests too.

use carebase::policy::Role;
use carebase::scheduling::reminders;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, always_open, hours_ahead, id, new_lead, new_patient, problem, text,
};

on_both_backends!(
    calls_off_the_schedule_need_no_hours_and_may_be_logged_after_the_fact,
    no_one_is_booked_twice_on_or_off_the_schedule,
    concurrent_bookings_of_one_patient_make_one_appointment,
);

/// A call of `provider` at `start` with a patient or a lead (`with`: the
/// field and the record).
fn call(provider: Uuid, start: Timestamp, with: (&str, &Value)) -> Value {
    let mut body = json!({"provider_id": provider, "starts_at": text(start),
        "off_schedule": true, "title": "Discovery call"});
    body[with.0] = with.1["id"].clone();
    body
}

async fn calls_off_the_schedule_need_no_hours_and_may_be_logged_after_the_fact(
    backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in("UTC").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let lead = app.create_lead(&sdr.token, facility, new_lead()).await;
    let start = hours_ahead(2);
    // Without a schedule a clinic slot cannot be booked; a call can.
    let mut slot = call(sdr.account_id, start, ("lead_id", &lead));
    slot["off_schedule"] = json!(false);
    let refused = problem(
        app.book(&sdr.token, facility, slot).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "provider_id");
    let booked = app
        .booked(
            &sdr.token,
            facility,
            call(sdr.account_id, start, ("lead_id", &lead)),
        )
        .await;
    assert_eq!(booked["off_schedule"], true);
    assert_eq!(
        (&booked["status"], &booked["seed_001_status"]),
        (&json!("pending"), &json!("Scheduled"))
    );
    // Rescheduled, it stays off the schedule.
    let moved = app
        .call(
            &sdr.token,
            Method::POST,
            &format!(
                "/facilities/{facility}/appointments/{}/reschedule",
                id(&booked)
            ),
            Some(json!({"starts_at": text(hours_ahead(5))})),
        )
        .await;
    assert_eq!(moved.status(), 201);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(
        (&moved["off_schedule"], &moved["rescheduled_from"]),
        (&json!(true), &booked["id"])
    );
    logged_after_the_fact(&app, facility, &sdr.token, sdr.account_id, &lead).await;
    a_coachs_video_session(&app, facility, &admin.token).await;
}

/// A call logged after the fact is completed, stamped with its own times,
/// and schedules no reminders; in the past anything else is refused.
async fn logged_after_the_fact(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    sdr: Uuid,
    lead: &Value,
) {
    let start = hours_ahead(-4);
    let mut logged = call(sdr, start, ("lead_id", lead));
    logged["status"] = json!("Completed");
    logged["duration_minutes"] = json!(20);
    let done = app.booked(token, facility, logged.clone()).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["started_at"], done["starts_at"]);
    assert_eq!(done["completed_at"], done["ends_at"]);
    let reminders = reminders::Entity::find()
        .filter(reminders::Column::AppointmentId.eq(id(&done)))
        .count(app.state.db.conn())
        .await
        .unwrap();
    assert_eq!(reminders, 0);
    let mut pending = logged.clone();
    pending["status"] = json!("pending");
    pending["starts_at"] = json!(text(hours_ahead(-8)));
    let past = problem(
        app.book(token, facility, pending).await,
        409,
        "slot-unavailable",
    )
    .await;
    assert_eq!(past["reason"], "in_the_past");
    let mut ahead = logged.clone();
    ahead["starts_at"] = json!(text(hours_ahead(30)));
    let body = problem(app.book(token, facility, ahead).await, 422, "validation").await;
    assert_eq!(body["errors"][0]["field"], "starts_at");
    let mut on_schedule = logged;
    on_schedule["off_schedule"] = json!(false);
    on_schedule["starts_at"] = json!(text(hours_ahead(-12)));
    let body = problem(
        app.book(token, facility, on_schedule).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "status");
}

/// A health coach's video session with a patient, as telehealth; someone
/// who is no member of the facility hosts nothing.
async fn a_coachs_video_session(app: &TestApp, facility: Uuid, token: &str) {
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let patient = app.patient(facility, new_patient()).await;
    let mut session = call(coach.account_id, hours_ahead(26), ("patient_id", &patient));
    session["kind"] = json!("telehealth");
    session["meeting_link"] = json!("https://video.example/room/7");
    let booked = app.booked(token, facility, session.clone()).await;
    assert_eq!(
        (&booked["kind"], &booked["off_schedule"]),
        (&json!("telehealth"), &json!(true))
    );
    let outsider = app.person(&[(None, Role::SystemAdmin)]).await;
    session["provider_id"] = json!(outsider.account_id);
    session["starts_at"] = json!(text(hours_ahead(40)));
    let body = problem(app.book(token, facility, session).await, 422, "validation").await;
    assert_eq!(body["errors"][0]["field"], "provider_id");
}

async fn no_one_is_booked_twice_on_or_off_the_schedule(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let other = app.person(&[(Some(facility), Role::Provider)]).await;
    app.set_schedule(&admin.token, facility, other.account_id, always_open())
        .await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let patient = app.patient(facility, new_patient()).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let token = admin.token.as_str();
    let at = hours_ahead(24);
    let slot = app
        .booked(
            token,
            facility,
            json!({"provider_id": provider.account_id,
            "starts_at": text(at), "patient_id": patient["id"]}),
        )
        .await;
    let overlapping = at.plus_secs(900);
    for (body, reason) in [
        // The provider's call overlaps their clinic slot.
        (
            call(provider.account_id, overlapping, ("lead_id", &lead)),
            "taken",
        ),
        // Another host's call with the same patient.
        (
            call(sdr.account_id, overlapping, ("patient_id", &patient)),
            "attendee_busy",
        ),
        // Another provider's clinic slot with the same patient.
        (
            json!({"provider_id": other.account_id, "starts_at": text(at), "patient_id": patient["id"]}),
            "attendee_busy",
        ),
    ] {
        let refused = problem(
            app.book(token, facility, body).await,
            409,
            "slot-unavailable",
        )
        .await;
        assert_eq!(refused["reason"], reason, "{refused}");
    }
    a_call_takes_its_hosts_time_from_the_slots(&app, facility, token, other.account_id, &lead, at)
        .await;
    // Cancelled, the slot frees the patient for the other provider.
    assert_eq!(
        app.move_appointment(token, &slot, "Cancelled")
            .await
            .status(),
        200
    );
    app.booked(
        token,
        facility,
        json!({"provider_id": other.account_id,
        "starts_at": text(at), "patient_id": patient["id"]}),
    )
    .await;
    entries_logged_after_the_fact_do_not_overlap(&app, facility, &sdr.token, sdr.account_id).await;
}

/// A call takes its host's time from the clinic's slots too.
async fn a_call_takes_its_hosts_time_from_the_slots(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    host: Uuid,
    lead: &Value,
    at: Timestamp,
) {
    let later = at.plus_secs(4 * 3600);
    app.booked(token, facility, call(host, later, ("lead_id", lead)))
        .await;
    let path = format!(
        "/facilities/{facility}/slot-check?provider_id={host}&starts_at={}",
        text(later)
    );
    let check: Value = app
        .call(token, Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(check["reason"], "taken", "{check}");
}

/// Two entries logged after the fact: not for one lead at once, nor for
/// one host.
async fn entries_logged_after_the_fact_do_not_overlap(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    sdr: Uuid,
) {
    let lead = app.create_lead(token, facility, new_lead()).await;
    let second_lead = app.create_lead(token, facility, new_lead()).await;
    let colleague = app.person(&[(Some(facility), Role::Sdr)]).await;
    let logged = |host: Uuid, start: Timestamp, lead: &Value| {
        let mut body = call(host, start, ("lead_id", lead));
        body["status"] = json!("Completed");
        body
    };
    let start = hours_ahead(-6);
    app.booked(token, facility, logged(sdr, start, &lead)).await;
    for (body, reason) in [
        (
            logged(colleague.account_id, start.plus_secs(600), &lead),
            "attendee_busy",
        ),
        (logged(sdr, start.plus_secs(600), &second_lead), "taken"),
    ] {
        let refused = problem(
            app.book(token, facility, body).await,
            409,
            "slot-unavailable",
        )
        .await;
        assert_eq!(refused["reason"], reason, "{refused}");
    }
    app.booked(
        token,
        facility,
        logged(sdr, start.plus_secs(1800), &second_lead),
    )
    .await;
}

async fn concurrent_bookings_of_one_patient_make_one_appointment(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in("UTC").await;
    let mut providers = Vec::new();
    for role in [
        Role::Provider,
        Role::Doctor,
        Role::Nurse,
        Role::HealthCoach,
        Role::Sdr,
    ] {
        let person = app.person(&[(Some(facility), role)]).await;
        app.set_schedule(&admin.token, facility, person.account_id, always_open())
            .await;
        providers.push(person.account_id);
    }
    let patient = app.patient(facility, new_patient()).await;
    let start = hours_ahead(24);
    let before = app.appointment_count().await;
    // Forty requests for the same patient with five providers, clinic
    // slots and calls mixed, overlapping, all in flight at once.
    let requests = (0..40).map(|i| {
        let body = json!({
            "provider_id": providers[i % providers.len()],
            "starts_at": text(start.plus_secs(if i % 3 == 0 { 0 } else { 600 })),
            "patient_id": patient["id"],
            "off_schedule": i % 2 == 0,
        });
        let (app, token) = (&app, admin.token.clone());
        async move { app.book(&token, facility, body).await }
    });
    let mut created = 0;
    for response in futures_util::future::join_all(requests).await {
        match response.status().as_u16() {
            201 => created += 1,
            _ => {
                let body = problem(response, 409, "slot-unavailable").await;
                assert!(
                    ["attendee_busy", "taken"].contains(&body["reason"].as_str().unwrap()),
                    "{body}"
                );
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.appointment_count().await, before + 1);
}
