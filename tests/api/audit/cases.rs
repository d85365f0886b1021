//! The audit log's cases of the role matrix (see `support::matrix`).

use carebase::policy::Permission;
use reqwest::Method;

use crate::support::matrix::{Case, Grant};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("search audit", Method::GET, P::AUDIT_READ, |r, _| {
            format!("/facilities/{f}/audit-events", f = r.facility)
        }),
        Case::new("export audit", Method::GET, P::AUDIT_EXPORT, |r, _| {
            format!("/facilities/{f}/audit-events/export", f = r.facility)
        }),
        Case::new("search all audit", Method::GET, P::AUDIT_READ, |_, _| {
            "/admin/audit-events".to_owned()
        })
        .grant(Grant::Installation),
        Case::new("export all audit", Method::GET, P::AUDIT_EXPORT, |_, _| {
            "/admin/audit-events/export".to_owned()
        })
        .grant(Grant::Installation),
    ]
}
