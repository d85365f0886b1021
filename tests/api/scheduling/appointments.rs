//! The appointment: refused bookings, the machine with both seeds' names,
//! rescheduling, today's list in the facility's zone, and concurrent moves.

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
    bad_bookings_name_the_field_and_write_nothing,
    the_appointment_machine_accepts_both_seeds_names,
    rescheduling_links_the_new_appointment_and_frees_the_old_time,
    todays_appointments_follow_the_facility_time_zone,
    concurrent_moves_of_one_appointment_apply_once,
);

async fn bad_bookings_name_the_field_and_write_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let patient = app.patient(facility, new_patient()).await;
    let start = text(hours_ahead(24));
    let base = json!({"provider_id": provider.account_id, "starts_at": start, "patient_id": patient["id"]});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("duration_minutes", json!(0)), "duration_minutes"),
        (with("duration_minutes", json!(-30)), "duration_minutes"),
        (with("provider_id", json!(Uuid::new_v4())), "provider_id"),
        (with("patient_id", json!(Uuid::new_v4())), "patient_id"),
        (
            with("meeting_link", json!("javascript:alert(1)")),
            "meeting_link",
        ),
        (with("status", json!("completed")), "status"),
        (with("type_id", json!(Uuid::new_v4())), "type_id"),
        (
            with("starts_at", json!("2099-01-01T09:00:00Z")),
            "starts_at",
        ),
    ] {
        let body = problem(
            app.book(&admin.token, facility, body).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    let past = problem(
        app.book(
            &admin.token,
            facility,
            with("starts_at", json!(text(hours_ahead(-5)))),
        )
        .await,
        409,
        "slot-unavailable",
    )
    .await;
    assert_eq!(past["reason"], "in_the_past");
    bad_blocks_searches_and_schedules_name_the_field(
        &app,
        facility,
        &admin.token,
        provider.account_id,
        &start,
    )
    .await;
    assert_eq!(app.appointment_count().await, 0);
    let reminders = reminders::Entity::find()
        .count(app.state.db.conn())
        .await
        .unwrap();
    assert_eq!(reminders, 0);
    // Nor did any refused request leave an audit event behind.
    let events: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/audit-events?resource_type=appointment"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"], json!([]), "{events}");
}

/// A block that ends before it starts, a search that ends before it
/// starts, a schedule with a bad day.
async fn bad_blocks_searches_and_schedules_name_the_field(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    provider: Uuid,
    start: &str,
) {
    let block = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/availability-blocks"),
            Some(
                json!({"starts_at": start, "ends_at": text(hours_ahead(20)), "reason": "Holiday"}),
            ),
        )
        .await;
    assert_eq!(
        problem(block, 422, "validation").await["errors"][0]["field"],
        "ends_at"
    );
    let search = app
        .call(
            token,
            Method::GET,
            &format!(
                "/facilities/{facility}/open-slots?from={start}&to={}",
                text(hours_ahead(1))
            ),
            None,
        )
        .await;
    assert_eq!(
        problem(search, 422, "validation").await["errors"][0]["field"],
        "to"
    );
    let schedule = app
        .call(
            token,
            Method::PUT,
            &format!("/facilities/{facility}/schedules/{}", provider),
            Some(json!({"working_hours": [{"weekday": "someday", "start": "09:00", "end": "17:00"}]})),
        )
        .await;
    let body = problem(schedule, 422, "validation").await;
    assert_eq!(
        body["errors"][0]["field"], "working_hours[0].weekday",
        "{body}"
    );
}

async fn the_appointment_machine_accepts_both_seeds_names(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    // Half an hour ahead: check-in opens an hour before the start.
    let appointment = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(Timestamp::now().plus_secs(1800)),
               "lead_id": lead["id"], "meeting_link": "https://meet.example/abc"}),
        )
        .await;
    assert_eq!(appointment["status"], "pending");
    assert_eq!(appointment["seed_001_status"], "Scheduled");
    assert_eq!(appointment["duration_minutes"], 30);
    assert_eq!(appointment["kind"], "consultation");
    // Not yet confirmed: no check-in, and the refusal names the moves.
    let refused = problem(
        app.move_appointment(&admin.token, &appointment, "checked_in")
            .await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        refused["allowed"],
        json!(["confirmed", "cancelled", "rescheduled"])
    );
    for (name, status) in [
        ("Scheduled", "confirmed"),
        ("checked_in", "checked_in"),
        ("in_progress", "in_progress"),
        ("Completed", "completed"),
    ] {
        let response = app
            .move_appointment(&provider.token, &appointment, name)
            .await;
        assert_eq!(response.status(), 200, "{name}");
        let moved: Value = response.json().await.unwrap();
        assert_eq!(moved["status"], status);
    }
    a_completed_appointment_moves_no_more(&app, facility, &admin.token, &appointment).await;
    a_no_show_cancels_its_pending_reminders(
        &app,
        facility,
        &admin.token,
        provider.account_id,
        &lead,
    )
    .await;
}

