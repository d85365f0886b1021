//! Scheduling's cases of the role matrix (see `support::matrix`), in the
//! order the matrix sends them: a case may find the record as an earlier
//! one left it.

use carebase::policy::Permission as P;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::matrix::{BoxFuture, Case, Grant, Records};
use crate::support::{TestApp, always_open, hours_ahead, id};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    [
        schedule_cases(),
        appointment_cases(),
        waitlist_and_feed_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A path of the records' facility.
fn in_facility(r: &Records, rest: &str) -> String {
    format!("/facilities/{f}{rest}", f = r.facility)
}

/// Schedules, blocks and appointment types.
fn schedule_cases() -> Vec<Case> {
    vec![
        Case::new("list schedules", Method::GET, P::SCHEDULE_READ, |r, _| {
            in_facility(r, "/schedules")
        }),
        Case::new("read schedule", Method::GET, P::SCHEDULE_READ, |r, _| {
            in_facility(r, &format!("/schedules/{p}", p = r.provider))
        }),
        Case::new("set schedule", Method::PUT, P::SCHEDULE_MANAGE, |r, _| {
            in_facility(r, &format!("/schedules/{p}", p = r.provider))
        })
        .body(|_, _| Some(always_open())),
        Case::new(
            "add availability block",
            Method::POST,
            P::SCHEDULE_MANAGE,
            |r, _| in_facility(r, "/availability-blocks"),
        )
        .body(|w, _| Some(block_body(w.own.provider))),
        Case::new(
            "list availability blocks",
            Method::GET,
            P::SCHEDULE_READ,
            |r, _| in_facility(r, "/availability-blocks"),
        ),
        // The block is made afresh for each request (see the loop).
        Case::new(
            "delete availability block",
            Method::DELETE,
            P::SCHEDULE_MANAGE,
            |r, block| in_facility(r, &format!("/availability-blocks/{block}")),
        )
        .fresh(fresh_block),
        Case::new(
            "add appointment type",
            Method::POST,
            P::SCHEDULE_MANAGE,
            |r, _| in_facility(r, "/appointment-types"),
        )
        .body(|_, _| Some(json!({"name": format!("Type {}", Uuid::new_v4().simple())}))),
        Case::new(
            "list appointment types",
            Method::GET,
            P::SCHEDULE_READ,
            |r, _| in_facility(r, "/appointment-types"),
        ),
        Case::new(
            "change appointment type",
            Method::PATCH,
            P::SCHEDULE_MANAGE,
            |r, _| {
                in_facility(
                    r,
                    &format!("/appointment-types/{t}", t = r.appointment_type),
                )
            },
        )
        .body(|_, _| Some(json!({"buffer_after_minutes": 5}))),
    ]
}

/// The slot search, appointments and their reminders.
fn appointment_cases() -> Vec<Case> {
    vec![
        Case::new(
            "search open slots",
            Method::GET,
            P::SCHEDULE_READ,
            |r, _| {
                in_facility(
                    r,
                    &format!(
                        "/open-slots?from={from}&to={to}",
                        from = hours_ahead(24),
                        to = hours_ahead(48)
                    ),
                )
            },
        ),
        Case::new("check a slot", Method::GET, P::SCHEDULE_READ, |r, _| {
            in_facility(
                r,
                &format!(
                    "/slot-check?provider_id={p}&starts_at={t}",
                    p = r.provider,
                    t = hours_ahead(30)
                ),
            )
        }),
        Case::new("book appointment", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
            in_facility(r, "/appointments")
        })
        .body(|w, _| {
            Some(
                json!({"provider_id": w.own.provider, "starts_at": hours_ahead(200).to_string(), "lead_id": w.own.lead}),
            )
        })
        .grant(Grant::OwnRecord),
        Case::new("list appointments", Method::GET, P::APPOINTMENT_READ, |r, _| {
            in_facility(r, "/appointments")
        }),
        Case::new("read appointment", Method::GET, P::APPOINTMENT_READ, |r, _| {
            in_facility(r, &format!("/appointments/{a}", a = r.appointment))
        }),
        Case::new("change appointment", Method::PATCH, P::APPOINTMENT_BOOK, |r, _| {
            in_facility(r, &format!("/appointments/{a}", a = r.appointment))
        })
        .body(|_, _| Some(json!({"notes": "Prefers mornings"}))),
        Case::new("move appointment status", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
            in_facility(r, &format!("/appointments/{a}/status", a = r.appointment))
        })
        .body(|_, _| Some(json!({"status": "confirmed"}))),
        Case::new("reschedule appointment", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
            in_facility(r, &format!("/appointments/{a}/reschedule", a = r.appointment))
        })
        .body(|_, _| Some(json!({"starts_at": hours_ahead(300).to_string()}))),
        Case::new("list reminders", Method::GET, P::APPOINTMENT_READ, |r, _| {
            in_facility(r, "/appointment-reminders")
        }),
        // A reminder of the lead's appointment: pending, or cancelled once
        // an earlier role rescheduled it (a 409 past the policy engine).
        Case::new("change reminder channel", Method::PATCH, P::APPOINTMENT_BOOK, |r, reminder| {
            in_facility(r, &format!("/appointment-reminders/{reminder}"))
        })
        .body(|_, _| Some(json!({"channel": "sms"})))
        .fresh(a_reminder),
    ]
}

