//! Scheduling (seeds 000 and 001): schedules and blocks, open slots across
//! a daylight-saving change, the slot check, booking without double
//! booking under 50 concurrent requests, the appointment machine,
//! rescheduling, today's list, reminders sent once across a crash and two
//! servers, the waitlist, and who sees and changes what.

use carebase::access::Permission;
use std::time::Duration;

use carebase::access::Role;
use carebase::scheduling::reminders;
use carebase::scheduling::settings::SchedulingSettings;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, always_open, assert_no_plaintext, hours_ahead, id, new_lead,
    new_patient, problem,
};
use crate::support::matrix::{BoxFuture, Case, Grant, Records};

on_both_backends!(
    open_slots_keep_local_hours_across_a_daylight_saving_week,
    the_slot_check_names_each_reason,
    fifty_concurrent_bookings_of_one_slot_make_one_appointment,
    bad_bookings_name_the_field_and_write_nothing,
    the_appointment_machine_accepts_both_seeds_names,
    rescheduling_links_the_new_appointment_and_frees_the_old_time,
    todays_appointments_follow_the_facility_time_zone,
    reminders_go_out_once_across_a_crash_and_two_servers,
    a_freed_slot_is_offered_to_the_waitlist_and_held,
    who_sees_and_changes_which_appointment,
    appointment_text_is_sealed_and_reads_are_audited,
    calendar_feeds_show_own_appointments_without_phi_until_revoked,
    types_blocks_and_schedules_shape_the_search,
    a_reminder_with_no_address_is_skipped_with_a_note,
    concurrent_moves_of_one_appointment_apply_once,
);

pub const LA: &str = "America/Los_Angeles";

/// A facility in `zone` with an administrator.
pub async fn clinic(app: &TestApp, zone: &str) -> (Uuid, Person) {
    let system = app.system_admin().await;
    let response = app
        .call(
            &system.token,
            Method::POST,
            "/facilities",
            Some(json!({ "name": "MiKO Clinic", "time_zone": zone })),
        )
        .await;
    assert_eq!(response.status(), 201);
    let facility = id(&response.json().await.unwrap());
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    (facility, admin)
}

/// A facility in UTC with an administrator and a provider who can be
/// booked around the clock.
pub async fn open_clinic(app: &TestApp) -> (Uuid, Person, Person) {
    let (facility, admin) = clinic(app, "UTC").await;
    let provider = app.person(&[(Some(facility), Role::Provider)]).await;
    app.set_schedule(&admin.token, facility, provider.account_id, always_open())
        .await;
    (facility, admin, provider)
}

pub fn text(t: Timestamp) -> String {
    t.to_string()
}

async fn appointment_count(app: &TestApp) -> u64 {
    carebase::scheduling::appointments::Entity::find()
        .count(app.state.db.conn())
        .await
        .unwrap()
}

async fn move_to(
    app: &TestApp,
    token: &str,
    appointment: &Value,
    status: &str,
) -> reqwest::Response {
    app.call(
        token,
        Method::POST,
        &format!(
            "/facilities/{}/appointments/{}/status",
            appointment["facility_id"].as_str().unwrap(),
            id(appointment)
        ),
        Some(json!({ "status": status })),
    )
    .await
}