/// Completed, the appointment moves no more; an unknown status is named.
async fn a_completed_appointment_moves_no_more(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    appointment: &Value,
) {
    let done: Value = app
        .call(
            token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(appointment)),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["seed_001_status"], "Completed");
    assert!(done["checked_in_at"].is_string() && done["completed_at"].is_string());
    let final_state = problem(
        app.move_appointment(token, appointment, "No Show").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(final_state["allowed"], json!([]));
    let unknown = problem(
        app.move_appointment(token, appointment, "Done").await,
        422,
        "validation",
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "status", "{unknown}");
    assert!(
        unknown["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("Done"),
        "{unknown}"
    );
}

/// A no-show after confirmation; its pending reminders are cancelled.
async fn a_no_show_cancels_its_pending_reminders(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    provider: Uuid,
    lead: &Value,
) {
    let second = app
        .booked(
            token,
            facility,
            json!({"provider_id": provider, "starts_at": text(hours_ahead(72)),
               "lead_id": lead["id"], "status": "Scheduled"}),
        )
        .await;
    assert_eq!(second["status"], "confirmed");
    let db = app.state.db.conn();
    let pending = |appointment: Uuid| async move {
        reminders::Entity::find()
            .filter(reminders::Column::AppointmentId.eq(appointment))
            .filter(reminders::Column::Status.eq("pending"))
            .count(db)
            .await
            .unwrap()
    };
    assert_eq!(pending(id(&second)).await, 3);
    // Three days before its start it is no no-show yet.
    let early = problem(
        app.move_appointment(token, &second, "No Show").await,
        409,
        "too-early",
    )
    .await;
    assert_eq!(early["reason"], "no_show_window", "{early}");
    assert_eq!(pending(id(&second)).await, 3);
    // Its start passed unattended (its reminders never went out).
    app.shift_appointment(&second, -73 * 3600).await;
    assert_eq!(
        app.move_appointment(token, &second, "No Show")
            .await
            .status(),
        200
    );
    assert_eq!(pending(id(&second)).await, 0);
}

async fn rescheduling_links_the_new_appointment_and_frees_the_old_time(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in("UTC").await;
    let provider = app.person(&[(Some(facility), Role::Provider)]).await;
    let other = app.person(&[(Some(facility), Role::Provider)]).await;
    for p in [&provider, &other] {
        app.set_schedule(&admin.token, facility, p.account_id, always_open())
            .await;
    }
    let patient = app.patient(facility, new_patient()).await;
    // Far enough ahead that every reminder offset (48, 24, 2 hours) is too.
    let old_start = hours_ahead(72);
    let old = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(old_start),
               "patient_id": patient["id"], "notes": "Bring the MRI", "status": "confirmed"}),
        )
        .await;
    let path = format!(
        "/facilities/{facility}/appointments/{}/reschedule",
        id(&old)
    );
    // Moving half an hour later overlaps its own old time: that is allowed.
    let response = app
        .call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({"starts_at": text(old_start.plus_secs(900))})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let new: Value = response.json().await.unwrap();
    assert_eq!(new["rescheduled_from"], old["id"]);
    assert_eq!(new["notes"], "Bring the MRI");
    assert_eq!(new["status"], "confirmed");
    let old_now: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(&old)),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old_now["status"], "rescheduled");
    assert_eq!(old_now["seed_001_status"], "Cancelled");
    the_old_one_stays_moved_the_new_one_moves_on(
        &app,
        facility,
        &admin.token,
        &path,
        &new,
        old_start,
        other.account_id,
    )
    .await;
    // The first provider's time is free again (for another patient: this
    // one now sees the other provider then).
    let next_patient = app.patient(facility, new_patient()).await;
    app.booked(
        &admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(old_start), "patient_id": next_patient["id"]}),
    )
    .await;
    let live_reminders = reminders::Entity::find()
        .filter(reminders::Column::Status.eq("pending"))
        .count(app.state.db.conn())
        .await
        .unwrap();
    // Two live appointments, three offsets each; the rescheduled ones' are cancelled.
    assert_eq!(live_reminders, 6);
}

