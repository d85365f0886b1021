//! A task's due date and status: SLA due dates by priority, and the status
//! machine with completion stamped.

use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, json_of, problem, task_path};

on_both_backends!(
    due_dates_default_to_the_priority_slas,
    status_moves_follow_the_machine_and_completion_is_stamped,
);

fn time(value: &Value) -> Timestamp {
    serde_json::from_value(value.clone()).unwrap()
}

fn hours_between(from: &Value, to: &Value) -> f64 {
    (time(to).as_micros() - time(from).as_micros()) as f64 / 3_600_000_000.0
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
        app.move_task(&sdr.token, &task, "Completed").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["In Progress", "Cancelled"]));
    assert!(refused["detail"].as_str().unwrap().contains("`Pending`"));

    let started = json_of(app.move_task(&sdr.token, &task, "In Progress").await).await;
    assert_eq!(started["status"], "In Progress");
    assert!(started["completed_at"].is_null());
    let refused = problem(
        app.move_task(&sdr.token, &task, "Pending").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["Completed", "Cancelled"]));
    let done = json_of(app.move_task(&sdr.token, &task, "Completed").await).await;
    assert_eq!(done["status"], "Completed");
    assert!(time(&done["completed_at"]) >= time(&started["updated_at"]));
    assert_eq!(done["overdue"], false);

    let final_state = problem(
        app.move_task(&sdr.token, &task, "Cancelled").await,
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
    let cancelled = json_of(app.move_task(&sdr.token, &other, "Cancelled").await).await;
    assert_eq!(cancelled["status"], "Cancelled");
    assert!(cancelled["completed_at"].is_null());

    let unknown = app.move_task(&sdr.token, &other, "Done").await;
    assert_eq!(unknown.status(), 422, "an unknown status is bad input");
    app.stop().await;
}
