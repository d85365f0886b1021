//! What the CRM engagement tests share: the audit log read directly, API
//! keys as n8n holds them, and pages of records read back.

use carebase::audit::{self, AuditFilter, StoredEvent};
use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{TestApp, id, json_of};

impl TestApp {
    /// The audit events matching `filter`, newest first.
    pub async fn stored_events(&self, filter: AuditFilter) -> Vec<StoredEvent> {
        audit::search(&self.state.db, &filter, None, 1000)
            .await
            .unwrap()
    }

    /// An API key of `facility` with `scopes`, made by its administrator.
    pub async fn api_key(&self, facility: Uuid, scopes: &[&str]) -> String {
        let admin = self.person(&[(Some(facility), Role::Admin)]).await;
        let created = json_of(
            self.call(
                &admin.token,
                Method::POST,
                &format!("/facilities/{facility}/api-keys"),
                Some(json!({ "name": "n8n", "scopes": scopes })),
            )
            .await,
        )
        .await;
        created["token"].as_str().unwrap().to_owned()
    }

    /// What `path` answers `token`; panics unless it is a success.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        json_of(self.call(token, Method::GET, path, None).await).await
    }
}

/// The audit filter for events about `resource_type`.
pub fn of_type(resource_type: &str) -> AuditFilter {
    AuditFilter {
        resource_type: Some(resource_type.to_owned()),
        ..AuditFilter::default()
    }
}

/// The ids of a page's items, in order.
pub fn ids(page: &Value) -> Vec<Uuid> {
    page["items"].as_array().unwrap().iter().map(id).collect()
}