/// The old one cannot move again; the new one can, to another provider.
async fn the_old_one_stays_moved_the_new_one_moves_on(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    path: &str,
    new: &Value,
    old_start: Timestamp,
    other: Uuid,
) {
    let again = app
        .call(
            token,
            Method::POST,
            path,
            Some(json!({"starts_at": text(hours_ahead(30))})),
        )
        .await;
    problem(again, 409, "invalid-transition").await;
    let moved = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/appointments/{}/reschedule", id(new)),
            Some(json!({"starts_at": text(old_start), "provider_id": other})),
        )
        .await;
    assert_eq!(moved.status(), 201);
}

async fn todays_appointments_follow_the_facility_time_zone(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    // A zone far from UTC, so "today" there differs from today in UTC for
    // part of every day.
    let zone = "Pacific/Kiritimati";
    let (facility, admin) = app.clinic_in(zone).await;
    let provider = app.person(&[(Some(facility), Role::Provider)]).await;
    app.set_schedule(&admin.token, facility, provider.account_id, always_open())
        .await;
    let patient = app.patient(facility, new_patient()).await;
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let local_now = jiff::Timestamp::now().to_zoned_datetime(tz.clone());
    let tomorrow = local_now.date().tomorrow().unwrap();
    let end_of_today = Timestamp::from(tomorrow.to_zoned_datetime(tz.clone()).unwrap().timestamp());
    // One appointment late today (local), one early tomorrow (local).
    let late_today = end_of_today.plus_secs(-15 * 60);
    let early_tomorrow = end_of_today.plus_secs(60 * 60);
    let mut ids = Vec::new();
    for start in [late_today, early_tomorrow] {
        if start <= Timestamp::now() {
            continue;
        }
        let appointment = app
            .booked(
                &admin.token,
                facility,
                json!({"provider_id": provider.account_id, "starts_at": text(start),
                   "patient_id": patient["id"], "duration_minutes": 15}),
            )
            .await;
        ids.push((start, id(&appointment)));
    }
    let today: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/appointments?view=today&provider_id={}",
                provider.account_id
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<Uuid> = today["items"].as_array().unwrap().iter().map(id).collect();
    let expected: Vec<Uuid> = ids
        .iter()
        .filter(|(start, _)| *start < end_of_today)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(listed, expected, "{today}");
    by_patient_every_appointment_in_order(&app, facility, &admin.token, &patient, &ids).await;
}

/// By patient, every appointment, in order of start.
async fn by_patient_every_appointment_in_order(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    patient: &Value,
    ids: &[(Timestamp, Uuid)],
) {
    let all: Value = app
        .call(
            token,
            Method::GET,
            &format!(
                "/facilities/{facility}/appointments?patient_id={}&limit=1",
                patient["id"].as_str().unwrap()
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    if ids.len() > 1 {
        let next: Value = app
            .call(
                token,
                Method::GET,
                &format!(
                    "/facilities/{facility}/appointments?patient_id={}&limit=1&after={}",
                    patient["id"].as_str().unwrap(),
                    all["next_cursor"].as_str().unwrap()
                ),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(id(&next["items"][0]), ids[1].1);
    }
}

async fn concurrent_moves_of_one_appointment_apply_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let patient = app.patient(facility, new_patient()).await;
    let appointment = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(24)),
               "patient_id": patient["id"], "status": "confirmed"}),
        )
        .await;
    // Started ten minutes ago, so a no-show and a cancellation are both
    // allowed now.
    app.shift_appointment(&appointment, -(24 * 3600 + 600))
        .await;
    let stale = carebase::scheduling::appointments::Entity::find_by_id(id(&appointment))
        .one(app.state.db.conn())
        .await
        .unwrap()
        .unwrap();
    // Twenty moves from `confirmed` at once, half to each of two final
    // statuses: whichever lands first, every other one is refused, even
    // those that read `confirmed` before it landed.
    let moves = (0..20).map(|i| {
        let to = if i % 2 == 0 { "no_show" } else { "cancelled" };
        let (app, token, appointment) = (&app, admin.token.clone(), &appointment);
        async move { (to, app.move_appointment(&token, appointment, to).await) }
    });
    let mut winners = Vec::new();
    for (to, response) in futures_util::future::join_all(moves).await {
        match response.status().as_u16() {
            200 => winners.push(to),
            409 => {}
            other => panic!("{to}: {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let now: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(&appointment)),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["status"], winners[0]);
    // The race itself, made certain: a move checked against the status read
    // before the winner landed changes nothing.
    use carebase::scheduling::appointments::{AppointmentStatus, move_to as apply};
    assert_eq!(stale.status, "confirmed");
    let late = apply(
        app.state.db.conn(),
        &stale,
        AppointmentStatus::CheckedIn,
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert!(late.is_none());
}
