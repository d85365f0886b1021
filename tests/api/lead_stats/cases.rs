//! Lead statistics' cases of the role matrix (see `support::matrix`).

use carebase::policy::Permission;
use reqwest::Method;

use crate::support::matrix::Case;

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new(
            "read pipeline statistics",
            Method::GET,
            P::LEAD_READ,
            |r, _| {
                format!(
                    "/facilities/{}/leads/stats/pipeline?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z",
                    r.facility
                )
            },
        ),
        Case::new("read speed to lead", Method::GET, P::LEAD_READ, |r, _| {
            format!(
                "/facilities/{}/leads/stats/speed-to-lead?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z",
                r.facility
            )
        }),
        Case::new("rescore leads", Method::POST, P::PIPELINE_MANAGE, |r, _| {
            format!("/facilities/{}/leads/rescore", r.facility)
        }),
    ]
}