async fn open_slots_keep_local_hours_across_a_daylight_saving_week(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = clinic(&app, LA).await;
    let provider = app.person(&[(Some(facility), Role::Provider)]).await;
    let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    let schedule = app.set_schedule(&provider.token,
        facility,
        provider.account_id,
        json!({
            "working_hours": weekdays.map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"})),
            "slot_minutes": 60,
            "min_notice_minutes": 0,
        }),
    )
    .await;
    assert_eq!(schedule["time_zone"], LA);
    // Clocks go forward in Los Angeles on Sunday 14 March 2027.
    let search = |zone: &str| {
        format!(
            "/facilities/{facility}/open-slots?from=2027-03-12T08:00:00Z&to=2027-03-17T07:00:00Z\
             &provider_ids={}&duration_minutes=60&time_zone={zone}",
            provider.account_id
        )
    };
    let local: Value = app
        .call(&admin.token, Method::GET, &search(LA), None)
        .await
        .json()
        .await
        .unwrap();
    let starts: Vec<&str> = local["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_start"].as_str().unwrap())
        .collect();
    // Friday, Monday, Tuesday: 8 one-hour slots each, from 09:00 local.
    assert_eq!(starts.len(), 24, "{local}");
    assert_eq!(starts[0], "2027-03-12T09:00:00-08:00");
    assert_eq!(starts[8], "2027-03-15T09:00:00-07:00");
    assert_eq!(starts[23], "2027-03-16T16:00:00-07:00");
    assert_eq!(local["slots"][0]["starts_at"], "2027-03-12T17:00:00Z");
    assert_eq!(local["slots"][8]["starts_at"], "2027-03-15T16:00:00Z");
    // The same slots shown in the caller's zone (Berlin has not changed yet).
    let berlin: Value = app
        .call(&admin.token, Method::GET, &search("Europe/Berlin"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(berlin["time_zone"], "Europe/Berlin");
    assert_eq!(
        berlin["slots"][0]["local_start"],
        "2027-03-12T18:00:00+01:00"
    );
    assert_eq!(
        berlin["slots"][8]["local_start"],
        "2027-03-15T17:00:00+01:00"
    );
    // A holiday block and an appointment with a buffer take time out.
    let kind = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/appointment-types"),
            Some(
                json!({"name": "Consultation", "duration_minutes": 60, "buffer_after_minutes": 30}),
            ),
        )
        .await;
    assert_eq!(kind.status(), 201);
    let kind: Value = kind.json().await.unwrap();
    assert_eq!(kind["kind"], "consultation");
    let block = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/availability-blocks"),
            Some(json!({"starts_at": "2027-03-15T07:00:00Z", "ends_at": "2027-03-16T07:00:00Z", "reason": "Holiday"})),
        )
        .await;
    assert_eq!(block.status(), 201);
    let patient = app.patient(facility, new_patient()).await;
    app.booked(
        &admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": "2027-03-12T17:00:00Z",
               "type_id": kind["id"], "patient_id": patient["id"]}),
    )
    .await;
    let after: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("{}&type_id={}", search(LA), kind["id"].as_str().unwrap()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let starts: Vec<&str> = after["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_start"].as_str().unwrap())
        .collect();
    // Friday loses 09:00 (booked) and 10:00 (its 30-minute buffer; with a
    // 60-minute grid the next start is 11:00); Monday is a holiday.
    assert_eq!(starts.len(), 6 + 8, "{after}");
    assert_eq!(starts[0], "2027-03-12T11:00:00-08:00");
    assert_eq!(starts[6], "2027-03-16T09:00:00-07:00");
}

async fn the_slot_check_names_each_reason(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = clinic(&app, "UTC").await;
    let provider = app.person(&[(Some(facility), Role::Doctor)]).await;
    let mut hours = always_open();
    hours["min_notice_minutes"] = json!(120);
    app.set_schedule(&admin.token, facility, provider.account_id, hours)
        .await;
    let block_start = hours_ahead(48);
    app.call(
        &admin.token,
        Method::POST,
        &format!("/facilities/{facility}/availability-blocks"),
        Some(
            json!({"provider_id": provider.account_id, "starts_at": text(block_start),
                    "ends_at": text(block_start.plus_secs(3600)), "reason": "Surgery"}),
        ),
    )
    .await;
    let patient = app.patient(facility, new_patient()).await;
    let taken = hours_ahead(24);
    app.booked(&admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(taken), "patient_id": patient["id"]}),
    )
    .await;
    let check = |start: Timestamp| {
        format!(
            "/facilities/{facility}/slot-check?provider_id={}&starts_at={}&duration_minutes=30",
            provider.account_id,
            text(start)
        )
    };
    for (start, reason) in [
        (hours_ahead(-3), Some("in_the_past")),
        (Timestamp::now().plus_secs(1800), Some("too_soon")),
        (block_start, Some("blocked")),
        (taken.plus_secs(900), Some("taken")),
        (hours_ahead(30), None),
    ] {
        let answer: Value = app
            .call(&admin.token, Method::GET, &check(start), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["available"], reason.is_none(), "{answer}");
        assert_eq!(answer["reason"], json!(reason), "{answer}");
    }
    // Outside working hours, with a provider who works mornings only.
    let part_time = app.person(&[(Some(facility), Role::Nurse)]).await;
    app.set_schedule(&part_time.token,
        facility,
        part_time.account_id,
        json!({"working_hours": [{"weekday": "monday", "start": "08:00", "end": "12:00"}], "min_notice_minutes": 0}),
    )
    .await;
    let answer: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/slot-check?provider_id={}&starts_at=2027-03-09T13:00:00Z",
                part_time.account_id
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["reason"], "outside_working_hours");
    // The booking refuses the same slot with the same reason.
    let refused = app.book(&admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(block_start), "patient_id": patient["id"]}),
    )
    .await;
    let body = problem(refused, 409, "slot-unavailable").await;
    assert_eq!(body["reason"], "blocked");
    assert!(
        body["detail"].as_str().unwrap().contains("Surgery"),
        "{body}"
    );
}