/// The waitlist and calendar feeds.
fn waitlist_and_feed_cases() -> Vec<Case> {
    vec![
        Case::new("join waitlist", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
            in_facility(r, "/waitlist")
        })
        .body(|w, _| {
            Some(
                json!({"lead_id": w.own.lead, "window_start": hours_ahead(24).to_string(), "window_end": hours_ahead(96).to_string()}),
            )
        })
        .grant(Grant::OwnRecord),
        Case::new("list waitlist", Method::GET, P::APPOINTMENT_READ, |r, _| {
            in_facility(r, "/waitlist")
        }),
        Case::new("read waitlist entry", Method::GET, P::APPOINTMENT_READ, |r, _| {
            in_facility(r, &format!("/waitlist/{e}", e = r.waitlist_entry))
        }),
        Case::new("cancel waitlist entry", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
            in_facility(r, &format!("/waitlist/{e}/cancel", e = r.waitlist_entry))
        }),
        Case::new("accept waitlist offer", Method::POST, P::APPOINTMENT_BOOK, |r, _| {
            in_facility(r, &format!("/waitlist/{e}/accept", e = r.waitlist_entry))
        }),
        // Names no one to make the feed for: the only rules past the policy
        // engine are whose feed it is, which the scheduling tests check, so
        // a 422 means the engine let it through.
        Case::new("make calendar feed", Method::POST, P::APPOINTMENT_READ, |r, _| {
            in_facility(r, "/calendar-feeds")
        })
        .body(|_, _| Some(json!({})))
        .passes(&[422]),
        Case::new("list calendar feeds", Method::GET, P::APPOINTMENT_READ, |r, _| {
            in_facility(r, "/calendar-feeds")
        }),
        Case::new("revoke someone's calendar feed", Method::DELETE, P::FACILITY_MANAGE, |r, _| {
            in_facility(r, &format!("/calendar-feeds/{c}", c = r.feed))
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

/// A reminder of the records' lead appointment, pending if one still is.
fn a_reminder<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        for status in ["pending", "cancelled"] {
            let page: Value = app
                .call(
                    &records.admin_token,
                    Method::GET,
                    &in_facility(
                        records,
                        &format!(
                            "/appointment-reminders?status={status}&appointment_id={a}",
                            a = records.appointment
                        ),
                    ),
                    None,
                )
                .await
                .json()
                .await
                .unwrap();
            if let Some(first) = page["items"].get(0) {
                return id(first);
            }
        }
        panic!("the lead's appointment has no reminder")
    })
}
