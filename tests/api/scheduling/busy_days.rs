//! The busy time the open-slot search reads precomputed per provider and
//! day answers the same as the appointments themselves, after bookings
//! (one across midnight, one with a buffer), a cancellation, moves to
//! another day and another provider, and writes that bypass the API.

use carebase::policy::Role;
use carebase::scheduling::slots::Span;
use carebase::scheduling::{appointments, free_busy, reminders, store};
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, always_open, hours_ahead, id, new_patient, text};

on_both_backends!(precomputed_busy_days_answer_as_the_appointments_do,);

const HOUR: i64 = 3_600;

async fn precomputed_busy_days_answer_as_the_appointments_do(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in("UTC").await;
    let providers = two_providers(&app, &admin.token, facility).await;
    let [a, b] = providers;
    let patient = app.patient(facility, new_patient()).await;
    let kind = surgery(&app, &admin.token, facility).await;
    // Midnight UTC two days ahead: bookings either side of a day's edge.
    let midnight = Timestamp::from_micros(
        (hours_ahead(48).as_micros() / free_busy::DAY_MICROS + 1) * free_busy::DAY_MICROS,
    );
    let period = Span::new(
        midnight.plus_secs(-24 * HOUR),
        midnight.plus_secs(4 * 24 * HOUR),
    );
    let check = Check {
        app: &app,
        facility,
        token: &admin.token,
        providers: &providers,
        period,
    };
    check.same("before any booking").await;
    let book = |provider: Uuid, at: Timestamp, typed: bool| {
        let mut body =
            json!({"provider_id": provider, "starts_at": text(at), "patient_id": patient["id"]});
        if typed {
            body["type_id"] = kind["id"].clone();
        }
        app.booked(&admin.token, facility, body)
    };
    let across = book(a, midnight.plus_secs(-HOUR / 2), false).await;
    let buffered = book(a, midnight.plus_secs(3 * HOUR), true).await;
    let other = book(b, midnight.plus_secs(HOUR), false).await;
    let busy = check.same("after three bookings").await;
    assert_eq!(busy.len(), 3, "{busy:?}");
    // The buffers widen the busy time: 02:45 to 04:30.
    assert!(busy.contains(&(
        a,
        Span::new(
            midnight.plus_secs(3 * HOUR - 900),
            midnight.plus_secs(4 * HOUR + 1800)
        )
    )));

    let cancelled = app
        .move_appointment(&admin.token, &other, "cancelled")
        .await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(check.same("after a cancellation").await.len(), 2);

    let reschedule = async |appointment: &Value, body: Value| {
        let path = format!(
            "/facilities/{facility}/appointments/{}/reschedule",
            id(appointment)
        );
        app.call(&admin.token, Method::POST, &path, Some(body))
            .await
    };
    let next_day = reschedule(
        &across,
        json!({"starts_at": text(midnight.plus_secs(30 * HOUR))}),
    )
    .await;
    assert_eq!(next_day.status(), 201);
    let to_b = reschedule(
        &buffered,
        json!({"starts_at": text(midnight.plus_secs(5 * HOUR)), "provider_id": b}),
    )
    .await;
    assert_eq!(to_b.status(), 201);
    let busy = check.same("after moves to another day and provider").await;
    assert_eq!(busy.iter().filter(|(p, _)| *p == b).count(), 1);

    let moved: Value = next_day.json().await.unwrap();
    writes_outside_the_api(&check, id(&moved)).await;
    app.stop().await;
}

/// Two providers working around the clock.
async fn two_providers(app: &TestApp, token: &str, facility: Uuid) -> [Uuid; 2] {
    let mut providers = [Uuid::nil(); 2];
    for provider in &mut providers {
        let person = app.person(&[(Some(facility), Role::Provider)]).await;
        app.set_schedule(token, facility, person.account_id, always_open())
            .await;
        *provider = person.account_id;
    }
    providers
}