async fn fifty_concurrent_bookings_of_one_slot_make_one_appointment(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, _, provider) = open_clinic(&app).await;
    let desk = app.person(&[(Some(facility), Role::Staff)]).await;
    let patient = app.patient(facility, new_patient()).await;
    let start = hours_ahead(24);
    let before = appointment_count(&app).await;
    // Fifty requests for overlapping time (same start or 15 minutes in),
    // all in flight at once.
    let requests = (0..50).map(|i| {
        let body = json!({
            "provider_id": provider.account_id,
            "starts_at": text(start.plus_secs(if i % 2 == 0 { 0 } else { 900 })),
            "duration_minutes": 30,
            "patient_id": patient["id"],
        });
        let (app, token) = (&app, desk.token.clone());
        async move { app.book(&token, facility, body).await }
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut created = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            _ => {
                let body = problem(response, 409, "slot-unavailable").await;
                assert_eq!(body["reason"], "taken", "{body}");
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(appointment_count(&app).await, before + 1);
}

async fn bad_bookings_name_the_field_and_write_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = open_clinic(&app).await;
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
    // A block that ends before it starts, a schedule with a bad day.
    let block = app
        .call(
            &admin.token,
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
            &admin.token,
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
            &admin.token,
            Method::PUT,
            &format!("/facilities/{facility}/schedules/{}", provider.account_id),
            Some(json!({"working_hours": [{"weekday": "someday", "start": "09:00", "end": "17:00"}]})),
        )
        .await;
    let body = problem(schedule, 422, "validation").await;
    assert_eq!(
        body["errors"][0]["field"], "working_hours[0].weekday",
        "{body}"
    );
    assert_eq!(appointment_count(&app).await, 0);
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

async fn the_appointment_machine_accepts_both_seeds_names(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = open_clinic(&app).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let appointment = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(24)),
               "lead_id": lead["id"], "meeting_link": "https://meet.example/abc"}),
        )
        .await;
    assert_eq!(appointment["status"], "pending");
    assert_eq!(appointment["seed_001_status"], "Scheduled");
    assert_eq!(appointment["duration_minutes"], 30);
    assert_eq!(appointment["kind"], "consultation");
    // Not yet confirmed: no check-in, and the refusal names the moves.
    let refused = problem(
        move_to(&app, &admin.token, &appointment, "checked_in").await,
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
        let response = move_to(&app, &provider.token, &appointment, name).await;
        assert_eq!(response.status(), 200, "{name}");
        let moved: Value = response.json().await.unwrap();
        assert_eq!(moved["status"], status);
    }
    let done: Value = app
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
    assert_eq!(done["seed_001_status"], "Completed");
    assert!(done["checked_in_at"].is_string() && done["completed_at"].is_string());
    let final_state = problem(
        move_to(&app, &admin.token, &appointment, "No Show").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(final_state["allowed"], json!([]));
    let unknown = problem(
        move_to(&app, &admin.token, &appointment, "Done").await,
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
    // A no-show after confirmation; its pending reminders are cancelled.
    let second = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(72)),
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
    assert_eq!(
        move_to(&app, &admin.token, &second, "No Show")
            .await
            .status(),
        200
    );
    assert_eq!(pending(id(&second)).await, 0);
}

async fn rescheduling_links_the_new_appointment_and_frees_the_old_time(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = clinic(&app, "UTC").await;
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
    // The old one cannot move again; the new one can, to another provider.
    let again = app
        .call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({"starts_at": text(hours_ahead(30))})),
        )
        .await;
    problem(again, 409, "invalid-transition").await;
    let moved = app
        .call(
            &admin.token,
            Method::POST,
            &format!(
                "/facilities/{facility}/appointments/{}/reschedule",
                id(&new)
            ),
            Some(json!({"starts_at": text(old_start), "provider_id": other.account_id})),
        )
        .await;
    assert_eq!(moved.status(), 201);
    // The first provider's time is free again.
    app.booked(&admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(old_start), "patient_id": patient["id"]}),
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

