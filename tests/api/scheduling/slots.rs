//! Open slots and the slot check: local hours across a daylight-saving
//! change, each reason a slot is unavailable, one appointment from fifty
//! concurrent bookings, and how types, blocks and schedules shape the search.

use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, always_open, hours_ahead, id, new_patient, problem, text,
};

on_both_backends!(
    open_slots_keep_local_hours_across_a_daylight_saving_week,
    the_slot_check_names_each_reason,
    fifty_concurrent_bookings_of_one_slot_make_one_appointment,
    types_blocks_and_schedules_shape_the_search,
);

const LA: &str = "America/Los_Angeles";

async fn open_slots_keep_local_hours_across_a_daylight_saving_week(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in(LA).await;
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
    let search = |zone: &str| dst_week(facility, provider.account_id, zone);
    slots_keep_local_hours(&app, &admin.token, &search).await;
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

/// The search for `provider`'s hour-long slots over the week clocks go
/// forward in Los Angeles (Sunday 14 March 2027), shown in `zone`.
fn dst_week(facility: Uuid, provider: Uuid, zone: &str) -> String {
    format!(
        "/facilities/{facility}/open-slots?from=2027-03-12T08:00:00Z&to=2027-03-17T07:00:00Z\
         &provider_ids={provider}&duration_minutes=60&time_zone={zone}"
    )
}

/// Friday, Monday, Tuesday from 09:00 local, across the change; the same
/// slots shown in the caller's zone.
async fn slots_keep_local_hours(app: &TestApp, token: &str, search: &impl Fn(&str) -> String) {
    let local: Value = app
        .call(token, Method::GET, &search(LA), None)
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
        .call(token, Method::GET, &search("Europe/Berlin"), None)
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
}

async fn the_slot_check_names_each_reason(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in("UTC").await;
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
    outside_working_hours_is_a_reason(&app, facility, &admin.token).await;
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

/// Outside working hours, with a provider who works mornings only.
async fn outside_working_hours_is_a_reason(app: &TestApp, facility: Uuid, token: &str) {
    let part_time = app.person(&[(Some(facility), Role::Nurse)]).await;
    app.set_schedule(&part_time.token,
        facility,
        part_time.account_id,
        json!({"working_hours": [{"weekday": "monday", "start": "08:00", "end": "12:00"}], "min_notice_minutes": 0}),
    )
    .await;
    let answer: Value = app
        .call(
            token,
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
}

async fn fifty_concurrent_bookings_of_one_slot_make_one_appointment(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, _, provider) = app.open_clinic().await;
    let desk = app.person(&[(Some(facility), Role::Staff)]).await;
    let patient = app.patient(facility, new_patient()).await;
    let start = hours_ahead(24);
    let before = app.appointment_count().await;
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
    assert_eq!(app.appointment_count().await, before + 1);
}

async fn types_blocks_and_schedules_shape_the_search(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, surgeon) = app.open_clinic().await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    app.set_schedule(&admin.token, facility, nurse.account_id, always_open())
        .await;
    let procedure =
        a_procedure_only_the_surgeon_offers(&app, facility, &admin.token, &nurse, &surgeon).await;
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
    a_block_closes_time_until_it_is_removed(
        &app,
        facility,
        &admin.token,
        &surgeon,
        &search,
        &found,
        from,
    )
    .await;
    schedules_read_back_as_set(&app, facility, &nurse, &surgeon).await;
}

/// A procedure only the surgeon offers, with buffers.
async fn a_procedure_only_the_surgeon_offers(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    nurse: &Person,
    surgeon: &Person,
) -> Value {
    let types = format!("/facilities/{facility}/appointment-types");
    let procedure = app
        .call(
            token,
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
            token,
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
    procedure
}

/// A block closes time until it is removed.
async fn a_block_closes_time_until_it_is_removed(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    surgeon: &Person,
    search: &str,
    found: &Value,
    from: Timestamp,
) {
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
        .call(token, Method::GET, search, None)
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
        .call(token, Method::GET, search, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reopened["slots"], found["slots"]);
}

/// Schedules read back as set, hours in order, in the facility's zone.
async fn schedules_read_back_as_set(
    app: &TestApp,
    facility: Uuid,
    nurse: &Person,
    surgeon: &Person,
) {
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