/// A 60-minute type with 15 minutes' buffer before and 30 after.
async fn surgery(app: &TestApp, token: &str, facility: Uuid) -> Value {
    let kind = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/appointment-types"),
            Some(json!({"name": "Surgery", "duration_minutes": 60, "buffer_before_minutes": 15, "buffer_after_minutes": 30})),
        )
        .await;
    assert_eq!(kind.status(), 201);
    let kind: Value = kind.json().await.unwrap();
    kind
}

/// Writes outside the API are kept too: a day later, then deleted.
async fn writes_outside_the_api(check: &Check<'_>, moved_id: Uuid) {
    let db = check.app.state.db.conn();
    appointments::Entity::update_many()
        .col_expr(
            appointments::Column::BusyFrom,
            Expr::col(appointments::Column::BusyFrom).add(free_busy::DAY_MICROS),
        )
        .col_expr(
            appointments::Column::BusyUntil,
            Expr::col(appointments::Column::BusyUntil).add(free_busy::DAY_MICROS),
        )
        .filter(appointments::Column::Id.eq(moved_id))
        .exec(db)
        .await
        .unwrap();
    check.same("after a direct update").await;
    reminders::Entity::delete_many()
        .filter(reminders::Column::AppointmentId.eq(moved_id))
        .exec(db)
        .await
        .unwrap();
    appointments::Entity::delete_many()
        .filter(appointments::Column::Id.eq(moved_id))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(check.same("after a direct delete").await.len(), 1);
}

/// Compares the two sources of busy time, and the search with the slots
/// computed from the appointments.
struct Check<'a> {
    app: &'a TestApp,
    facility: Uuid,
    token: &'a str,
    providers: &'a [Uuid],
    period: Span,
}

impl Check<'_> {
    /// Asserts both answers are equal and returns the busy time.
    async fn same(&self, when: &str) -> Vec<(Uuid, Span)> {
        let db = self.app.state.db.conn();
        let mut truth = store::appointment_busy(db, self.providers, self.period, None)
            .await
            .unwrap();
        let mut days =
            free_busy::busy_over(db, self.providers, self.period, store::LONGEST_BUSY_MICROS)
                .await
                .unwrap();
        truth.sort();
        days.sort();
        assert_eq!(days, truth, "{when}");
        assert_eq!(self.searched().await, self.naive_slots().await, "{when}");
        truth
    }

    /// The open 30-minute slots the API answers, as (provider, start).
    async fn searched(&self) -> Vec<(Uuid, Timestamp)> {
        let path = format!(
            "/facilities/{}/open-slots?from={}&to={}&limit=2000",
            self.facility,
            text(self.period.start),
            text(self.period.end)
        );
        let found = self.app.call(self.token, Method::GET, &path, None).await;
        assert_eq!(found.status(), 200);
        let found: Value = found.json().await.unwrap();
        assert_eq!(found["truncated"], false);
        let mut slots: Vec<(Uuid, Timestamp)> = found["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["provider_id"].as_str().unwrap().parse().unwrap(),
                    s["starts_at"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        slots.sort();
        slots
    }

    /// The same slots computed from the appointments.
    async fn naive_slots(&self) -> Vec<(Uuid, Timestamp)> {
        let db = self.app.state.db.conn();
        let mut schedules = Vec::new();
        for provider in self.providers {
            let found = store::find_schedule(db, self.facility, *provider).await;
            schedules.push(found.unwrap().unwrap());
        }
        let now = Timestamp::now();
        let calendars = store::calendars(db, &schedules, self.period, None, None, now)
            .await
            .unwrap();
        let mut slots = Vec::new();
        for (schedule, calendar) in schedules.iter().zip(&calendars) {
            for slot in calendar.open_slots(self.period, 30, 0, 0, now, 2001) {
                slots.push((schedule.provider_id, slot.start));
            }
        }
        slots.sort();
        slots
    }
}