async fn todays_appointments_follow_the_facility_time_zone(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    // A zone far from UTC, so "today" there differs from today in UTC for
    // part of every day.
    let zone = "Pacific/Kiritimati";
    let (facility, admin) = clinic(&app, zone).await;
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
    // By patient, every appointment, in order of start.
    let all: Value = app
        .call(
            &admin.token,
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
                &admin.token,
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

/// How many reminders are in each status, and how many reminder messages
/// the outbox holds.
async fn reminder_tally(app: &TestApp) -> (u64, u64, u64) {
    let db = app.state.db.conn();
    let count = |status: &'static str| async move {
        reminders::Entity::find()
            .filter(reminders::Column::Status.eq(status))
            .count(db)
            .await
            .unwrap()
    };
    let messages = carebase::notify::outbox::Entity::find()
        .filter(carebase::notify::outbox::Column::Kind.eq("appointment_reminder"))
        .count(db)
        .await
        .unwrap();
    (count("pending").await, count("sent").await, messages)
}

async fn reminders_go_out_once_across_a_crash_and_two_servers(backend: TestBackend) {
    // The server's own sender waits an hour, so the test drives the first run.
    let app = TestApp::spawn_with(backend, |c| poll_every(c, 3600)).await;
    let (facility, admin, provider) = open_clinic(&app).await;
    let patient = app.patient(facility, new_patient()).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    for i in 0..40 {
        let with = if i % 2 == 0 {
            json!({"patient_id": patient["id"], "status": "confirmed"})
        } else {
            json!({"lead_id": lead["id"]})
        };
        let mut body = json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(72 + i)), "duration_minutes": 30});
        body.as_object_mut()
            .unwrap()
            .extend(with.as_object().unwrap().clone());
        app.booked(&admin.token, facility, body).await;
    }
    assert_eq!(reminder_tally(&app).await, (120, 0, 0));
    // Time passes: every reminder is due.
    reminders::Entity::update_many()
        .col_expr(
            reminders::Column::DueAt,
            sea_orm::sea_query::Expr::value(Timestamp::now().plus_secs(-60)),
        )
        .exec(app.state.db.conn())
        .await
        .unwrap();
    // A run that dies part-way: its batch in flight rolls back whole.
    let state = app.state.clone();
    let run = tokio::spawn(async move { reminders::send_due(&state, Timestamp::now()).await });
    tokio::time::sleep(Duration::from_millis(40)).await;
    run.abort();
    let _ = run.await;
    let (_, sent, messages) = reminder_tally(&app).await;
    assert_eq!(
        sent, messages,
        "every sent reminder has its message, and only those"
    );
    assert!(
        sent % 50 == 0 || sent == 120,
        "batches commit whole: {sent}"
    );
    // Restarted, and joined by a second server on the same database; both
    // send every second.
    let app = app.restart(|c| poll_every(c, 1)).await;
    let second = carebase::AppState::open(app.state.config.clone())
        .await
        .unwrap();
    let second_server = carebase::Server::bind(second.clone(), carebase::contexts::routes())
        .await
        .unwrap();
    let stop_second = tokio_util::sync::CancellationToken::new();
    let second_run = tokio::spawn(second_server.run(stop_second.clone()));
    let mut tally = reminder_tally(&app).await;
    for _ in 0..300 {
        if tally.0 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tally = reminder_tally(&app).await;
    }
    stop_second.cancel();
    second_run.await.unwrap().unwrap();
    assert_eq!(reminder_tally(&app).await, (0, 120, 120));
    // Each message is its own; the confirmed appointments are now reminded.
    let db = app.state.db.conn();
    let rows = reminders::Entity::find().all(db).await.unwrap();
    let mut messages: Vec<Uuid> = rows.iter().filter_map(|r| r.outbox_message_id).collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 120);
    let reminded = carebase::scheduling::appointments::Entity::find()
        .filter(carebase::scheduling::appointments::Column::Status.eq("reminded"))
        .count(db)
        .await
        .unwrap();
    assert_eq!(reminded, 20);
    // The reminder names the facility and the time, not the visit's title.
    let outbox: Value = app
        .call(
            &app.system_admin().await.token,
            Method::GET,
            "/admin/outbox?limit=1",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let body = outbox["items"][0]["body"].as_str().unwrap();
    assert!(body.contains("MiKO Clinic"), "{body}");
    let pending: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/appointment-reminders"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["items"], json!([]));
    app.stop().await;
}

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
    let (facility, _, provider) = open_clinic(&app).await;
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
        move_to(&app, &desk.token, &appointment, "cancelled")
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
    // The held slot is not bookable by anyone else.
    let taken = app.book(&desk.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(start), "patient_id": booked_patient["id"]}),
    )
    .await;
    assert_eq!(
        problem(taken, 409, "slot-unavailable").await["reason"],
        "taken"
    );
    let accepted = app
        .call(
            &desk.token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist/{}/accept", id(&items[1])),
            None,
        )
        .await;
    assert_eq!(accepted.status(), 201);
    let appointment: Value = accepted.json().await.unwrap();
    assert_eq!(appointment["patient_id"], items[1]["patient_id"]);
    assert_eq!(appointment["status"], "confirmed");
    let twice = app
        .call(
            &desk.token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist/{}/accept", id(&items[1])),
            None,
        )
        .await;
    problem(twice, 409, "conflict").await;
    // An offer that runs out passes the slot to the next eligible entry.
    let third = join_waitlist(&app, &desk.token, facility, json!([])).await;
    let fourth = join_waitlist(&app, &desk.token, facility, json!([])).await;
    assert_eq!(
        move_to(&app, &desk.token, &appointment, "cancelled")
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

async fn who_sees_and_changes_which_appointment(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = clinic(&app, "UTC").await;
    // Seed 002's physicians reach every patient of their facility.
    let doctor = app.person(&[(Some(facility), Role::Physician)]).await;
    let colleague = app.person(&[(Some(facility), Role::Physician)]).await;
    for p in [&doctor, &colleague] {
        app.set_schedule(&admin.token, facility, p.account_id, always_open())
            .await;
    }
    // A doctor sets only their own schedule.
    let refused = app
        .call(
            &doctor.token,
            Method::PUT,
            &format!("/facilities/{facility}/schedules/{}", colleague.account_id),
            Some(always_open()),
        )
        .await;
    problem(refused, 403, "forbidden").await;
    let patient = app.patient(facility, new_patient()).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let with_patient = app.booked(&admin.token,
        facility,
        json!({"provider_id": colleague.account_id, "starts_at": text(hours_ahead(24)), "patient_id": patient["id"]}),
    )
    .await;
    let with_lead = app.booked(&admin.token,
        facility,
        json!({"provider_id": colleague.account_id, "starts_at": text(hours_ahead(26)), "lead_id": lead["id"]}),
    )
    .await;
    // The doctor sees the colleague's appointment but cannot change it.
    assert_eq!(
        move_to(&app, &doctor.token, &with_patient, "confirmed")
            .await
            .status(),
        403
    );
    assert_eq!(
        move_to(&app, &colleague.token, &with_patient, "confirmed")
            .await
            .status(),
        200
    );
    // Seed 004's doctor reaches only linked patients: not this one.
    let unlinked = app.person(&[(Some(facility), Role::Doctor)]).await;
    let path = format!("/facilities/{facility}/appointments/{}", id(&with_patient));
    problem(
        app.call(&unlinked.token, Method::GET, &path, None).await,
        404,
        "not-found",
    )
    .await;
    // An SDR, who reads no patient, sees only the lead's appointment.
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let seen: Value = app
        .call(
            &sdr.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<Uuid> = seen["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(&with_lead)]);
    let hidden = app
        .call(
            &sdr.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(&with_patient)),
            None,
        )
        .await;
    assert_eq!(hidden.status(), 404);
    // The SDR books a lead consultation with a coach, and may change it.
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    app.set_schedule(&admin.token, facility, coach.account_id, always_open())
        .await;
    let own = app.booked(&sdr.token,
        facility,
        json!({"provider_id": coach.account_id, "starts_at": text(hours_ahead(30)), "lead_id": lead["id"]}),
    )
    .await;
    assert_eq!(
        move_to(&app, &sdr.token, &own, "confirmed").await.status(),
        200
    );
    // A patient sees their own appointments only.
    let portal = app.person(&[(Some(facility), Role::Patient)]).await;
    let link = app
        .call(
            &admin.token,
            Method::PATCH,
            &format!(
                "/facilities/{facility}/patients/{}",
                patient["id"].as_str().unwrap()
            ),
            Some(json!({"portal_account_id": portal.account_id})),
        )
        .await;
    assert_eq!(link.status(), 200);
    let mine: Value = app
        .call(
            &portal.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<Uuid> = mine["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(&with_patient)]);
    // Another facility's staff find nothing.
    let (elsewhere, other_admin) = clinic(&app, "UTC").await;
    let _ = elsewhere;
    let outside = app
        .call(
            &other_admin.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(&with_lead)),
            None,
        )
        .await;
    assert_eq!(outside.status(), 404);
}

async fn appointment_text_is_sealed_and_reads_are_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = open_clinic(&app).await;
    let patient = app.patient(facility, new_patient()).await;
    let appointment = app.booked(&admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(24)),
               "patient_id": patient["id"], "title": "Rhinoplasty consultation Xylophone",
               "notes": "Quixotic allergy to latex", "meeting_link": "https://meet.example/zanzibar-room"}),
    )
    .await;
    assert_eq!(appointment["title"], "Rhinoplasty consultation Xylophone");
    let read = app
        .call(
            &provider.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(&appointment)),
            None,
        )
        .await;
    assert_eq!(read.status(), 200);
    let events: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/audit-events?resource_type=appointment&action=read&actor_id={}",
                provider.account_id
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events["items"][0]["patient_id"], patient["id"]);
    // The booking's own event, written with it, names the patient and
    // keeps the sealed fields out.
    let created: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/audit-events?resource_type=appointment&action=create&resource_id={}",
                id(&appointment)
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["items"].as_array().unwrap().len(), 1, "{created}");
    assert_eq!(created["items"][0]["patient_id"], patient["id"]);
    assert!(!created.to_string().contains("Xylophone"), "{created}");
    // Waitlist notes are sealed too.
    let entry = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist"),
            Some(json!({"patient_id": patient["id"], "notes": "Zygomatic waitlist remark",
                        "window_start": text(hours_ahead(24)), "window_end": text(hours_ahead(48))})),
        )
        .await;
    assert_eq!(entry.status(), 201);
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(
        &bytes,
        &[
            "Xylophone",
            "Quixotic allergy",
            "zanzibar-room",
            "Zygomatic waitlist",
        ],
    );
}

