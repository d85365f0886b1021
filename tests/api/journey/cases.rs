//! The care journey's cases of the role matrix (see `support::matrix`).

use carebase::policy::Permission;
use reqwest::Method;
use serde_json::json;

use crate::support::matrix::Case;

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new(
            "list care journeys",
            Method::GET,
            P::JOURNEY_READ,
            |r, _| format!("/facilities/{}/journeys", r.facility),
        ),
        Case::new("read care journey", Method::GET, P::JOURNEY_READ, |r, _| {
            format!("/facilities/{}/journeys/{}", r.facility, r.journey)
        }),
        Case::new(
            "enrol a patient with another coach",
            Method::POST,
            P::JOURNEY_MANAGE,
            |r, _| format!("/facilities/{}/patients/{}/journeys", r.facility, r.patient),
        )
        .body(|w, _| Some(json!({"health_coach_id": w.own.admin}))),
        Case::new(
            "move someone else's care journey",
            Method::POST,
            P::JOURNEY_MANAGE,
            |r, _| format!("/facilities/{}/journeys/{}/stage", r.facility, r.journey),
        )
        .body(|w, _| Some(json!({"stage_id": w.own.care_stage}))),
        Case::new(
            "change someone else's care journey",
            Method::PATCH,
            P::JOURNEY_MANAGE,
            |r, _| format!("/facilities/{}/journeys/{}", r.facility, r.journey),
        )
        .body(|_, _| Some(json!({"notes": "Goal: sleep through the night"}))),
    ]
}
