//! Leads' cases of the role matrix (see `support::matrix`).

use carebase::policy::Permission as P;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::matrix::{BoxFuture, Case, Records};
use crate::support::{TestApp, id, new_lead};

/// This context's cases of the role matrix (see `support::matrix`), in the
/// order the matrix sends them: a case may find the lead as an earlier one
/// left it.
pub fn role_cases() -> Vec<Case> {
    [
        lead_cases(),
        lookup_and_source_cases(),
        conversion_and_pipeline_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The lead read, recorded, changed and reviewed.
fn lead_cases() -> Vec<Case> {
    vec![
        Case::new("list leads", Method::GET, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/leads", r.facility)
        }),
        Case::new("read lead", Method::GET, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/leads/{}", r.facility, r.lead)
        }),
        Case::new("read lead history", Method::GET, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/leads/{}/history", r.facility, r.lead)
        }),
        Case::new("record lead", Method::POST, P::LEAD_CREATE, |r, _| {
            format!("/facilities/{}/leads", r.facility)
        })
        .body(|_, _| Some(new_lead())),
        Case::new(
            "change someone else's lead",
            Method::PATCH,
            P::LEAD_UPDATE,
            |r, _| format!("/facilities/{}/leads/{}", r.facility, r.lead),
        )
        .body(|_, _| Some(json!({"readiness": "Hot"}))),
        Case::new(
            "log a call to someone else's lead",
            Method::POST,
            P::LEAD_UPDATE,
            |r, _| format!("/facilities/{}/leads/{}/calls", r.facility, r.lead),
        )
        .body(|_, _| Some(json!({}))),
        Case::new("review lead", Method::POST, P::LEAD_REVIEW, |r, _| {
            format!("/facilities/{}/leads/{}/review", r.facility, r.lead)
        })
        .body(|_, _| Some(json!({"decision": "approve"}))),
        Case::new("read lead timeline", Method::GET, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/leads/{}/timeline", r.facility, r.lead)
        }),
    ]
}

/// Looking leads up, and the facility's catalogue of lead sources.
fn lookup_and_source_cases() -> Vec<Case> {
    vec![
        Case::new("look up leads", Method::POST, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/leads/search", r.facility)
        })
        .body(|_, _| Some(json!({"email": "nobody@example.org"}))),
        Case::new("list lead sources", Method::GET, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/lead-sources", r.facility)
        }),
        Case::new(
            "add lead source",
            Method::POST,
            P::LEAD_SOURCE_MANAGE,
            |r, _| format!("/facilities/{}/lead-sources", r.facility),
        )
        .body(|_, _| Some(json!({"name": format!("Channel {}", Uuid::new_v4())}))),
        Case::new(
            "remove lead source",
            Method::DELETE,
            P::LEAD_SOURCE_MANAGE,
            |r, source| format!("/facilities/{}/lead-sources/{source}", r.facility),
        )
        .fresh(fresh_source),
    ]
}

/// A catalogue entry made by the facility's administrator.
fn fresh_source<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let response = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{}/lead-sources", records.facility),
                Some(json!({"name": format!("Channel {}", Uuid::new_v4())})),
            )
            .await;
        assert_eq!(response.status(), 201);
        id(&response.json().await.unwrap())
    })
}

/// Conversion, the pipelines, and the lead's moves.
fn conversion_and_pipeline_cases() -> Vec<Case> {
    vec![
        Case::new(
            "convert someone else's lead",
            Method::POST,
            P::LEAD_CONVERT,
            |r, _| format!("/facilities/{}/leads/{}/convert", r.facility, r.lead),
        )
        .body(|_, _| {
            Some(json!({
                "mrn": format!("CV-{}", &Uuid::new_v4().simple().to_string()[..8]),
                "date_of_birth": "1970-01-01",
            }))
        }),
        Case::new(
            "invite someone else's lead to the portal",
            Method::POST,
            P::LEAD_CONVERT,
            |r, _| {
                format!(
                    "/facilities/{}/leads/{}/portal-invitation",
                    r.facility, r.lead
                )
            },
        ),
        Case::new("list pipelines", Method::GET, P::FACILITY_READ, |r, _| {
            format!("/facilities/{}/pipelines", r.facility)
        }),
        Case::new(
            "define pipeline",
            Method::POST,
            P::PIPELINE_MANAGE,
            |r, _| format!("/facilities/{}/pipelines", r.facility),
        )
        .body(|_, _| {
            Some(json!({"kind": "lead", "name": Uuid::new_v4().to_string(), "stages": ["One"]}))
        }),
        // Last of the lead's cases: whatever status an earlier case left
        // it in, a move it may not make is a 409, past the policy engine.
        Case::new(
            "move someone else's lead",
            Method::POST,
            P::LEAD_UPDATE,
            |r, _| format!("/facilities/{}/leads/{}/status", r.facility, r.lead),
        )
        .body(|_, _| Some(json!({"status": "contacted"}))),
        Case::new(
            "move someone else's lead along the pipeline",
            Method::POST,
            P::LEAD_UPDATE,
            |r, _| format!("/facilities/{}/leads/{}/stage", r.facility, r.lead),
        )
        .body(|_, r| Some(json!({"stage_id": r.lead_stage}))),
    ]
}