async fn feed(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

async fn calendar_feeds_show_own_appointments_without_phi_until_revoked(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = clinic(&app, "UTC").await;
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
        json!({"provider_id": colleague.account_id, "starts_at": text(start), "patient_id": patient["id"]}),
    )
    .await;
    let feeds = format!("/facilities/{facility}/calendar-feeds");
    // Only one's own feed.
    let refused = app
        .call(
            &colleague.token,
            Method::POST,
            &feeds,
            Some(json!({"provider_id": provider.account_id})),
        )
        .await;
    problem(refused, 403, "forbidden").await;
    let made = app
        .call(
            &provider.token,
            Method::POST,
            &feeds,
            Some(json!({"provider_id": provider.account_id})),
        )
        .await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let path = made["path"].as_str().unwrap().to_owned();
    let response = feed(&app, &path).await;
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
        .call(&provider.token, Method::GET, &feeds, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], made["id"]);
    assert!(listed["items"][0].get("path").is_none());
    // A patient's own feed shows both of their appointments.
    let portal = app.person(&[(Some(facility), Role::Patient)]).await;
    let staff_try = app
        .call(
            &admin.token,
            Method::POST,
            &feeds,
            Some(json!({"patient_id": patient["id"]})),
        )
        .await;
    assert_eq!(
        problem(staff_try, 422, "validation").await["errors"][0]["field"],
        "patient_id"
    );
    app.call(
        &admin.token,
        Method::PATCH,
        &format!(
            "/facilities/{facility}/patients/{}",
            patient["id"].as_str().unwrap()
        ),
        Some(json!({"portal_account_id": portal.account_id})),
    )
    .await;
    let own = app
        .call(
            &portal.token,
            Method::POST,
            &feeds,
            Some(json!({"patient_id": patient["id"]})),
        )
        .await;
    assert_eq!(own.status(), 201);
    let own: Value = own.json().await.unwrap();
    let own_body = feed(&app, own["path"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(own_body.matches("BEGIN:VEVENT").count(), 2, "{own_body}");
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
    // Someone else's feed is revoked only by an administrator.
    let not_yours = app
        .call(
            &colleague.token,
            Method::DELETE,
            &format!("{feeds}/{}", id(&made)),
            None,
        )
        .await;
    problem(not_yours, 403, "forbidden").await;
    // Revoked, or unknown: not found.
    let revoke = app
        .call(
            &provider.token,
            Method::DELETE,
            &format!("{feeds}/{}", id(&made)),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    problem(feed(&app, &path).await, 404, "not-found").await;
    problem(
        feed(&app, "/calendar/not-a-token.ics").await,
        404,
        "not-found",
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

async fn types_blocks_and_schedules_shape_the_search(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, surgeon) = open_clinic(&app).await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    app.set_schedule(&admin.token, facility, nurse.account_id, always_open())
        .await;
    // A procedure only the surgeon offers, with buffers.
    let types = format!("/facilities/{facility}/appointment-types");
    let procedure = app
        .call(
            &admin.token,
            Method::POST,
            &types,
            Some(
                json!({"name": "Rhinoplasty", "kind": "procedure", "duration_minutes": 120,
                        "buffer_before_minutes": 30, "buffer_after_minutes": 60,
                        "provider_ids": [surgeon.account_id]}),
            ),
        )
        .await;
    assert_eq!(procedure.status(), 201);
    let procedure: Value = procedure.json().await.unwrap();
    assert_eq!(procedure["provider_ids"], json!([surgeon.account_id]));
    let same_name = app
        .call(
            &admin.token,
            Method::POST,
            &types,
            Some(json!({"name": "Rhinoplasty"})),
        )
        .await;
    problem(same_name, 409, "conflict").await;
    let listed: Value = app
        .call(&nurse.token, Method::GET, &types, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["duration_minutes"], 120);
    let from = hours_ahead(24);
    let search = format!(
        "/facilities/{facility}/open-slots?from={}&to={}&type_id={}",
        text(from),
        text(from.plus_secs(6 * 3600)),
        procedure["id"].as_str().unwrap()
    );
    let found: Value = app
        .call(&admin.token, Method::GET, &search, None)
        .await
        .json()
        .await
        .unwrap();
    let slots = found["slots"].as_array().unwrap();
    assert!(!slots.is_empty());
    assert!(
        slots
            .iter()
            .all(|s| s["provider_id"] == json!(surgeon.account_id)),
        "{found}"
    );
    assert_eq!(found["duration_minutes"], 120);
    // The nurse does not offer it.
    let patient = app.patient(facility, new_patient()).await;
    let not_offered = app.book(&admin.token,
        facility,
        json!({"provider_id": nurse.account_id, "starts_at": text(from), "type_id": procedure["id"],
               "patient_id": patient["id"]}),
    )
    .await;
    assert_eq!(
        problem(not_offered, 422, "validation").await["errors"][0]["field"],
        "type_id"
    );
    // A block closes time until it is removed.
    let blocks = format!("/facilities/{facility}/availability-blocks");
    let block = app
        .call(
            &surgeon.token,
            Method::POST,
            &blocks,
            Some(
                json!({"provider_id": surgeon.account_id, "starts_at": text(from),
                        "ends_at": text(from.plus_secs(6 * 3600)), "reason": "Conference"}),
            ),
        )
        .await;
    assert_eq!(block.status(), 201);
    let block: Value = block.json().await.unwrap();
    let closed: Value = app
        .call(&admin.token, Method::GET, &search, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["slots"], json!([]));
    let mine: Value = app
        .call(
            &surgeon.token,
            Method::GET,
            &format!("{blocks}?provider_id={}", surgeon.account_id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["reason"], "Conference");
    let removed = app
        .call(
            &surgeon.token,
            Method::DELETE,
            &format!("{blocks}/{}", id(&block)),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let reopened: Value = app
        .call(&admin.token, Method::GET, &search, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reopened["slots"], found["slots"]);
    // Schedules read back as set, hours in order, in the facility's zone.
    let schedule: Value = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("/facilities/{facility}/schedules/{}", surgeon.account_id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(schedule["time_zone"], "UTC");
    assert_eq!(schedule["working_hours"][0]["weekday"], "monday");
    assert_eq!(schedule["working_hours"][0]["end"], "24:00");
    let all: Value = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("/facilities/{facility}/schedules"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

async fn a_reminder_with_no_address_is_skipped_with_a_note(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| poll_every(c, 3600)).await;
    let (facility, admin, provider) = open_clinic(&app).await;
    let mut lead = new_lead();
    lead.as_object_mut().unwrap().remove("email");
    let lead = app.create_lead(&admin.token, facility, lead).await;
    let appointment = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(72)),
               "lead_id": lead["id"], "status": "confirmed"}),
        )
        .await;
    reminders::Entity::update_many()
        .col_expr(
            reminders::Column::DueAt,
            sea_orm::sea_query::Expr::value(Timestamp::now().plus_secs(-60)),
        )
        .exec(app.state.db.conn())
        .await
        .unwrap();
    assert_eq!(
        reminders::send_due(&app.state, Timestamp::now())
            .await
            .unwrap(),
        3
    );
    let rows = reminders::Entity::find()
        .all(app.state.db.conn())
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.status == "skipped"
        && r.note.as_deref() == Some("no email address for the patient or lead")));
    assert_eq!(reminder_tally(&app).await, (0, 0, 0));
    // Still confirmed: nothing reminded the lead.
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
    assert_eq!(now["status"], "confirmed");
}

async fn concurrent_moves_of_one_appointment_apply_once(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = open_clinic(&app).await;
    let patient = app.patient(facility, new_patient()).await;
    let appointment = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(24)),
               "patient_id": patient["id"], "status": "confirmed"}),
        )
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
        async move { (to, move_to(app, &token, appointment, to).await) }
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

