//! Engagement's cases of the role matrix (see `support::matrix`).

use carebase::access::Permission;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::matrix::Case;

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
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
