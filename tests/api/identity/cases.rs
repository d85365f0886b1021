//! Identity's cases of the role matrix (see `support::matrix`).

use carebase::access::Permission;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::matrix::{Case, Grant};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("invite", Method::POST, P::MEMBERSHIP_MANAGE, |r, _| format!("/facilities/{f}/invitations", f = r.facility))
            .body(|_, _| {
                Some(
                    json!({"email": format!("{}@invited.example", Uuid::new_v4().simple()), "role": "nurse"}),
                )
            }),
        Case::new("list accounts", Method::GET, P::ACCOUNT_MANAGE, |_, _| "/admin/accounts".to_owned())
            .grant(Grant::Installation),
    ]
}
