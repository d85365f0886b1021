//! Where a request came from: the client address, user agent and request
//! id that the audit log records and throttling keys on.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::audit::RequestContext;
use crate::http::kernel::RequestMeta;

/// Where the request came from, for the audit log and throttling.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub request_id: Option<String>,
    pub client_addr: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestInfo {
    pub fn from_parts(parts: &Parts) -> Self {
        let meta = RequestMeta::current();
        let meta = meta.as_ref();
        Self {
            request_id: meta.and_then(|m| m.request_id.to_str().ok().map(str::to_owned)),
            client_addr: meta.and_then(|m| m.client.map(|a| a.ip())),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(256).collect()),
        }
    }
}

impl RequestInfo {
    /// The request's origin as the audit log records it.
    pub fn audit_context(&self) -> RequestContext {
        RequestContext {
            client_addr: self.client_addr.map(|a| a.to_string()),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}
