//! The care journey's stages and coaches: coaches move the journeys they
//! coach.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, json_of};

on_both_backends!(coaches_move_the_journeys_they_coach,);

async fn coaches_move_the_journeys_they_coach(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Vitality").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let other_coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let patient = app.patient(facility, crate::support::new_patient()).await;
    let enrolled = a_coach_enrols_a_patient_once(&app, facility, &admin, &coach, &patient).await;
    let pathways = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/pipelines?kind=care"),
            None,
        )
        .await,
    )
    .await;
    let labs = pathways["items"][0]["stages"][1].clone();
    assert_eq!(labs["name"], "Initial Labs");
    let journey = format!("/facilities/{facility}/journeys/{}", id(&enrolled));
    let to_labs = Some(json!({ "stage_id": labs["id"] }));
    for (person, status) in [(&other_coach, 403), (&nurse, 403), (&coach, 200)] {
        let moved = app
            .call(
                &person.token,
                Method::POST,
                &format!("{journey}/stage"),
                to_labs.clone(),
            )
            .await;
        assert_eq!(moved.status(), status);
    }
    let detail = json_of(app.call(&nurse.token, Method::GET, &journey, None).await).await;
    assert_eq!(detail["journey"]["stage"], "Initial Labs");
    let moves: Vec<&Value> = detail["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["to_stage_id"])
        .collect();
    assert_eq!(moves, [&labs["id"], &enrolled["stage_id"]]);

    journeys_list_by_stage_and_coach(&app, facility, &nurse, &other_coach, &labs).await;
    the_admin_hands_the_patient_to_the_other_coach(
        &app,
        &journey,
        &admin,
        &coach,
        &other_coach,
        &enrolled,
    )
    .await;
    let elsewhere = app.facility("Elsewhere").await;
    let outsider = app.person(&[(Some(elsewhere), Role::Admin)]).await;
    assert_eq!(
        app.call(&outsider.token, Method::GET, &journey, None)
            .await
            .status(),
        404
    );
    app.stop().await;
}

/// The coach enrols as coach; one journey per pathway. Answers the
/// journey.
async fn a_coach_enrols_a_patient_once(
    app: &TestApp,
    facility: Uuid,
    admin: &Person,
    coach: &Person,
    patient: &Value,
) -> Value {
    let enrolled = json_of(
        app.call(
            &coach.token,
            Method::POST,
            &format!("/facilities/{facility}/patients/{}/journeys", id(patient)),
            Some(json!({ "notes": "Goal: energy and sleep" })),
        )
        .await,
    )
    .await;
    assert_eq!(
        enrolled["health_coach_id"],
        json!(coach.account_id),
        "the coach enrols as coach"
    );
    assert_eq!(enrolled["stage"], "Intake");
    assert_eq!(enrolled["notes"], "Goal: energy and sleep");
    let twice = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/patients/{}/journeys", id(patient)),
            Some(json!({})),
        )
        .await;
    assert_eq!(twice.status(), 409, "one journey per pathway");
    enrolled
}

async fn journeys_list_by_stage_and_coach(
    app: &TestApp,
    facility: Uuid,
    nurse: &Person,
    other_coach: &Person,
    labs: &Value,
) {
    let by_stage = json_of(
        app.call(
            &nurse.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/journeys?stage_id={}",
                labs["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(by_stage["items"].as_array().unwrap().len(), 1);
    let by_other_coach = json_of(
        app.call(
            &nurse.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/journeys?health_coach_id={}",
                other_coach.account_id
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(by_other_coach["items"], json!([]));
}

/// Handed over, the journey moves with its new coach, not the old one.
async fn the_admin_hands_the_patient_to_the_other_coach(
    app: &TestApp,
    journey: &str,
    admin: &Person,
    coach: &Person,
    other_coach: &Person,
    enrolled: &Value,
) {
    json_of(
        app.call(
            &admin.token,
            Method::PATCH,
            journey,
            Some(json!({ "health_coach_id": other_coach.account_id })),
        )
        .await,
    )
    .await;
    let back = Some(json!({ "stage_id": enrolled["stage_id"] }));
    assert_eq!(
        app.call(
            &coach.token,
            Method::POST,
            &format!("{journey}/stage"),
            back.clone()
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        app.call(
            &other_coach.token,
            Method::POST,
            &format!("{journey}/stage"),
            back
        )
        .await
        .status(),
        200
    );
}
