//! A Saturday clinic: an opening block wins over the weekend closure for
//! its hours (not over a holiday), and `carebase schedule block-weekends`
//! (its core, `maintenance::block_weekends`) leaves alone the weekend days
//! an administrator opened or unblocked.

use carebase::scheduling::maintenance::{Blocked, block_weekends};
use carebase::time::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, new_patient, text};

on_both_backends!(
    an_opening_wins_over_the_weekend_closure_for_its_hours,
    block_weekends_leaves_opened_and_unblocked_days_alone,
);

const LA: &str = "America/Los_Angeles";

/// The instant of local `time` ("HH:MM") on `date` in `zone`.
fn local(zone: &str, date: Date, time: &str) -> Timestamp {
    let time: jiff::civil::Time = time.parse().unwrap();
    let zoned = date
        .to_datetime(time)
        .to_zoned_datetime(TimeZone::get(zone).unwrap());
    Timestamp::from(zoned.unwrap().timestamp())
}

/// The first `weekday` at least `days` days after today in `zone`.
fn next(zone: &str, weekday: Weekday, days: i64) -> Date {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(TimeZone::get(zone).unwrap())
        .date();
    let mut day = today.checked_add(jiff::Span::new().days(days)).unwrap();
    while day.weekday() != weekday {
        day = day.tomorrow().unwrap();
    }
    day
}

