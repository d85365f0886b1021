//! Video calls: ringing, answering, ending, scheduling, the missed-call
//! sweep, and Daily's rooms when a key is configured.

use std::time::Duration;

use carebase::messaging::settings::MessagingSettings;
use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    Clinic, Socket, TestApp, TestBackend, assert_no_plaintext, id, json_of, problem,
};

on_both_backends!(
    video_calls_ring_are_answered_end_and_go_missed,
    daily_makes_the_rooms_when_a_key_is_configured,
);

async fn video_calls_ring_are_answered_end_and_go_missed(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.edit_section(|s: &mut MessagingSettings| {
            s.call_ring_timeout_secs = 5;
            s.video_builtin_base_url = "https://video.clinic.example/rooms".to_owned();
        })
    })
    .await;
    let c = app.telehealth_clinic().await;
    let (link, conversation) = c.linked(&app).await;
    let calls = format!("{}/{conversation}/calls", c.conversations());
    let mut patient_socket = Socket::open(app.addr, &c.patient.token).await;
    patient_socket.subscribe(&[conversation]).await;
    let ringing = a_call_rings_is_answered_and_ends(&app, &c, &calls, &mut patient_socket).await;
    let scheduled = a_scheduled_call_rings_later_or_is_canceled(&app, &c, &calls).await;
    let unanswered = an_unanswered_call_goes_missed(&app, &c, &calls, &mut patient_socket).await;
    let listed = json_of(app.call(&c.patient.token, Method::GET, &calls, None).await).await;
    let ids: Vec<Uuid> = listed["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(
        ids,
        [id(&unanswered), id(&scheduled), id(&ringing)],
        "newest first"
    );
    // Room links are sealed; outsiders see nothing; an ended link calls no one.
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["video.clinic.example"]);
    let stranger = app.person(&[(Some(c.facility), Role::Doctor)]).await;
    problem(
        app.call(&stranger.token, Method::GET, &calls, None).await,
        404,
        "not-found",
    )
    .await;
    json_of(c.move_link(&app, &c.patient, link, "ended").await).await;
    problem(
        app.call(&c.patient.token, Method::POST, &calls, Some(json!({})))
            .await,
        409,
        "conflict",
    )
    .await;
    app.stop().await;
}

fn call_path(calls: &str, call: &Value) -> String {
    format!("{calls}/{}", id(call))
}

/// The doctor calls; the built-in provider issues the room; the patient
/// answers; either side ends it.
async fn a_call_rings_is_answered_and_ends(
    app: &TestApp,
    c: &Clinic,
    calls: &str,
    patient_socket: &mut Socket,
) -> Value {
    let ringing = json_of(
        app.call(&c.doctor.token, Method::POST, calls, Some(json!({})))
            .await,
    )
    .await;
    assert_eq!(ringing["status"], "ringing");
    assert_eq!(ringing["provider"], "builtin");
    let room = ringing["room_name"].as_str().unwrap();
    assert_eq!(
        ringing["room_url"],
        format!("https://video.clinic.example/rooms/{room}")
    );
    assert!(!ringing["ringing_at"].is_null());
    let event = patient_socket.expect("call.updated").await;
    assert_eq!(event["call"]["status"], "ringing");
    let active = json_of(
        app.call(
            &c.patient.token,
            Method::POST,
            &format!("{}/status", call_path(calls, &ringing)),
            Some(json!({"status": "active"})),
        )
        .await,
    )
    .await;
    assert!(!active["started_at"].is_null());
    let refused = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(calls, &ringing)),
            Some(json!({"status": "ended", "recording_url": "https://rec.example/1"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "recording_url");
    let ended = json_of(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(calls, &ringing)),
            Some(json!({"status": "ended"})),
        )
        .await,
    )
    .await;
    assert!(!ended["ended_at"].is_null());
    let refused = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(calls, &ringing)),
            Some(json!({"status": "active"})),
        )
        .await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!([]));
    ringing
}

/// A scheduled call rings later, or is canceled.
async fn a_scheduled_call_rings_later_or_is_canceled(
    app: &TestApp,
    c: &Clinic,
    calls: &str,
) -> Value {
    let past = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            calls,
            Some(json!({"scheduled_for": "2020-01-01T00:00:00Z"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(past["errors"][0]["field"], "scheduled_for");
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let scheduled = json_of(
        app.call(
            &c.doctor.token,
            Method::POST,
            calls,
            Some(json!({"scheduled_for": later, "recording_enabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(scheduled["status"], "scheduled");
    assert!(scheduled["ringing_at"].is_null());
    problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(calls, &scheduled)),
            Some(json!({"status": "active"})),
        )
        .await,
        409,
        "invalid-transition",
    )
    .await;
    let canceled = json_of(
        app.call(
            &c.patient.token,
            Method::POST,
            &format!("{}/status", call_path(calls, &scheduled)),
            Some(json!({"status": "canceled"})),
        )
        .await,
    )
    .await;
    assert_eq!(canceled["status"], "canceled");
    scheduled
}

/// Unanswered, a call is marked missed by the sweep, and sockets hear it.
async fn an_unanswered_call_goes_missed(
    app: &TestApp,
    c: &Clinic,
    calls: &str,
    patient_socket: &mut Socket,
) -> Value {
    let unanswered = json_of(
        app.call(&c.doctor.token, Method::POST, calls, Some(json!({})))
            .await,
    )
    .await;
    let mut status = String::new();
    for _ in 0..100 {
        let seen = json_of(
            app.call(
                &c.patient.token,
                Method::GET,
                &call_path(calls, &unanswered),
                None,
            )
            .await,
        )
        .await;
        status = seen["status"].as_str().unwrap().to_owned();
        if status == "missed" {
            assert!(!seen["ended_at"].is_null());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, "missed");
    loop {
        let event = patient_socket.expect("call.updated").await;
        if event["call"]["id"] == unanswered["id"] && event["call"]["status"] == "missed" {
            break;
        }
    }
    unanswered
}

async fn daily_makes_the_rooms_when_a_key_is_configured(backend: TestBackend) {
    let daily = crate::support::fake_daily::FakeDaily::default();
    let api = daily.start().await;
    let app = TestApp::spawn_with(backend, |c| {
        c.edit_section(|s: &mut MessagingSettings| {
            s.video_daily_api_key = Some(carebase::config::SecretString::new(
                crate::support::fake_daily::KEY.to_owned(),
            ));
            s.video_daily_api_url = api.clone();
        })
    })
    .await;
    let c = app.telehealth_clinic().await;
    let (_, conversation) = c.linked(&app).await;
    let calls = format!("{}/{conversation}/calls", c.conversations());
    let call = json_of(
        app.call(
            &c.doctor.token,
            Method::POST,
            &calls,
            Some(json!({"recording_enabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(call["provider"], "daily");
    let room = call["room_name"].as_str().unwrap().to_owned();
    assert_eq!(call["room_url"], format!("https://clinic.daily.co/{room}"));
    let made = daily.rooms.lock().unwrap().get(&room).cloned().unwrap();
    assert_eq!(made["privacy"], "private");
    assert_eq!(made["properties"]["enable_recording"], "cloud");
    assert!(made["properties"]["exp"].as_i64().unwrap() > jiff::Timestamp::now().as_second());
    // Daily failing: a 503 problem, and no call is written.
    *daily.failing.lock().unwrap() = true;
    problem(
        app.call(&c.doctor.token, Method::POST, &calls, Some(json!({})))
            .await,
        503,
        "unavailable",
    )
    .await;
    let listed = json_of(app.call(&c.doctor.token, Method::GET, &calls, None).await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}
