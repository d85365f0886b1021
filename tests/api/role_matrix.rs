//! The access matrix: every role × every resource and action × own and
//! other facility, against the real HTTP API, with the expected answer
//! derived from the role catalogue. A denied action in a facility the role
//! belongs to is 403; anything in a facility it does not belong to is 404,
//! never a hint that the thing exists.
//!
//! The cases are data each context contributes from its own test file
//! (`role_cases`, see `context_tests!` in main.rs and `support::matrix`);
//! this file runs them.

use carebase::access::Role;
use carebase::policy::RoleScope;
use reqwest::Method;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::matrix::{Case, World};
use crate::support::{PDF, TestApp, TestBackend};

on_both_backends!(every_role_reaches_exactly_what_its_permissions_grant);

/// How many cases the contexts contribute: a case that goes missing fails
/// here rather than silently leaving a route unchecked. A context that adds
/// or removes cases changes this number in the same commit.
const CASES: usize = 111;

#[test]
fn the_contexts_contribute_every_case_once() {
    let cases = crate::role_cases();
    let mut names: Vec<_> = cases.iter().map(|case| case.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "every case has its own name");
    assert_eq!(cases.len(), CASES, "the number of role-matrix cases");
}

async fn every_role_reaches_exactly_what_its_permissions_grant(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let world = World::make(&app).await;
    let in_own = crate::context_role_cases(&app, &world.own).await;
    let in_other = crate::context_role_cases(&app, &world.other).await;
    let cases: Vec<_> = in_own
        .into_iter()
        .zip(in_other)
        .map(|((case, own), (_, other))| (case, own, other))
        .collect();
    assert_eq!(cases.len(), CASES, "the number of role-matrix cases");
    let mut mismatches = Vec::new();
    let mut cross_facility = (0, 0);
    for role in Role::ALL {
        let person = world.sign_in(&app, role).await;
        for (case, own_record, other_record) in &cases {
            if case.installation_wide() {
                let path = (case.path)(&world.own, *own_record);
                let body = (case.body)(&world, &world.own);
                let status = send(&app, &person.token, case, &path, body).await;
                let want = case.expected(role, true);
                if case.outcome(status) != want {
                    mismatches.push(format!(
                        "{role} {}: got {status}, expected {want}",
                        case.name
                    ));
                }
                continue;
            }
            for (records, record, is_own) in [
                (&world.own, own_record, true),
                (&world.other, other_record, false),
            ] {
                let mut path = (case.path)(records, *record);
                if let Some(fresh) = case.fresh {
                    path = format!("{path}/{}", fresh(&app, records).await);
                }
                if role == Role::Patient {
                    // The patient role acts on its own record's appointment.
                    path = path.replace(
                        &records.appointment.to_string(),
                        &records.patient_appointment.to_string(),
                    );
                }
                let body = (case.body)(&world, records);
                let status = send(&app, &person.token, case, &path, body).await;
                let want = case.expected(role, is_own);
                if !is_own && role.scope() == RoleScope::Facility {
                    cross_facility.0 += 1;
                    if status == 404 {
                        cross_facility.1 += 1;
                    }
                }
                if case.outcome(status) != want {
                    mismatches.push(format!(
                        "{role} {} in {} facility: got {status}, expected {want}",
                        case.name,
                        if is_own { "own" } else { "other" }
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(cross_facility.0 > 0);
    assert_eq!(
        cross_facility.0, cross_facility.1,
        "every cross-facility request is denied as not found"
    );
    app.stop().await;
}

/// Sends a case's request and answers its status: a JSON body, a string
/// body as `text/csv` (the one endpoint that reads CSV, the lead import),
/// or a file to an attachments path.
async fn send(app: &TestApp, token: &str, case: &Case, path: &str, body: Option<Value>) -> u16 {
    let method = case.method.clone();
    let response = if method == Method::POST && path.ends_with("/attachments") {
        let file = ("scan.pdf", "application/pdf", PDF);
        app.post_file(token, path, Some(file), &[]).await
    } else {
        match body {
            Some(Value::String(csv)) => app.send_csv(token, method, path, &csv).await,
            body => app.call(token, method, path, body).await,
        }
    };
    response.status().as_u16()
}