async fn run(app: &TestApp, facility: Uuid, months: u32) -> Blocked {
    let mut report = block_weekends(&app.state.db, Some(facility), months, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(report.len(), 1);
    report.remove(0)
}

async fn add_block(app: &TestApp, token: &str, facility: Uuid, body: Value) -> Value {
    let response = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/availability-blocks"),
            Some(body),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// The slot check of `provider` at `at`.
async fn checked(
    app: &TestApp,
    token: &str,
    facility: Uuid,
    provider: Uuid,
    at: Timestamp,
) -> Value {
    let path = format!(
        "/facilities/{facility}/slot-check?provider_id={provider}&starts_at={}",
        text(at)
    );
    app.call(token, Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap()
}

async fn an_opening_wins_over_the_weekend_closure_for_its_hours(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in(LA).await;
    let token = admin.token.as_str();
    let provider = app
        .person(&[(Some(facility), carebase::policy::Role::Provider)])
        .await
        .account_id;
    let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    app.set_schedule(token, facility, provider, json!({
        "working_hours": weekdays.map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"})),
        "min_notice_minutes": 0,
    }))
    .await;
    assert!(run(&app, facility, 1).await.added >= 8);
    let saturday = next(LA, Weekday::Saturday, 2);
    let at = |time: &str| local(LA, saturday, time);
    let closed = checked(&app, token, facility, provider, at("10:00")).await;
    assert_eq!(closed["reason"], "blocked");
    add_block(
        &app,
        token,
        facility,
        json!({"starts_at": text(at("09:00")),
        "ends_at": text(at("13:00")), "is_available": true, "reason": "Saturday clinic"}),
    )
    .await;
    let open = checked(&app, token, facility, provider, at("10:00")).await;
    assert_eq!(open["available"], true, "{open}");
    let after = checked(&app, token, facility, provider, at("13:00")).await;
    assert_eq!(after["reason"], "blocked", "{after}");
    assert!(
        after["detail"].as_str().unwrap().contains("Weekend"),
        "{after}"
    );
    let search = format!(
        "/facilities/{facility}/open-slots?from={}&to={}&provider_ids={provider}",
        text(at("00:00")),
        text(at("23:59")),
    );
    let found: Value = app
        .call(token, Method::GET, &search, None)
        .await
        .json()
        .await
        .unwrap();
    let slots = found["slots"].as_array().unwrap();
    assert_eq!(slots[0]["local_start"].as_str().unwrap()[11..16], *"09:00");
    assert_eq!(
        slots[slots.len() - 1]["local_end"].as_str().unwrap()[11..16],
        *"13:00"
    );
    let patient = app.patient(facility, new_patient()).await;
    app.booked(
        token,
        facility,
        json!({"provider_id": provider,
        "starts_at": text(at("10:00")), "patient_id": patient["id"]}),
    )
    .await;
    a_holiday_still_closes_it(&app, token, facility, provider, saturday).await;
}

/// A holiday still closes the Saturday clinic's hours; Sunday stays closed.
async fn a_holiday_still_closes_it(
    app: &TestApp,
    token: &str,
    facility: Uuid,
    provider: Uuid,
    saturday: Date,
) {
    add_block(app, token, facility, json!({"provider_id": provider,
        "starts_at": text(local(LA, saturday, "11:00")), "ends_at": text(local(LA, saturday, "12:00")),
        "reason": "Holiday"}))
    .await;
    let holiday = checked(app, token, facility, provider, local(LA, saturday, "11:00")).await;
    assert!(
        holiday["detail"].as_str().unwrap().contains("Holiday"),
        "{holiday}"
    );
    let sunday = saturday.tomorrow().unwrap();
    let closed = checked(app, token, facility, provider, local(LA, sunday, "10:00")).await;
    assert_eq!(closed["reason"], "blocked");
}

/// The facility's weekend closures starting within `days` days from now,
/// by start.
async fn weekend_blocks(app: &TestApp, token: &str, facility: Uuid, days: i64) -> Vec<Value> {
    let path = format!(
        "/facilities/{facility}/availability-blocks?from={}&to={}&limit=200",
        text(Timestamp::now()),
        text(Timestamp::now().plus_secs(days * 86_400))
    );
    let page: Value = app
        .call(token, Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    let mut blocks: Vec<Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["reason"] == "Weekend" && b["provider_id"].is_null())
        .cloned()
        .collect();
    blocks.sort_by_key(|b| b["starts_at"].as_str().unwrap().to_owned());
    blocks
}

fn starts_on(blocks: &[Value], day: Timestamp) -> bool {
    blocks.iter().any(|b| b["starts_at"] == json!(text(day)))
}

async fn block_weekends_leaves_opened_and_unblocked_days_alone(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let zone = "UTC";
    let (facility, admin) = app.clinic_in(zone).await;
    let token = admin.token.as_str();
    let provider = app
        .person(&[(Some(facility), carebase::policy::Role::Provider)])
        .await;
    let first = run(&app, facility, 1).await;
    assert!(first.added >= 8 && first.left_open == 0, "{first:?}");
    // Unblock a Sunday: delete its weekend closure.
    let sunday = local(zone, next(zone, Weekday::Sunday, 3), "00:00");
    let blocks = weekend_blocks(&app, token, facility, 40).await;
    let closure = blocks
        .iter()
        .find(|b| b["starts_at"] == json!(text(sunday)))
        .unwrap();
    let deleted = app
        .call(
            token,
            Method::DELETE,
            &format!("/facilities/{facility}/availability-blocks/{}", id(closure)),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    // Open a Saturday not yet blocked for the facility, another for one
    // provider only.
    let opened = next(zone, Weekday::Saturday, 40);
    let opening = add_block(&app, token, facility, json!({"starts_at": text(local(zone, opened, "10:00")),
        "ends_at": text(local(zone, opened, "14:00")), "is_available": true, "reason": "Saturday clinic"}))
    .await;
    let own = opened.checked_add(jiff::Span::new().days(7)).unwrap();
    add_block(
        &app,
        token,
        facility,
        json!({"provider_id": provider.account_id,
        "starts_at": text(local(zone, own, "10:00")), "ends_at": text(local(zone, own, "14:00")),
        "is_available": true, "reason": "Saturday clinic"}),
    )
    .await;
    let second = run(&app, facility, 2).await;
    assert_eq!(second.left_open, 2, "{second:?}");
    let blocks = weekend_blocks(&app, token, facility, 70).await;
    assert!(!starts_on(&blocks, sunday) && !starts_on(&blocks, local(zone, opened, "00:00")));
    assert!(starts_on(&blocks, local(zone, own, "00:00")));
    // The opening removed, its Saturday is closed again; the Sunday stays open.
    let removed = app
        .call(
            token,
            Method::DELETE,
            &format!(
                "/facilities/{facility}/availability-blocks/{}",
                id(&opening)
            ),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let third = run(&app, facility, 2).await;
    assert_eq!((third.added, third.left_open), (1, 1), "{third:?}");
    let blocks = weekend_blocks(&app, token, facility, 70).await;
    assert!(starts_on(&blocks, local(zone, opened, "00:00")) && !starts_on(&blocks, sunday));
}
