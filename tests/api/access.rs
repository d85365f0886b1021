//! The access context: facilities, memberships, API keys and emergency
//! access, as the role matrix reaches them. Their behaviour is tested with
//! the contexts that use them (identity, patients).

use carebase::access::Permission;
use reqwest::Method;
use serde_json::json;

use crate::support::matrix::{Case, Grant};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("read facility", Method::GET, P::FACILITY_READ, |r, _| format!("/facilities/{f}", f = r.facility)),
        Case::new("update facility", Method::PATCH, P::FACILITY_MANAGE, |r, _| format!("/facilities/{f}", f = r.facility))
            .body(|_, _| Some(json!({"city": "Springfield"}))),
        Case::new("list memberships", Method::GET, P::MEMBERSHIP_READ, |r, _| format!("/facilities/{f}/memberships", f = r.facility)),
        Case::new("grant membership", Method::POST, P::MEMBERSHIP_MANAGE, |r, _| format!("/facilities/{f}/memberships", f = r.facility))
            .body(|w, _| Some(json!({"account_id": w.grantee, "role": "nurse"}))),
        Case::new("list API keys", Method::GET, P::API_KEY_MANAGE, |r, _| format!("/facilities/{f}/api-keys", f = r.facility)),
        Case::new("create API key", Method::POST, P::API_KEY_MANAGE, |r, _| format!("/facilities/{f}/api-keys", f = r.facility))
            .body(|_, _| Some(json!({"name": "n8n", "scopes": ["facility:read"]}))),
        Case::new("review emergency access", Method::GET, P::EMERGENCY_ACCESS_REVIEW, |r, _| format!("/facilities/{f}/emergency-access", f = r.facility)),
        Case::new("create facility", Method::POST, P::FACILITY_CREATE, |_, _| "/facilities".to_owned())
            .body(|_, _| Some(json!({"name": "New Clinic"})))
            .grant(Grant::Installation),
    ]
}