fn poll_every(config: &mut carebase::config::Config, secs: u64) {
    config.edit_section(|s: &mut SchedulingSettings| s.reminder_poll_secs = secs);
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("list schedules", Method::GET, P::SCHEDULE_READ, |r, _| format!("/facilities/{f}/schedules", f = r.facility)),
        Case::new("read schedule", Method::GET, P::SCHEDULE_READ, |r, _| {
                format!(
                    "/facilities/{f}/schedules/{p}",
                    f = r.facility,
                    p = r.provider
                )
            }),
        Case::new("set schedule", Method::PUT, P::SCHEDULE_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/schedules/{p}",
                    f = r.facility,
                    p = r.provider
                )
            })
            .body(|_, _| Some(always_open())),
        Case::new("add availability block", Method::POST, P::SCHEDULE_MANAGE, |r, _| format!("/facilities/{f}/availability-blocks", f = r.facility))
            .body(|w, _| Some(block_body(w.own.provider))),
        Case::new("list availability blocks", Method::GET, P::SCHEDULE_READ, |r, _| format!("/facilities/{f}/availability-blocks", f = r.facility)),
        // The block is made afresh for each request (see the loop).
        Case::new("delete availability block", Method::DELETE, P::SCHEDULE_MANAGE, |r, _| format!("/facilities/{f}/availability-blocks", f = r.facility))
            .fresh(fresh_block),
        Case::new("add appointment type", Method::POST, P::SCHEDULE_MANAGE, |r, _| format!("/facilities/{f}/appointment-types", f = r.facility))
            .body(|_, _| Some(json!({"name": format!("Type {}", Uuid::new_v4().simple())}))),
        Case::new("list appointment types", Method::GET, P::SCHEDULE_READ, |r, _| format!("/facilities/{f}/appointment-types", f = r.facility)),
        Case::new("change appointment type", Method::PATCH, P::SCHEDULE_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/appointment-types/{t}",
                    f = r.facility,
                    t = r.appointment_type
                )
            })
            .body(|_, _| Some(json!({"buffer_after_minutes": 5}))),
        Case::new("search open slots", Method::GET, P::SCHEDULE_READ, |r, _| {
                format!(
                    "/facilities/{f}/open-slots?from={from}&to={to}",
                    f = r.facility,
                    from = hours_ahead(24),
                    to = hours_ahead(48)
                )
            }),
        Case::new("check a slot", Method::GET, P::SCHEDULE_READ, |r, _| {
                format!(
                    "/facilities/{f}/slot-check?provider_id={p}&starts_at={t}",
                    f = r.facility,
                    p = r.provider,
                    t = hours_ahead(30)
                )
            }),
        Case::new("book appointment", Method::POST, P::APPOINTMENT_BOOK, |r, _| format!("/facilities/{f}/appointments", f = r.facility))
            .body(|w, _| {
                Some(
                    json!({"provider_id": w.own.provider, "starts_at": hours_ahead(200).to_string(), "lead_id": w.own.lead}),
                )
            })
            .grant(Grant::OwnRecord),
        Case::new("list appointments", Method::GET, P::APPOINTMENT_READ, |r, _| format!("/facilities/{f}/appointments", f = r.facility)),
        Case::new("read appointment", Method::GET, P::APPOINTMENT_READ, |r, _| {
                format!(
                    "/facilities/{f}/appointments/{a}",
                    f = r.facility,
                    a = r.appointment
                )
            }),
        Case::new("change appointment", Method::PATCH, P::APPOINTMENT_BOOK, |r, _| {
                format!(
                    "/facilities/{f}/appointments/{a}",
                    f = r.facility,
                    a = r.appointment
                )
            })
            .body(|_, _| Some(json!({"notes": "Prefers mornings"}))),
        Case::new("move appointment status", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
                format!(
                    "/facilities/{f}/appointments/{a}/status",
                    f = r.facility,
                    a = r.appointment
                )
            })
            .body(|_, _| Some(json!({"status": "confirmed"}))),
        Case::new("reschedule appointment", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
                format!(
                    "/facilities/{f}/appointments/{a}/reschedule",
                    f = r.facility,
                    a = r.appointment
                )
            })
            .body(|_, _| Some(json!({"starts_at": hours_ahead(300).to_string()}))),
        Case::new("list reminders", Method::GET, P::APPOINTMENT_READ, |r, _| format!("/facilities/{f}/appointment-reminders", f = r.facility)),
        Case::new("join waitlist", Method::POST, P::APPOINTMENT_BOOK, |r, _| format!("/facilities/{f}/waitlist", f = r.facility))
            .body(|w, _| {
                Some(
                    json!({"lead_id": w.own.lead, "window_start": hours_ahead(24).to_string(), "window_end": hours_ahead(96).to_string()}),
                )
            })
            .grant(Grant::OwnRecord),
        Case::new("list waitlist", Method::GET, P::APPOINTMENT_READ, |r, _| format!("/facilities/{f}/waitlist", f = r.facility)),
        Case::new("cancel waitlist entry", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
                format!(
                    "/facilities/{f}/waitlist/{e}/cancel",
                    f = r.facility,
                    e = r.waitlist_entry
                )
            }),
        Case::new("accept waitlist offer", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
                format!(
                    "/facilities/{f}/waitlist/{e}/accept",
                    f = r.facility,
                    e = r.waitlist_entry
                )
            }),
        // Names no one: past the policy engine, a 422 (see the loop).
        // Names no one to make the feed for: the only rules past the policy
        // engine are whose feed it is, which the scheduling tests check, so
        // a 422 means the engine let it through.
        Case::new("make calendar feed", Method::POST, P::APPOINTMENT_READ, |r, _| format!("/facilities/{f}/calendar-feeds", f = r.facility))
            .body(|_, _| Some(json!({})))
            .passes(&[422]),
        Case::new("list calendar feeds", Method::GET, P::APPOINTMENT_READ, |r, _| format!("/facilities/{f}/calendar-feeds", f = r.facility)),
        Case::new("revoke someone's calendar feed", Method::DELETE, P::FACILITY_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/calendar-feeds/{c}",
                    f = r.facility,
                    c = r.feed
                )
            }),
    ]
}

/// A block of the records' provider, made by the administrator.
fn fresh_block<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let response = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{}/availability-blocks", records.facility),
                Some(block_body(records.provider)),
            )
            .await;
        assert_eq!(response.status(), 201);
        id(&response.json().await.unwrap())
    })
}

fn block_body(provider: Uuid) -> Value {
    json!({"provider_id": provider, "starts_at": hours_ahead(500).to_string(), "ends_at": hours_ahead(501).to_string(), "reason": "Surgery"})
}
