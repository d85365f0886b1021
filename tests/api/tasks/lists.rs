//! The working lists: my open tasks, overdue tasks, filters and cursors.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, json_of, new_patient, problem, task_path};

on_both_backends!(my_open_tasks_overdue_tasks_and_filters,);

async fn my_open_tasks_overdue_tasks_and_filters(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let alice = app.person(&[(Some(facility), Role::Nurse)]).await;
    let bob = app.person(&[(Some(facility), Role::Nurse)]).await;
    let patient = id(&app.patient(facility, new_patient()).await);
    let t = raise_tasks(&app, facility, &alice, &bob, patient).await;
    assert_eq!(
        listed(&app, facility, &alice.token, "?view=mine_open".into()).await,
        ids(&[&t.a_pending, &t.a_started, &t.a_late, &t.for_alice])
    );
    assert_eq!(
        listed(&app, facility, &bob.token, "?view=mine_open".into()).await,
        ids(&[&t.b_late])
    );
    assert_eq!(
        listed(&app, facility, &bob.token, "?view=overdue".into()).await,
        ids(&[&t.a_late, &t.b_late]),
        "everyone's overdue tasks, open ones only"
    );
    let late = json_of(
        app.call(&alice.token, Method::GET, &task_path(&t.a_late), None)
            .await,
    )
    .await;
    assert_eq!(late["overdue"], true);
    assert_eq!(
        listed(&app, facility, &alice.token, "?status=Cancelled".into()).await,
        ids(&[&t.b_dropped])
    );
    assert_eq!(
        listed(&app, facility, &alice.token, "?priority=Urgent".into()).await,
        ids(&[&t.a_late])
    );
    assert_eq!(
        listed(
            &app,
            facility,
            &alice.token,
            format!("?patient_id={patient}")
        )
        .await,
        ids(&[&t.a_started])
    );
    assert_eq!(
        listed(
            &app,
            facility,
            &alice.token,
            format!("?assignee_id={}&view=overdue", bob.account_id)
        )
        .await,
        ids(&[&t.b_late])
    );

    pages_by_cursor_and_refuses_an_unknown_view(&app, facility, &alice, &t).await;
    app.stop().await;
}

async fn pages_by_cursor_and_refuses_an_unknown_view(
    app: &TestApp,
    facility: Uuid,
    alice: &Person,
    t: &Tasks,
) {
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
        listed(
            app,
            facility,
            &alice.token,
            format!("?limit=4&after={cursor}")
        )
        .await,
        ids(&[&t.b_late, &t.b_dropped, &t.for_alice])
    );
    let bad = app
        .call(
            &alice.token,
            Method::GET,
            &format!("/facilities/{facility}/tasks?view=someday"),
            None,
        )
        .await;
    let bad = problem(bad, 422, "validation").await;
    assert_eq!(bad["errors"][0]["field"], "view", "{bad}");
}

/// The tasks the lists are read from, in the order they were raised.
struct Tasks {
    a_pending: Value,
    a_started: Value,
    a_late: Value,
    b_late: Value,
    b_dropped: Value,
    for_alice: Value,
}

/// Alice's: pending, started (for the patient), done late, and late; Bob's:
/// late, dropped late, and one for Alice.
async fn raise_tasks(
    app: &TestApp,
    facility: Uuid,
    alice: &Person,
    bob: &Person,
    patient: Uuid,
) -> Tasks {
    let past = "2020-01-01T00:00:00Z";
    let raise =
        |token: String, body: Value| async move { app.create_task(&token, facility, body).await };
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
    json_of(app.move_task(&alice.token, &a_started, "In Progress").await).await;
    let a_done = raise(
        alice.token.clone(),
        json!({ "title": "a3", "due_at": past }),
    )
    .await;
    json_of(app.move_task(&alice.token, &a_done, "In Progress").await).await;
    json_of(app.move_task(&alice.token, &a_done, "Completed").await).await;
    let a_late = raise(
        alice.token.clone(),
        json!({ "title": "a4", "due_at": past, "priority": "Urgent" }),
    )
    .await;
    let b_late = raise(bob.token.clone(), json!({ "title": "b1", "due_at": past })).await;
    let b_dropped = raise(bob.token.clone(), json!({ "title": "b2", "due_at": past })).await;
    json_of(app.move_task(&bob.token, &b_dropped, "Cancelled").await).await;
    let for_alice = raise(
        bob.token.clone(),
        json!({ "title": "b3", "assignee_id": alice.account_id }),
    )
    .await;
    Tasks {
        a_pending,
        a_started,
        a_late,
        b_late,
        b_dropped,
        for_alice,
    }
}

/// The ids of the tasks `token` lists with `query`.
async fn listed(app: &TestApp, facility: Uuid, token: &str, query: String) -> Vec<Uuid> {
    let page = json_of(
        app.call(
            token,
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

fn ids(tasks: &[&Value]) -> Vec<Uuid> {
    tasks.iter().map(|t| id(t)).collect::<Vec<Uuid>>()
}
