//! The patient record: registered, read, changed and deactivated; the MRN
//! unique within a facility and found exactly; lists paged by cursor; bad
//! input refused whole; a portal account's own record only.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, json_of, new_patient, problem};

on_both_backends!(
    a_patient_is_registered_read_changed_and_deactivated,
    the_mrn_is_unique_within_a_facility_and_found_exactly,
    lists_are_paginated_with_a_cursor,
    bad_input_names_each_field_and_writes_nothing,
    a_portal_account_sees_only_its_own_record,
);

async fn a_patient_is_registered_read_changed_and_deactivated(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Eastwick General").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let base = format!("/facilities/{facility}/patients");

    let created = app
        .call(&nurse.token, Method::POST, &base, Some(new_patient()))
        .await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    assert_eq!(created["last_name"], "Quuxworth");
    assert_eq!(created["allergies"], json!(["penicillin", "latex"]));
    assert_eq!(created["is_active"], true);
    let patient = format!("{base}/{}", id(&created));

    let read = json_of(app.call(&nurse.token, Method::GET, &patient, None).await).await;
    assert_eq!(read, created);

    let changed = json_of(
        app.call(
            &nurse.token,
            Method::PATCH,
            &patient,
            Some(json!({"first_name": "Zeb", "phone": null, "insurance": {"provider": "Other Mutual"}})),
        )
        .await,
    )
    .await;
    assert_eq!(changed["first_name"], "Zeb");
    assert_eq!(changed["phone"], Value::Null);
    assert_eq!(changed["insurance"]["provider"], "Other Mutual");
    assert_eq!(changed["email"], created["email"], "untouched fields stay");

    // Nurses may not deactivate; administrators may.
    let refused = app
        .call(
            &nurse.token,
            Method::POST,
            &format!("{patient}/deactivate"),
            None,
        )
        .await;
    problem(refused, 403, "forbidden").await;
    let deactivated = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{patient}/deactivate"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(deactivated["is_active"], false);
    app.stop().await;
}

async fn the_mrn_is_unique_within_a_facility_and_found_exactly(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let first = app.facility("First").await;
    let second = app.facility("Second").await;
    let clerk = app
        .person(&[(Some(first), Role::Staff), (Some(second), Role::Staff)])
        .await;
    let mut patient = new_patient();
    patient["mrn"] = json!("ab-1234");
    let path = |f: Uuid| format!("/facilities/{f}/patients");
    assert_eq!(
        app.call(
            &clerk.token,
            Method::POST,
            &path(first),
            Some(patient.clone())
        )
        .await
        .status(),
        201
    );
    let mut again = new_patient();
    again["mrn"] = json!(" AB-1234");
    let body = problem(
        app.call(
            &clerk.token,
            Method::POST,
            &path(first),
            Some(again.clone()),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("mrn"), "{body}");
    assert_eq!(
        app.call(&clerk.token, Method::POST, &path(second), Some(again))
            .await
            .status(),
        201
    );

    let search_path = format!("{}/search", path(first));
    let search = |body: Value| app.call(&clerk.token, Method::POST, &search_path, Some(body));
    let found = json_of(search(json!({"mrn": "ab-1234 "})).await).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["mrn"], "AB-1234");
    assert_eq!(found["items"][0]["facility_id"], first.to_string());
    let missing = json_of(search(json!({"mrn": "AB-9999"})).await).await;
    assert_eq!(missing["items"], json!([]));

    // Email and phone are found exactly too, through their own blind indexes.
    let by_email = json_of(search(json!({"email": "Zebediah.Quuxworth@Example.org"})).await).await;
    assert_eq!(by_email["items"].as_array().unwrap().len(), 1);
    let by_phone = json_of(search(json!({"phone": "+1 (555) 010-4242"})).await).await;
    assert_eq!(by_phone["items"].as_array().unwrap().len(), 1);
    let nobody = json_of(search(json!({"phone": "+1 555 010 0000"})).await).await;
    assert_eq!(nobody["items"], json!([]));
    for bad in [
        json!({}),
        json!({"mrn": "A", "email": "a@b.c"}),
        json!({"name": "Zebediah"}),
    ] {
        problem(search(bad).await, 422, "validation").await;
    }
    app.stop().await;
}

async fn lists_are_paginated_with_a_cursor(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Paged").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    for _ in 0..5 {
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(after) => format!("{base}?limit=2&after={after}"),
            None => format!("{base}?limit=2"),
        };
        let page = json_of(app.call(&nurse.token, Method::GET, &path, None).await).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(id));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "each patient once, in order");
    for bad in ["limit=0", "limit=201", "after=yesterday", "sort=name"] {
        let response = app
            .call(&nurse.token, Method::GET, &format!("{base}?{bad}"), None)
            .await;
        assert!(
            matches!(response.status().as_u16(), 400 | 422),
            "{bad}: {}",
            response.status()
        );
    }
    app.stop().await;
}

async fn bad_input_names_each_field_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Strict").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let before = app.count_patients().await;

    let mut bad = new_patient();
    bad["mrn"] = json!("has spaces");
    bad["date_of_birth"] = json!("1961-13-40");
    bad["ssn"] = json!("12-3");
    bad["email"] = json!("not-an-email");
    let body = problem(
        app.call(&nurse.token, Method::POST, &base, Some(bad)).await,
        422,
        "validation",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["mrn", "date_of_birth", "ssn", "email"]);

    let mut missing = new_patient();
    missing.as_object_mut().unwrap().remove("last_name");
    let body = problem(
        app.call(&nurse.token, Method::POST, &base, Some(missing))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "last_name");

    let mut unknown = new_patient();
    unknown["blood_type"] = json!("O+");
    let body = problem(
        app.call(&nurse.token, Method::POST, &base, Some(unknown))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "blood_type");

    let bad_id = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("{base}/not-a-uuid"),
            None,
        )
        .await;
    problem(bad_id, 400, "malformed-request").await;
    let no_token = app.client.get(app.url(&base)).send().await.unwrap();
    assert_eq!(
        no_token.headers()["www-authenticate"],
        "Bearer realm=\"carebase\""
    );
    problem(no_token, 401, "unauthorized").await;

    assert_eq!(app.count_patients().await, before, "nothing was written");
    app.stop().await;
}

async fn a_portal_account_sees_only_its_own_record(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Portal").await;
    let portal = app.person(&[]).await;
    let mine = app.patient(facility, new_patient()).await;
    app.link_portal(facility, id(&mine), &portal).await;
    let theirs = app.patient(facility, new_patient()).await;
    let token = portal.token.as_str();
    let base = format!("/facilities/{facility}/patients");

    let list = json_of(app.call(token, Method::GET, &base, None).await).await;
    let ids: Vec<Uuid> = list["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(&mine)]);
    assert_eq!(
        app.call(token, Method::GET, &format!("{base}/{}", id(&mine)), None)
            .await
            .status(),
        200
    );
    problem(
        app.call(token, Method::GET, &format!("{base}/{}", id(&theirs)), None)
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            token,
            Method::PATCH,
            &format!("{base}/{}", id(&mine)),
            Some(json!({"gender": "x"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    app.stop().await;
}
