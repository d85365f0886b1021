//! Asking for slots the way seed 000 does: `is_slot_available(time,
//! duration)` without a provider answers for anyone offering the type, and
//! `get_available_slots(…, type)` names the type.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, always_open, hours_ahead, id, new_patient, problem, text,
};

on_both_backends!(
    the_slot_check_without_a_provider_answers_for_anyone_offering_the_type,
    open_slots_accept_the_type_by_name,
);

/// A clinic with three bookable providers and a procedure two of them
/// offer: (facility, admin token, [surgeon, nurse] in id order, the third
/// provider, the procedure).
async fn clinic_with_a_procedure(app: &TestApp) -> (Uuid, String, Vec<Uuid>, Uuid, Value) {
    let (facility, admin, surgeon) = app.open_clinic().await;
    let mut others = Vec::new();
    for role in [Role::Nurse, Role::Doctor] {
        let person = app.person(&[(Some(facility), role)]).await;
        app.set_schedule(&admin.token, facility, person.account_id, always_open())
            .await;
        others.push(person.account_id);
    }
    let mut offering = vec![surgeon.account_id, others[0]];
    offering.sort();
    let procedure = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/appointment-types"),
            Some(
                json!({"name": "Rhinoplasty", "kind": "procedure", "duration_minutes": 60,
                        "provider_ids": offering}),
            ),
        )
        .await;
    assert_eq!(procedure.status(), 201);
    let procedure = procedure.json().await.unwrap();
    (facility, admin.token, offering, others[1], procedure)
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.call(token, Method::GET, path, None).await
}

async fn the_slot_check_without_a_provider_answers_for_anyone_offering_the_type(
    backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (facility, token, offering, third, procedure) = clinic_with_a_procedure(&app).await;
    let at = hours_ahead(24);
    let check = |question: &str| {
        format!(
            "/facilities/{facility}/slot-check?starts_at={}&{question}",
            text(at)
        )
    };
    let answer = |question: &'static str| {
        let (app, token, path) = (&app, token.clone(), check(question));
        async move { get(app, &token, &path).await.json::<Value>().await.unwrap() }
    };
    let free = answer("type=rhinoplasty").await;
    assert_eq!(
        (&free["available"], &free["provider_ids"]),
        (&json!(true), &json!(offering)),
        "{free}"
    );
    // Without a type, every provider with a schedule.
    let everyone = answer("duration_minutes=30").await;
    assert_eq!(
        everyone["provider_ids"].as_array().unwrap().len(),
        3,
        "{everyone}"
    );
    assert!(
        everyone["provider_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(third))
    );
    // Book the first offering provider: the other one is still free.
    let book = |provider: Uuid| {
        let (app, token, procedure) = (&app, token.clone(), procedure.clone());
        async move {
            let patient = app.patient(facility, new_patient()).await;
            app.booked(
                &token,
                facility,
                json!({"provider_id": provider, "starts_at": text(at),
                "type_id": procedure["id"], "patient_id": patient["id"]}),
            )
            .await
        }
    };
    book(offering[0]).await;
    let by_id = format!("type_id={}", procedure["id"].as_str().unwrap());
    let rest: Value = get(&app, &token, &check(&by_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["provider_ids"], json!([offering[1]]), "{rest}");
    book(offering[1]).await;
    let none = answer("type=Rhinoplasty").await;
    assert_eq!(
        (&none["available"], &none["reason"]),
        (&json!(false), &json!("taken")),
        "{none}"
    );
    assert_eq!(none["provider_ids"], json!([]));
    // The third provider offers nothing of it, but is free without a type.
    let third_free = answer("duration_minutes=60").await;
    assert_eq!(third_free["provider_ids"], json!([third]), "{third_free}");
    types_nobody_offers_and_bad_questions(&app, facility, &token, &check).await;
}

/// A type no provider with a schedule offers, an unknown name, and a type
/// named twice.
async fn types_nobody_offers_and_bad_questions(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    check: &impl Fn(&str) -> String,
) {
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let created = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/appointment-types"),
            Some(json!({"name": "Coaching", "provider_ids": [coach.account_id]})),
        )
        .await;
    let coaching: Value = created.json().await.unwrap();
    let answer: Value = get(app, token, &check("type=Coaching"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["reason"], "no_provider", "{answer}");
    let unknown = problem(
        get(app, token, &check("type=Facelift")).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "type");
    let twice = format!("type=Coaching&type_id={}", id(&coaching));
    let twice = problem(get(app, token, &check(&twice)).await, 422, "validation").await;
    assert_eq!(twice["errors"][0]["field"], "type");
}

async fn open_slots_accept_the_type_by_name(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, token, offering, _, procedure) = clinic_with_a_procedure(&app).await;
    let from = hours_ahead(24);
    let search = |type_param: &str| {
        format!(
            "/facilities/{facility}/open-slots?from={}&to={}&{type_param}",
            text(from),
            text(from.plus_secs(4 * 3600))
        )
    };
    let by_id: Value = get(
        &app,
        &token,
        &search(&format!("type_id={}", id(&procedure))),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_id["duration_minutes"], 60);
    let slots = by_id["slots"].as_array().unwrap();
    let provider = |s: &Value| s["provider_id"].as_str().unwrap().parse::<Uuid>().unwrap();
    assert!(!slots.is_empty() && slots.iter().all(|s| offering.contains(&provider(s))));
    for name in [
        "Rhinoplasty",
        "%20rhinoPLASTY%20",
        procedure["id"].as_str().unwrap(),
    ] {
        let by_name: Value = get(&app, &token, &search(&format!("type={name}")))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(by_name, by_id, "{name}");
    }
    let unknown = problem(
        get(&app, &token, &search("type=Facelift")).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "type");
}
