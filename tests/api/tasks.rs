//! CRM tasks (seed 001): SLA due dates, the status machine, the working
//! lists, who may change which task, references, and encryption.

use carebase::access::Permission;
use carebase::access::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, assert_no_plaintext, id, json_of, new_lead, new_patient, problem,
};
use crate::support::matrix::{Case, Grant};

on_both_backends!(
    due_dates_default_to_the_priority_slas,
    status_moves_follow_the_machine_and_completion_is_stamped,
    my_open_tasks_overdue_tasks_and_filters,
    only_assignees_creators_and_administrators_change_a_task,
    bad_input_names_each_field_and_writes_nothing,
    another_facilitys_tasks_are_not_found,
    task_text_is_sealed_and_reads_are_audited,
);

fn time(value: &Value) -> Timestamp {
    serde_json::from_value(value.clone()).unwrap()
}

fn hours_between(from: &Value, to: &Value) -> f64 {
    (time(to).as_micros() - time(from).as_micros()) as f64 / 3_600_000_000.0
}

fn task_path(task: &Value) -> String {
    format!(
        "/facilities/{}/tasks/{}",
        task["facility_id"].as_str().unwrap(),
        id(task)
    )
}

async fn move_task(app: &TestApp, token: &str, task: &Value, status: &str) -> reqwest::Response {
    app.call(
        token,
        Method::POST,
        &format!("{}/status", task_path(task)),
        Some(json!({ "status": status })),
    )
    .await
}

async fn due_dates_default_to_the_priority_slas(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    for (priority, hours) in [
        ("Urgent", 0.0),
        ("High", 24.0),
        ("Medium", 72.0),
        ("Low", 168.0),
    ] {
        let task = app
            .create_task(
                &coach.token,
                facility,
                json!({ "title": "Call about labs", "priority": priority }),
            )
            .await;
        assert_eq!(task["priority"], priority);
        assert_eq!(
            hours_between(&task["created_at"], &task["due_at"]),
            hours,
            "{priority}"
        );
    }
    let plain = app
        .create_task(&coach.token, facility, json!({ "title": "Send form" }))
        .await;
    assert_eq!(plain["priority"], "Medium", "Medium by default");
    assert_eq!(plain["status"], "Pending");
    assert_eq!(
        plain["assignee_id"],
        json!(coach.account_id),
        "the creator's"
    );
    assert_eq!(plain["created_by"], json!(coach.account_id));
    assert!(plain["completed_at"].is_null());
    assert_eq!(hours_between(&plain["created_at"], &plain["due_at"]), 72.0);

    let due = "2031-02-03T04:05:06Z";
    let given = app
        .create_task(
            &coach.token,
            facility,
            json!({ "title": "Renewal", "priority": "Urgent", "due_at": due }),
        )
        .await;
    assert_eq!(given["due_at"], due, "a given due date wins");

    // Raising the priority brings the due date forward to the new SLA.
    let raised = json_of(
        app.call(
            &coach.token,
            Method::PATCH,
            &task_path(&plain),
            Some(json!({ "priority": "High" })),
        )
        .await,
    )
    .await;
    assert_eq!(
        hours_between(&raised["created_at"], &raised["due_at"]),
        24.0
    );
    let lowered = json_of(
        app.call(
            &coach.token,
            Method::PATCH,
            &task_path(&plain),
            Some(json!({ "priority": "Low" })),
        )
        .await,
    )
    .await;
    assert_eq!(lowered["due_at"], raised["due_at"], "lowering keeps it");
    app.stop().await;
}

