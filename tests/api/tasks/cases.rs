//! Tasks' cases of the role matrix (see `support::matrix`).

use carebase::policy::Permission;
use reqwest::Method;
use serde_json::json;

use crate::support::matrix::{Case, Grant};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("list tasks", Method::GET, P::TASK_READ, |r, _| {
            format!("/facilities/{}/tasks", r.facility)
        }),
        Case::new("read task", Method::GET, P::TASK_READ, |r, _| {
            format!("/facilities/{}/tasks/{}", r.facility, r.task)
        }),
        Case::new("raise task", Method::POST, P::TASK_WRITE, |r, _| {
            format!("/facilities/{}/tasks", r.facility)
        })
        .body(|_, _| Some(json!({"title": "Call back", "priority": "High"})))
        .grant(Grant::OwnRecord),
        Case::new(
            "change someone else's task",
            Method::PATCH,
            P::TASK_WRITE,
            |r, _| format!("/facilities/{}/tasks/{}", r.facility, r.task),
        )
        .body(|_, _| Some(json!({"priority": "Urgent"}))),
        Case::new(
            "move someone else's task",
            Method::POST,
            P::TASK_WRITE,
            |r, _| format!("/facilities/{}/tasks/{}/status", r.facility, r.task),
        )
        .body(|_, _| Some(json!({"status": "In Progress"}))),
    ]
}
