//! Who changes which task, another facility's tasks not found, and what
//! of a task is sealed and audited.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, assert_no_plaintext, id, json_of, new_lead, new_patient, problem,
    task_path,
};

on_both_backends!(
    only_assignees_creators_and_administrators_change_a_task,
    another_facilitys_tasks_are_not_found,
    task_text_is_sealed_and_reads_are_audited,
);

async fn only_assignees_creators_and_administrators_change_a_task(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let alice = app.person(&[(Some(facility), Role::Nurse)]).await;
    let bob = app.person(&[(Some(facility), Role::Nurse)]).await;
    let carol = app.person(&[(Some(facility), Role::Nurse)]).await;
    let readonly = app.person(&[(Some(facility), Role::Readonly)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let task = app
        .create_task(
            &alice.token,
            facility,
            json!({ "title": "Review labs", "assignee_id": bob.account_id }),
        )
        .await;
    let path = task_path(&task);
    let change = || Some(json!({ "priority": "High" }));

    // Everyone with task:read sees it.
    for person in [&alice, &bob, &carol, &readonly] {
        assert_eq!(
            app.call(&person.token, Method::GET, &path, None)
                .await
                .status(),
            200
        );
    }
    // Readonly writes nothing at all.
    let refused = problem(
        app.call(
            &readonly.token,
            Method::POST,
            &format!("/facilities/{facility}/tasks"),
            Some(json!({ "title": "Mine" })),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("task:write"));
    assert_eq!(
        app.call(&readonly.token, Method::PATCH, &path, change())
            .await
            .status(),
        403
    );
    // Carol is a nurse too, but the task is neither hers nor by her.
    let refused = problem(
        app.call(&carol.token, Method::PATCH, &path, change()).await,
        403,
        "forbidden",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("assigned to someone else")
    );
    assert_eq!(
        app.move_task(&carol.token, &task, "In Progress")
            .await
            .status(),
        403
    );
    // The creator, the assignee and the administrator may.
    for person in [&alice, &bob, &admin] {
        assert_eq!(
            app.call(&person.token, Method::PATCH, &path, change())
                .await
                .status(),
            200
        );
    }
    handing_it_over_moves_who_may_change_it(&app, &task, &path, &bob, &carol, &admin).await;
    app.stop().await;
}

/// Handing it to Carol makes it hers; Bob no longer has it.
async fn handing_it_over_moves_who_may_change_it(
    app: &TestApp,
    task: &Value,
    path: &str,
    bob: &Person,
    carol: &Person,
    admin: &Person,
) {
    let change = || Some(json!({ "priority": "High" }));
    json_of(
        app.call(
            &admin.token,
            Method::PATCH,
            path,
            Some(json!({ "assignee_id": carol.account_id })),
        )
        .await,
    )
    .await;
    assert_eq!(
        app.call(&bob.token, Method::PATCH, path, change())
            .await
            .status(),
        403
    );
    let started = json_of(app.move_task(&carol.token, task, "In Progress").await).await;
    assert_eq!(started["status"], "In Progress");
    let unchanged = json_of(app.call(&admin.token, Method::GET, path, None).await).await;
    assert_eq!(unchanged["title"], "Review labs");
}

async fn another_facilitys_tasks_are_not_found(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let other = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let stranger = app.person(&[(Some(other), Role::Admin)]).await;
    let task = app
        .create_task(&admin.token, facility, json!({ "title": "Call" }))
        .await;
    let path = task_path(&task);
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({ "title": "Mine now" }))),
    ] {
        problem(
            app.call(&stranger.token, method, &path, body).await,
            404,
            "not-found",
        )
        .await;
    }
    problem(
        app.move_task(&stranger.token, &task, "Cancelled").await,
        404,
        "not-found",
    )
    .await;
    // Through its own facility's path the task is not there either.
    let disguised = format!("/facilities/{other}/tasks/{}", id(&task));
    problem(
        app.call(&stranger.token, Method::GET, &disguised, None)
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            &stranger.token,
            Method::PATCH,
            &disguised,
            Some(json!({ "title": "Mine now" })),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    let list = json_of(
        app.call(
            &stranger.token,
            Method::GET,
            &format!("/facilities/{other}/tasks"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(list["items"], json!([]));
    app.stop().await;
}

async fn task_text_is_sealed_and_reads_are_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Sealed Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let lead = id(&app.create_lead(&admin.token, facility, new_lead()).await);
    let patient = id(&app.patient(facility, new_patient()).await);
    let task = app
        .create_task(
            &admin.token,
            facility,
            json!({
                "title": "Phone Ottoline about her biopsy",
                "description": "Discuss the melanoma margins",
                "lead_id": lead,
                "patient_id": patient,
            }),
        )
        .await;
    assert_eq!(task["description"], "Discuss the melanoma margins");
    json_of(
        app.call(&admin.token, Method::GET, &task_path(&task), None)
            .await,
    )
    .await;

    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["Ottoline", "biopsy", "melanoma"]);

    let sysadmin = app.system_admin().await;
    for filter in [format!("lead_id={lead}"), format!("patient_id={patient}")] {
        let events = json_of(
            app.call(
                &sysadmin.token,
                Method::GET,
                &format!("/admin/audit-events?resource_type=task&{filter}"),
                None,
            )
            .await,
        )
        .await;
        let actions: Vec<&str> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["read", "create"], "{filter}");
        assert_eq!(events["items"][0]["resource_id"], task["id"]);
        assert!(
            events["items"][0]["compliance_flags"]
                .as_array()
                .unwrap()
                .contains(&json!("phi"))
        );
        let text = events.to_string();
        assert!(
            !text.contains("Ottoline") && !text.contains("melanoma"),
            "{text}"
        );
    }
    app.stop().await;
}
