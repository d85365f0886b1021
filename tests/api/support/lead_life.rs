//! What the lead lifecycle tests share: a lead walked to an approved (or
//! pending) clinical review, a lead's newest move, facility settings, and
//! the audit events of a lead's status moves.

use carebase::audit::{AuditAction, AuditFilter};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{TestApp, id, json_of};

impl TestApp {
    /// `lead` moved to `qualified` by `token`, and its review decided by
    /// `reviewer` (`approve`, `decline`) unless `decision` is `None`.
    pub async fn qualified(
        &self,
        token: &str,
        lead: &Value,
        reviewer: &str,
        decision: Option<&str>,
    ) -> Value {
        for status in ["contacted", "qualified"] {
            json_of(self.move_lead(token, lead, status).await).await;
        }
        let Some(decision) = decision else {
            return self.lead_now(token, lead).await;
        };
        json_of(
            self.call(
                reviewer,
                Method::POST,
                &format!("{}/review", lead_path(lead)),
                Some(json!({ "decision": decision, "reason": "Reviewed the history" })),
            )
            .await,
        )
        .await
    }

    /// `lead` as it is now.
    pub async fn lead_now(&self, token: &str, lead: &Value) -> Value {
        json_of(self.call(token, Method::GET, &lead_path(lead), None).await).await
    }

    /// `lead`'s newest move.
    pub async fn newest_move(&self, token: &str, lead: &Value) -> Value {
        let path = format!("{}/history?limit=1", lead_path(lead));
        let history = json_of(self.call(token, Method::GET, &path, None).await).await;
        history["items"][0].clone()
    }

    /// Sets `facility`'s settings as its administrator `token`.
    pub async fn set_facility_settings(&self, token: &str, facility: Uuid, settings: Value) {
        let response = self
            .call(
                token,
                Method::PATCH,
                &format!("/facilities/{facility}"),
                Some(json!({ "settings": settings })),
            )
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// The `changes` of the audit events updating `lead`'s status, newest
    /// first.
    pub async fn status_events(&self, lead: &Value) -> Vec<Value> {
        let filter = AuditFilter {
            lead_id: Some(id(lead)),
            resource_type: Some("lead".to_owned()),
            action: Some(AuditAction::Update),
            ..AuditFilter::default()
        };
        self.stored_events(filter)
            .await
            .into_iter()
            .filter_map(|e| e.changes)
            .filter(|c| c.get("status").is_some())
            .collect()
    }
}

/// The path of `lead`.
pub fn lead_path(lead: &Value) -> String {
    format!(
        "/facilities/{}/leads/{}",
        lead["facility_id"].as_str().unwrap(),
        id(lead)
    )
}
