//! Engagement's cases of the role matrix (see `support::matrix`).

use carebase::policy::Permission;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::matrix::{BoxFuture, Case, Records};
use crate::support::{TestApp, id, json_of};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    let mut cases = vec![Case::new(
        "read retention report",
        Method::GET,
        P::FACILITY_MANAGE,
        |r, _| format!("/facilities/{}/retention", r.facility),
    )];
    cases.extend(chat_cases());
    cases
}

/// AI qualifications, chat sessions and communications.
fn chat_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new(
            "log AI qualification of someone else's lead",
            Method::POST,
            P::LEAD_UPDATE,
            |r, _| {
                format!(
                    "/facilities/{}/leads/{}/ai-qualifications",
                    r.facility, r.lead
                )
            },
        )
        .body(|_, _| {
            Some(json!({"prompt": "p", "response": "r", "model": "m", "outcome": "qualified"}))
        }),
        Case::new(
            "list AI qualifications",
            Method::GET,
            P::LEAD_READ,
            |r, _| {
                format!(
                    "/facilities/{}/leads/{}/ai-qualifications",
                    r.facility, r.lead
                )
            },
        ),
        Case::new(
            "open a chat session for someone else's lead",
            Method::POST,
            P::LEAD_UPDATE,
            |r, _| format!("/facilities/{}/chat-sessions", r.facility),
        )
        .body(|w, _| Some(json!({"lead_id": w.own.lead}))),
        Case::new(
            "record messages of someone else's lead's chat",
            Method::POST,
            P::LEAD_UPDATE,
            |r, _| {
                format!(
                    "/facilities/{}/chat-sessions/{}/messages",
                    r.facility, r.chat
                )
            },
        )
        .body(|_, _| Some(json!({"count": 1}))),
        // An anonymous session each time: one already the lead's is
        // answered as it is, whoever asks, and changes nothing.
        Case::new(
            "link a chat to someone else's lead",
            Method::PATCH,
            P::LEAD_UPDATE,
            |r, session| format!("/facilities/{}/chat-sessions/{session}", r.facility),
        )
        .body(|_, r| Some(json!({"lead_id": r.lead})))
        .fresh(fresh_chat),
        Case::new("list chat sessions", Method::GET, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/chat-sessions", r.facility)
        }),
        Case::new(
            "log communication",
            Method::POST,
            P::COMMUNICATION_LOG,
            |r, _| format!("/facilities/{}/communications", r.facility),
        )
        .body(|w, _| {
            Some(json!({
                "idempotency_key": Uuid::new_v4().to_string(), "lead_id": w.own.lead,
                "channel": "email", "direction": "outbound", "summary": "s",
                "contains_phi": false, "retention_category": "marketing",
            }))
        }),
        Case::new("list communications", Method::GET, P::LEAD_READ, |r, _| {
            format!("/facilities/{}/communications", r.facility)
        }),
    ]
}

/// A chat session of an anonymous visitor, opened by the administrator.
fn fresh_chat<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let opened = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{}/chat-sessions", records.facility),
                Some(json!({})),
            )
            .await;
        id(&json_of(opened).await)
    })
}