async fn status_moves_follow_the_machine_and_completion_is_stamped(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let task = app
        .create_task(&sdr.token, facility, json!({ "title": "Follow up" }))
        .await;

    let refused = problem(
        move_task(&app, &sdr.token, &task, "Completed").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["In Progress", "Cancelled"]));
    assert!(refused["detail"].as_str().unwrap().contains("`Pending`"));

    let started = json_of(move_task(&app, &sdr.token, &task, "In Progress").await).await;
    assert_eq!(started["status"], "In Progress");
    assert!(started["completed_at"].is_null());
    let refused = problem(
        move_task(&app, &sdr.token, &task, "Pending").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["Completed", "Cancelled"]));
    let done = json_of(move_task(&app, &sdr.token, &task, "Completed").await).await;
    assert_eq!(done["status"], "Completed");
    assert!(time(&done["completed_at"]) >= time(&started["updated_at"]));
    assert_eq!(done["overdue"], false);

    let final_state = problem(
        move_task(&app, &sdr.token, &task, "Cancelled").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(final_state["allowed"], json!([]));
    let frozen = problem(
        app.call(
            &sdr.token,
            Method::PATCH,
            &task_path(&task),
            Some(json!({ "title": "Changed" })),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert!(frozen["detail"].as_str().unwrap().contains("final"));

    let other = app
        .create_task(&sdr.token, facility, json!({ "title": "Drop" }))
        .await;
    let cancelled = json_of(move_task(&app, &sdr.token, &other, "Cancelled").await).await;
    assert_eq!(cancelled["status"], "Cancelled");
    assert!(cancelled["completed_at"].is_null());

    let unknown = move_task(&app, &sdr.token, &other, "Done").await;
    assert_eq!(unknown.status(), 422, "an unknown status is bad input");
    app.stop().await;
}

async fn my_open_tasks_overdue_tasks_and_filters(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let alice = app.person(&[(Some(facility), Role::Nurse)]).await;
    let bob = app.person(&[(Some(facility), Role::Nurse)]).await;
    let past = "2020-01-01T00:00:00Z";
    let patient = id(&app.patient(facility, new_patient()).await);
    let raise = |token: String, body: Value| {
        let app = &app;
        async move { app.create_task(&token, facility, body).await }
    };
    let a_pending = raise(
        alice.token.clone(),
        json!({ "title": "a1", "priority": "Low" }),
    )
    .await;
    let a_started = raise(
        alice.token.clone(),
        json!({ "title": "a2", "patient_id": patient }),
    )
    .await;
    json_of(move_task(&app, &alice.token, &a_started, "In Progress").await).await;
    let a_done = raise(
        alice.token.clone(),
        json!({ "title": "a3", "due_at": past }),
    )
    .await;
    json_of(move_task(&app, &alice.token, &a_done, "In Progress").await).await;
    json_of(move_task(&app, &alice.token, &a_done, "Completed").await).await;
    let a_late = raise(
        alice.token.clone(),
        json!({ "title": "a4", "due_at": past, "priority": "Urgent" }),
    )
    .await;
    let b_late = raise(bob.token.clone(), json!({ "title": "b1", "due_at": past })).await;
    let b_dropped = raise(bob.token.clone(), json!({ "title": "b2", "due_at": past })).await;
    json_of(move_task(&app, &bob.token, &b_dropped, "Cancelled").await).await;
    let for_alice = raise(
        bob.token.clone(),
        json!({ "title": "b3", "assignee_id": alice.account_id }),
    )
    .await;

    let list = |token: String, query: String| {
        let app = &app;
        async move {
            let page = json_of(
                app.call(
                    &token,
                    Method::GET,
                    &format!("/facilities/{facility}/tasks{query}"),
                    None,
                )
                .await,
            )
            .await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(id)
                .collect::<Vec<Uuid>>()
        }
    };
    let ids = |tasks: &[&Value]| tasks.iter().map(|t| id(t)).collect::<Vec<Uuid>>();
    assert_eq!(
        list(alice.token.clone(), "?view=mine_open".into()).await,
        ids(&[&a_pending, &a_started, &a_late, &for_alice])
    );
    assert_eq!(
        list(bob.token.clone(), "?view=mine_open".into()).await,
        ids(&[&b_late])
    );
    assert_eq!(
        list(bob.token.clone(), "?view=overdue".into()).await,
        ids(&[&a_late, &b_late]),
        "everyone's overdue tasks, open ones only"
    );
    let late = json_of(
        app.call(&alice.token, Method::GET, &task_path(&a_late), None)
            .await,
    )
    .await;
    assert_eq!(late["overdue"], true);
    assert_eq!(
        list(alice.token.clone(), "?status=Cancelled".into()).await,
        ids(&[&b_dropped])
    );
    assert_eq!(
        list(alice.token.clone(), "?priority=Urgent".into()).await,
        ids(&[&a_late])
    );
    assert_eq!(
        list(alice.token.clone(), format!("?patient_id={patient}")).await,
        ids(&[&a_started])
    );
    assert_eq!(
        list(
            alice.token.clone(),
            format!("?assignee_id={}&view=overdue", bob.account_id)
        )
        .await,
        ids(&[&b_late])
    );

    let first = json_of(
        app.call(
            &alice.token,
            Method::GET,
            &format!("/facilities/{facility}/tasks?limit=4"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(
        list(alice.token.clone(), format!("?limit=4&after={cursor}")).await,
        ids(&[&b_late, &b_dropped, &for_alice])
    );
    let bad = app
        .call(
            &alice.token,
            Method::GET,
            &format!("/facilities/{facility}/tasks?view=someday"),
            None,
        )
        .await;
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

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
        move_task(&app, &carol.token, &task, "In Progress")
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
    // Handing it to Carol makes it hers; Bob no longer has it.
    json_of(
        app.call(
            &admin.token,
            Method::PATCH,
            &path,
            Some(json!({ "assignee_id": carol.account_id })),
        )
        .await,
    )
    .await;
    assert_eq!(
        app.call(&bob.token, Method::PATCH, &path, change())
            .await
            .status(),
        403
    );
    let started = json_of(move_task(&app, &carol.token, &task, "In Progress").await).await;
    assert_eq!(started["status"], "In Progress");
    let unchanged = json_of(app.call(&admin.token, Method::GET, &path, None).await).await;
    assert_eq!(unchanged["title"], "Review labs");
    app.stop().await;
}

async fn bad_input_names_each_field_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let elsewhere = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let path = format!("/facilities/{facility}/tasks");
    let fields = |body: &Value| -> Vec<String> {
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };

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

    // References outside the facility, all named at once.
    let outsider = app.account(&[(Some(elsewhere), Role::Nurse)]).await.0;
    let elsewhere_admin = app.person(&[(Some(elsewhere), Role::Admin)]).await;
    let foreign_lead = id(&app
        .create_lead(&elsewhere_admin.token, elsewhere, new_lead())
        .await);
    let foreign_patient = id(&app.patient(elsewhere, new_patient()).await);
    let refused = problem(
        app.call(
            &admin.token,
            Method::POST,
            &path,
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

    // A bad change leaves the task as it was.
    let task = app
        .create_task(&admin.token, facility, json!({ "title": "Call" }))
        .await;
    let refused = problem(
        app.call(
            &admin.token,
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
    let unchanged = json_of(
        app.call(&admin.token, Method::GET, &task_path(&task), None)
            .await,
    )
    .await;
    assert_eq!(unchanged["title"], "Call");
    assert_eq!(unchanged["updated_at"], task["updated_at"]);
    app.stop().await;
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
        move_task(&app, &stranger.token, &task, "Cancelled").await,
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

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("list tasks", Method::GET, P::TASK_READ, |r, _| format!("/facilities/{}/tasks", r.facility)),
        Case::new("read task", Method::GET, P::TASK_READ, |r, _| format!("/facilities/{}/tasks/{}", r.facility, r.task)),
        Case::new("raise task", Method::POST, P::TASK_WRITE, |r, _| format!("/facilities/{}/tasks", r.facility))
            .body(|_, _| Some(json!({"title": "Call back", "priority": "High"})))
            .grant(Grant::OwnRecord),
        Case::new("change someone else's task", Method::PATCH, P::TASK_WRITE, |r, _| format!("/facilities/{}/tasks/{}", r.facility, r.task))
            .body(|_, _| Some(json!({"priority": "Urgent"}))),
        Case::new("move someone else's task", Method::POST, P::TASK_WRITE, |r, _| format!("/facilities/{}/tasks/{}/status", r.facility, r.task))
            .body(|_, _| Some(json!({"status": "In Progress"}))),
    ]
}
