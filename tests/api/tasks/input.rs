//! Bad input names each field, references outside the facility are
//! refused, and nothing is written.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, id, json_of, new_lead, new_patient, problem, task_path,
};

on_both_backends!(bad_input_names_each_field_and_writes_nothing,);

async fn bad_input_names_each_field_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let elsewhere = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let path = format!("/facilities/{facility}/tasks");

    let refused = problem(
        app.call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({ "title": " ", "description": "" })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&refused), ["title", "description"]);
    let refused = problem(
        app.call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({ "title": "Call", "priority": "Whenever" })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&refused), ["priority"]);

    let outsider =
        references_outside_the_facility_are_named_at_once(&app, elsewhere, &admin.token, &path)
            .await;
    // An SDR sees no patients, so links none, even of its own facility.
    let own_patient = id(&app.patient(facility, new_patient()).await);
    let refused = problem(
        app.call(
            &sdr.token,
            Method::POST,
            &path,
            Some(json!({ "title": "Call", "patient_id": own_patient })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&refused), ["patient_id"]);

    let page = json_of(app.call(&admin.token, Method::GET, &path, None).await).await;
    assert_eq!(page["items"], json!([]), "nothing was written");

    a_bad_change_leaves_the_task_as_it_was(&app, facility, &admin.token, outsider).await;
    app.stop().await;
}

/// The fields a refusal names, in order.
fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// References outside the facility, all named at once. Answers the
/// outside account.
async fn references_outside_the_facility_are_named_at_once(
    app: &TestApp,
    elsewhere: Uuid,
    token: &str,
    path: &str,
) -> Uuid {
    let outsider = app.account(&[(Some(elsewhere), Role::Nurse)]).await.0;
    let elsewhere_admin = app.person(&[(Some(elsewhere), Role::Admin)]).await;
    let foreign_lead = id(&app
        .create_lead(&elsewhere_admin.token, elsewhere, new_lead())
        .await);
    let foreign_patient = id(&app.patient(elsewhere, new_patient()).await);
    let refused = problem(
        app.call(
            token,
            Method::POST,
            path,
            Some(json!({
                "title": "Call",
                "assignee_id": outsider,
                "lead_id": foreign_lead,
                "patient_id": foreign_patient,
            })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&refused), ["assignee_id", "lead_id", "patient_id"]);
    outsider
}

/// A bad change leaves the task as it was.
async fn a_bad_change_leaves_the_task_as_it_was(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    outsider: Uuid,
) {
    let task = app
        .create_task(token, facility, json!({ "title": "Call" }))
        .await;
    let refused = problem(
        app.call(
            token,
            Method::PATCH,
            &task_path(&task),
            Some(json!({ "title": "Renamed", "assignee_id": outsider })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(fields(&refused), ["assignee_id"]);
    let unchanged = json_of(app.call(token, Method::GET, &task_path(&task), None).await).await;
    assert_eq!(unchanged["title"], "Call");
    assert_eq!(unchanged["updated_at"], task["updated_at"]);
}
