//! The access matrix: every role × every resource and action × own and
//! other facility, against the real HTTP API, with the expected answer
//! derived from the role catalogue. A denied action in a facility the role
//! belongs to is 403; anything in a facility it does not belong to is 404,
//! never a hint that the thing exists.
//!
//! The cases are data each context contributes from its own test file
//! (`role_cases`, see `context_tests!` in main.rs and `support::matrix`);
//! this file runs them, and checks that together they reach every
//! operation the OpenAPI document secures with a bearer token.

use std::collections::BTreeSet;

use carebase::policy::Role;
use carebase::policy::RoleScope;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::matrix::{Case, Records, World};
use crate::support::{PDF, Person, TestApp, TestBackend};

on_both_backends!(every_role_reaches_exactly_what_its_permissions_grant);

/// How many cases the contexts contribute: a case that goes missing fails
/// here rather than silently leaving a route unchecked. A context that adds
/// or removes cases changes this number in the same commit.
const CASES: usize = 158;

#[test]
fn the_contexts_contribute_every_case_once() {
    let cases = crate::role_cases();
    let mut names: Vec<_> = cases.iter().map(|case| case.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "every case has its own name");
    assert_eq!(cases.len(), CASES, "the number of role-matrix cases");
}

/// An operation of the API: its method and its path as the OpenAPI
/// document writes it (`/facilities/{facility_id}/leads`).
type Operation = (String, String);

/// Every operation the served OpenAPI document secures with `bearer` has a
/// case, so a route added without one fails here, named; and every case is
/// an operation of the document, so a case cannot drift off its route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bearer_operation_has_a_role_case() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    app.stop().await;
    let secured = bearer_operations(&document);
    let all = operations(&document, |_| true);
    let records = Records::placeholder();
    let mut covered = BTreeSet::new();
    let mut astray = Vec::new();
    for case in crate::role_cases() {
        let path = (case.path)(&records, Uuid::new_v4());
        match operation_of(&all, case.method.as_str(), &path) {
            Some(operation) => {
                covered.insert(operation);
            }
            None => astray.push(format!("{}: {} {path}", case.name, case.method)),
        }
    }
    assert!(
        astray.is_empty(),
        "role-matrix cases that are no operation of the document:\n{}",
        astray.join("\n")
    );
    let uncovered: Vec<String> = secured
        .difference(&covered)
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(
        uncovered.is_empty(),
        "operations that declare the `bearer` security and no role-matrix case \
         covers (add one to the owning context's `role_cases`):\n{}",
        uncovered.join("\n")
    );
}

/// The operations of `document` that declare the `bearer` security, or
/// inherit it from the document.
fn bearer_operations(document: &Value) -> BTreeSet<Operation> {
    let inherited = document.get("security");
    operations(document, |operation| {
        operation
            .get("security")
            .or(inherited)
            .and_then(Value::as_array)
            .is_some_and(|requirements| requirements.iter().any(|r| r.get("bearer").is_some()))
    })
}

/// The operations of `document` that `keep` keeps.
fn operations(document: &Value, keep: impl Fn(&Value) -> bool) -> BTreeSet<Operation> {
    const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "options", "head"];
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some_and(&keep) {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// The operation a request to `path` reaches: the one whose template
/// matches segment by segment, the most literal one where several do
/// (`/leads/export` before `/leads/{lead_id}`).
fn operation_of(operations: &BTreeSet<Operation>, method: &str, path: &str) -> Option<Operation> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    operations
        .iter()
        .filter(|(m, _)| m == method)
        .filter_map(|operation| {
            let template: Vec<&str> = operation.1.split('/').collect();
            let matches = template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')));
            let literal = template.iter().filter(|t| !t.starts_with('{')).count();
            matches.then_some((literal, operation))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, operation)| operation.clone())
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
    let mut tally = Tally::default();
    for role in Role::ALL {
        let person = world.sign_in(&app, role).await;
        for (case, own_record, other_record) in &cases {
            if case.installation_wide() {
                once_for_the_role(&app, &world, role, &person, case, *own_record, &mut tally).await;
            } else {
                let records = [(*own_record, true), (*other_record, false)];
                in_each_facility(&app, &world, role, &person, case, records, &mut tally).await;
            }
        }
    }
    assert!(
        tally.mismatches.is_empty(),
        "{} mismatches:\n{}",
        tally.mismatches.len(),
        tally.mismatches.join("\n")
    );
    assert!(tally.cross_facility.0 > 0);
    assert_eq!(
        tally.cross_facility.0, tally.cross_facility.1,
        "every cross-facility request is denied as not found"
    );
    app.stop().await;
}

/// What the matrix found: the answers that were not the expected ones, and
/// how many requests of a facility role went to a facility it does not
/// belong to (and how many of those were answered 404).
#[derive(Default)]
struct Tally {
    mismatches: Vec<String>,
    cross_facility: (usize, usize),
}

/// Sends a case with no facility in its path once, as `person`.
async fn once_for_the_role(
    app: &TestApp,
    world: &World,
    role: Role,
    person: &Person,
    case: &Case,
    record: Uuid,
    tally: &mut Tally,
) {
    let (token, record) = if case.own_session {
        let session = app.sign_in(&person.email).await;
        let token = session["access_token"].as_str().unwrap().to_owned();
        (token, id_of(&session["session_id"]))
    } else {
        (person.token.clone(), record)
    };
    let record = match case.fresh {
        Some(fresh) => fresh(app, &world.own).await,
        None => record,
    };
    let path = (case.path)(&world.own, record);
    let body = (case.body)(world, &world.own);
    let status = send(app, &token, case, &path, body).await;
    let want = case.expected(role, true);
    if case.outcome(status) != want {
        tally.mismatches.push(format!(
            "{role} {}: got {status}, expected {want}",
            case.name
        ));
    }
}

/// Sends a case as `person` in the facility it belongs to and in one it
/// does not, each with the record its context made there.
async fn in_each_facility(
    app: &TestApp,
    world: &World,
    role: Role,
    person: &Person,
    case: &Case,
    records: [(Uuid, bool); 2],
    tally: &mut Tally,
) {
    for (record, is_own) in records {
        let facility = if is_own { &world.own } else { &world.other };
        let record = match case.fresh {
            Some(fresh) => fresh(app, facility).await,
            None => record,
        };
        let mut path = (case.path)(facility, record);
        if role == Role::Patient {
            // The patient role acts on its own record's appointment and
            // waitlist entry.
            path = path
                .replace(
                    &facility.appointment.to_string(),
                    &facility.patient_appointment.to_string(),
                )
                .replace(
                    &facility.waitlist_entry.to_string(),
                    &facility.patient_waitlist_entry.to_string(),
                );
        }
        let body = (case.body)(world, facility);
        let status = send(app, &person.token, case, &path, body).await;
        let want = case.expected(role, is_own);
        if !is_own && role.scope() == RoleScope::Facility {
            tally.cross_facility.0 += 1;
            if status == 404 {
                tally.cross_facility.1 += 1;
            }
        }
        if case.outcome(status) != want {
            tally.mismatches.push(format!(
                "{role} {} in {} facility: got {status}, expected {want}",
                case.name,
                if is_own { "own" } else { "other" }
            ));
        }
    }
}

fn id_of(value: &Value) -> Uuid {
    value.as_str().unwrap().parse().unwrap()
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
