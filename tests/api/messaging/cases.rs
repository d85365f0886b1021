//! Messaging's cases of the role matrix (see `support::matrix`), in the
//! order the matrix sends them: a case may find the record as an earlier
//! one left it.

use carebase::policy::{Permission as P, Role};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::matrix::{BoxFuture, Case, Grant, Records};
use crate::support::{TestApp, id};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    [
        link_cases(),
        conversation_cases(),
        message_cases(),
        call_and_file_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A path in the records' conversation.
fn in_conversation(r: &Records, rest: &str) -> String {
    format!(
        "/facilities/{f}/conversations/{c}{rest}",
        f = r.facility,
        c = r.conversation
    )
}

/// The realtime socket and care-team links.
fn link_cases() -> Vec<Case> {
    vec![
        // Without a WebSocket upgrade, a role the engine lets through gets 400.
        Case::new(
            "open the realtime socket",
            Method::GET,
            P::CONVERSATION_READ,
            |_, _| "/realtime".to_owned(),
        )
        .grant(Grant::Anywhere(400)),
        // A ticket for the socket: whoever may open the socket gets one.
        Case::new(
            "issue a realtime socket ticket",
            Method::POST,
            P::CONVERSATION_READ,
            |_, _| "/realtime/tickets".to_owned(),
        )
        .grant(Grant::Anywhere(201)),
        Case::new(
            "list care-team links",
            Method::GET,
            P::CARE_TEAM_READ,
            |r, _| format!("/facilities/{f}/care-team-links", f = r.facility),
        ),
        Case::new(
            "read care-team link",
            Method::GET,
            P::CARE_TEAM_READ,
            |r, _| {
                format!(
                    "/facilities/{f}/care-team-links/{l}",
                    f = r.facility,
                    l = r.link
                )
            },
        ),
        Case::new(
            "request care-team link",
            Method::POST,
            P::CARE_TEAM_MANAGE,
            |r, _| format!("/facilities/{f}/care-team-links", f = r.facility),
        )
        .body(|w, _| Some(json!({"patient_id": w.own.patient, "provider_id": w.own.provider})))
        .grant(Grant::OwnRecordForPatient),
        // A request cannot end: past the policy engine, a 409.
        Case::new(
            "move care-team link",
            Method::POST,
            P::CARE_TEAM_MANAGE,
            |r, _| {
                format!(
                    "/facilities/{f}/care-team-links/{l}/status",
                    f = r.facility,
                    l = r.link
                )
            },
        )
        .body(|_, _| Some(json!({"status": "ended"})))
        .grant(Grant::OwnRecordForPatient),
    ]
}

/// Conversations and their participants.
fn conversation_cases() -> Vec<Case> {
    vec![
        Case::new(
            "list conversations",
            Method::GET,
            P::CONVERSATION_READ,
            |r, _| format!("/facilities/{f}/conversations", f = r.facility),
        ),
        Case::new(
            "start conversation",
            Method::POST,
            P::CONVERSATION_MANAGE,
            |r, _| format!("/facilities/{f}/conversations", f = r.facility),
        )
        .body(|_, _| Some(json!({"title": "Rota", "conversation_type": "administrative"})))
        .grant(Grant::OwnRecord),
        Case::new(
            "read conversation",
            Method::GET,
            P::CONVERSATION_READ,
            |r, _| in_conversation(r, ""),
        ),
        Case::new(
            "update conversation",
            Method::PATCH,
            P::CONVERSATION_MANAGE,
            |r, _| in_conversation(r, ""),
        )
        .body(|_, _| Some(json!({"priority": "urgent"})))
        .grant(Grant::OwnRecord),
        Case::new(
            "move conversation status",
            Method::POST,
            P::CONVERSATION_MANAGE,
            |r, _| in_conversation(r, "/status"),
        )
        .body(|_, _| Some(json!({"status": "escalated"})))
        .grant(Grant::OwnRecord),
        Case::new(
            "add participant",
            Method::POST,
            P::CONVERSATION_MANAGE,
            |r, _| in_conversation(r, "/participants"),
        )
        .body(|w, _| Some(json!({"account_id": w.own.admin})))
        .grant(Grant::OwnRecord),
        Case::new(
            "remove participant",
            Method::DELETE,
            P::CONVERSATION_MANAGE,
            |r, account| in_conversation(r, &format!("/participants/{account}")),
        )
        .grant(Grant::OwnRecord)
        .fresh(fresh_participant),
    ]
}

/// Messages and read markers.
fn message_cases() -> Vec<Case> {
    vec![
        Case::new("list messages", Method::GET, P::CONVERSATION_READ, |r, _| {
            in_conversation(r, "/messages")
        }),
        Case::new("post message", Method::POST, P::MESSAGE_SEND, |r, _| {
            in_conversation(r, "/messages")
        })
        .body(|_, _| Some(json!({"body": "Noted"})))
        .grant(Grant::OwnRecord),
        Case::new("post the assistant's answer", Method::POST, P::MESSAGE_ASSIST, |r, _| {
            in_conversation(r, "/messages")
        })
        .body(|_, _| {
            Some(json!({"body": "Likely benign", "message_type": "ai_response", "ai_confidence": 0.7}))
        }),
        Case::new("edit someone's message", Method::PATCH, P::MESSAGE_SEND, |r, _| {
            in_conversation(r, &format!("/messages/{m}", m = r.message))
        })
        .body(|_, _| Some(json!({"body": "changed"})))
        .grant(Grant::AuthorOnly),
        Case::new("delete someone's message", Method::DELETE, P::MESSAGE_SEND, |r, message| {
            in_conversation(r, &format!("/messages/{message}"))
        })
        .fresh(fresh_message),
        Case::new("read message edit history", Method::GET, P::FACILITY_MANAGE, |r, _| {
            in_conversation(r, &format!("/messages/{m}/edits", m = r.message))
        }),
        Case::new("mark conversation read", Method::POST, P::CONVERSATION_READ, |r, _| {
            in_conversation(r, "/read")
        })
        .body(|_, _| Some(json!({"seq": 0}))),
    ]
}

/// Video calls, files, and the typing signal.
fn call_and_file_cases() -> Vec<Case> {
    vec![
        Case::new("start video call", Method::POST, P::MESSAGE_SEND, |r, _| {
            in_conversation(r, "/calls")
        })
        .body(|_, _| Some(json!({})))
        .grant(Grant::OwnRecord),
        Case::new(
            "list video calls",
            Method::GET,
            P::CONVERSATION_READ,
            |r, _| in_conversation(r, "/calls"),
        ),
        Case::new(
            "read video call",
            Method::GET,
            P::CONVERSATION_READ,
            |r, _| in_conversation(r, &format!("/calls/{k}", k = r.call)),
        ),
        // The first one cancels; the others meet a final status (409).
        Case::new(
            "move video call status",
            Method::POST,
            P::MESSAGE_SEND,
            |r, _| in_conversation(r, &format!("/calls/{k}/status", k = r.call)),
        )
        .body(|_, _| Some(json!({"status": "canceled"})))
        .grant(Grant::OwnRecord),
        // Sent as multipart/form-data (see `send`).
        Case::new(
            "post message with file",
            Method::POST,
            P::MESSAGE_SEND,
            |r, _| in_conversation(r, "/attachments"),
        )
        .grant(Grant::OwnRecord),
        Case::new("authorise upload", Method::POST, P::MESSAGE_SEND, |r, _| {
            in_conversation(r, "/attachments/uploads")
        })
        .body(|_, _| {
            Some(json!({"file_name": "scan.pdf", "content_type": "application/pdf", "size": 100}))
        })
        .grant(Grant::OwnRecord),
        Case::new(
            "download attachment",
            Method::GET,
            P::CONVERSATION_READ,
            |r, _| in_conversation(r, &format!("/attachments/{a}", a = r.attachment)),
        ),
        Case::new("signal typing", Method::POST, P::MESSAGE_SEND, |r, _| {
            in_conversation(r, "/typing")
        })
        .grant(Grant::OwnRecord),
    ]
}

/// A member of the facility added to the records' conversation.
fn fresh_participant<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let (account, _) = app.account(&[(Some(records.facility), Role::Staff)]).await;
        app.join_conversation(records, account).await;
        account
    })
}

/// A message of the administrator in the records' conversation.
fn fresh_message<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let response = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!(
                    "/facilities/{}/conversations/{}/messages",
                    records.facility, records.conversation
                ),
                Some(json!({"body": "Please confirm"})),
            )
            .await;
        assert_eq!(response.status(), 201);
        id(&response.json().await.unwrap())
    })
}
