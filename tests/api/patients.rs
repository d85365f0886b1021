//! Patients (seed 002): the record, its encryption at rest, its audit
//! trail, and who reaches it.

use carebase::access::Permission;
use carebase::access::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, assert_no_plaintext, id, json_of, new_patient, problem,
};
use crate::support::matrix::Case;

on_both_backends!(
    a_patient_is_registered_read_changed_and_deactivated,
    every_read_and_change_is_audited_without_phi,
    the_mrn_is_unique_within_a_facility_and_found_exactly,
    lists_are_paginated_with_a_cursor,
    bad_input_names_each_field_and_writes_nothing,
    no_phi_is_stored_in_clear_text,
    a_ciphertext_moved_to_another_row_does_not_open,
    emergency_access_opens_one_patient_with_a_reason,
    a_portal_account_sees_only_its_own_record,
    master_key_rotation_keeps_every_patient_readable,
    a_change_or_read_that_cannot_be_audited_does_not_happen,
    the_audit_log_exports_as_ndjson_and_csv_and_records_the_export,
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

async fn every_read_and_change_is_audited_without_phi(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Audited Clinic").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let base = format!("/facilities/{facility}/patients");
    let created = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
    )
    .await;
    let patient_id = id(&created);
    app.call(
        &nurse.token,
        Method::GET,
        &format!("{base}/{patient_id}"),
        None,
    )
    .await;
    app.call(&nurse.token, Method::GET, &base, None).await;
    app.call(
        &nurse.token,
        Method::PATCH,
        &format!("{base}/{patient_id}"),
        Some(json!({"last_name": "Quuxworth-Smythe"})),
    )
    .await;

    let events = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/audit-events?patient_id={patient_id}"),
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
    assert_eq!(
        actions,
        ["update", "patient_access", "patient_access", "create"],
        "newest first"
    );
    for event in events["items"].as_array().unwrap() {
        assert_eq!(event["actor_id"], nurse.account_id.to_string());
        assert_eq!(event["session_id"], nurse.session_id.to_string());
        assert!(event["request_id"].is_string());
        assert!(
            event["compliance_flags"]
                .as_array()
                .unwrap()
                .contains(&json!("phi"))
        );
    }
    let text = events.to_string();
    for phi in [
        "Zebediah",
        "Quuxworth",
        "219-09-9999",
        "penicillin",
        "Larkspur",
    ] {
        assert!(!text.contains(phi), "{phi} in the audit log: {text}");
    }
    let verified = carebase::audit::verify(&app.state.db).await.unwrap();
    assert!(
        matches!(verified, carebase::audit::VerifyReport::Intact { .. }),
        "{verified:?}"
    );
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

async fn count_patients(app: &TestApp) -> i64 {
    let backend = app.state.db.conn().get_database_backend();
    let row = app
        .state
        .db
        .conn()
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM patients",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn bad_input_names_each_field_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Strict").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let before = count_patients(&app).await;

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

    assert_eq!(count_patients(&app).await, before, "nothing was written");
    app.stop().await;
}

async fn no_phi_is_stored_in_clear_text(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Private").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let mut patient = new_patient();
    patient["mrn"] = json!("XYZZY-31337");
    let base = format!("/facilities/{facility}/patients");
    let created = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(patient.clone()))
            .await,
    )
    .await;
    app.call(
        &nurse.token,
        Method::GET,
        &format!("{base}/{}", id(&created)),
        None,
    )
    .await;
    let bytes = app.raw_database_bytes(backend).await;
    assert!(
        bytes.len() > 10_000,
        "the scan read the database ({} bytes)",
        bytes.len()
    );
    assert!(
        bytes.windows(7).any(|w| w == b"Private"),
        "the scan sees plaintext that is not PHI (the facility name), so it would see PHI too"
    );
    assert_no_plaintext(
        &bytes,
        &[
            "Zebediah",
            "Quuxworth",
            "XYZZY-31337",
            "1961-07-14",
            "219-09-9999",
            "555 010 4242",
            "zebediah.quuxworth@example.org",
            "Larkspur",
            "Philomena",
            "ACM-77881",
            "penicillin",
        ],
    );
    app.stop().await;
}

async fn a_ciphertext_moved_to_another_row_does_not_open(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Tamper").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let mut other = new_patient();
    other["last_name"] = json!("Otherperson");
    let victim = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
    )
    .await;
    let source = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(other))
            .await,
    )
    .await;
    // Behind the server's back: copy one patient's sealed name onto another.
    let backend_kind = app.state.db.conn().get_database_backend();
    let sql = "UPDATE patients SET last_name = (SELECT last_name FROM patients WHERE id = $1) WHERE id = $2";
    app.state
        .db
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            sql,
            [id(&source).into(), id(&victim).into()],
        ))
        .await
        .unwrap();
    let response = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&victim)),
            None,
        )
        .await;
    let body = problem(response, 500, "internal").await;
    assert!(!body.to_string().contains("Otherperson"), "{body}");
    // The untouched patient still reads.
    assert_eq!(
        app.call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&source)),
            None
        )
        .await
        .status(),
        200
    );
    app.stop().await;
}

async fn emergency_access_opens_one_patient_with_a_reason(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let home = app.facility("Home Hospital").await;
    let away = app.facility("Away Hospital").await;
    let target = app.patient(away, new_patient()).await;
    let bystander = app.patient(away, new_patient()).await;
    let physician = app.person(&[(Some(home), Role::Physician)]).await;
    let clerk = app.person(&[(Some(home), Role::Staff)]).await;
    let reviewer = app.person(&[(Some(away), Role::Admin)]).await;
    let target_path = format!("/facilities/{away}/patients/{}", id(&target));

    problem(
        app.call(&physician.token, Method::GET, &target_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    let ask =
        |reason: &str| json!({"facility_id": away, "patient_id": id(&target), "reason": reason});
    problem(
        app.call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(ask("because")),
        )
        .await,
        422,
        "validation",
    )
    .await;
    problem(
        app.call(
            &clerk.token,
            Method::POST,
            "/emergency-access",
            Some(ask("unconscious in our ER, needs allergies")),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let unknown = json!({"facility_id": away, "patient_id": Uuid::now_v7(), "reason": "unconscious in our ER"});
    problem(
        app.call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(unknown),
        )
        .await,
        404,
        "not-found",
    )
    .await;

    let grant = json_of(
        app.call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(ask("unconscious in our ER, needs allergies")),
        )
        .await,
    )
    .await;
    let read = json_of(
        app.call(&physician.token, Method::GET, &target_path, None)
            .await,
    )
    .await;
    assert_eq!(read["allergies"], json!(["penicillin", "latex"]));
    let other_path = format!("/facilities/{away}/patients/{}", id(&bystander));
    problem(
        app.call(&physician.token, Method::GET, &other_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            &physician.token,
            Method::GET,
            &format!("/facilities/{away}/patients"),
            None,
        )
        .await,
        404,
        "not-found",
    )
    .await;

    let events = json_of(
        app.call(
            &reviewer.token,
            Method::GET,
            &format!("/facilities/{away}/audit-events?patient_id={}", id(&target)),
            None,
        )
        .await,
    )
    .await;
    let flagged: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["compliance_flags"]
                .as_array()
                .unwrap()
                .contains(&json!("emergency_access"))
        })
        .collect();
    let actions: Vec<&str> = flagged
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["patient_access", "emergency_access"]);

    let review_list = json_of(
        app.call(
            &reviewer.token,
            Method::GET,
            &format!("/facilities/{away}/emergency-access?unreviewed=true"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        review_list["items"][0]["reason"],
        "unconscious in our ER, needs allergies"
    );
    let reviewed = json_of(
        app.call(
            &reviewer.token,
            Method::POST,
            &format!(
                "/facilities/{away}/emergency-access/{}/review",
                grant["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
    )
    .await;
    assert!(reviewed["reviewed_at"].is_string());

    // An expired grant opens nothing.
    let backend_kind = app.state.db.conn().get_database_backend();
    app.state
        .db
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            "UPDATE emergency_access SET expires_at = $1",
            [1i64.into()],
        ))
        .await
        .unwrap();
    problem(
        app.call(&physician.token, Method::GET, &target_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    app.stop().await;
}

async fn a_portal_account_sees_only_its_own_record(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Portal").await;
    let (account, email) = app.account(&[]).await;
    let mut mine = new_patient();
    mine["portal_account_id"] = json!(account);
    let mine = app.patient(facility, mine).await;
    let theirs = app.patient(facility, new_patient()).await;
    let tokens = app.sign_in(&email).await;
    let token = tokens["access_token"].as_str().unwrap();
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

async fn master_key_rotation_keeps_every_patient_readable(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Rotated").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(
            json_of(
                app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
                    .await,
            )
            .await,
        );
    }
    let config = app.state.config.clone();
    let old = carebase::crypto::MasterKey::read(&config.master_key_path())
        .unwrap()
        .unwrap();
    let new_path = app._db.dir.path().join("rotated.key");
    let next = carebase::crypto::MasterKey::create(&new_path).unwrap();
    carebase::crypto::data_keys::rotate(&app.state.db, &old, &next)
        .await
        .unwrap();

    // The running server keeps serving without a restart.
    for patient in &created {
        let read = json_of(
            app.call(
                &nurse.token,
                Method::GET,
                &format!("{base}/{}", id(patient)),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(&read, patient);
    }
    // A server started on the new key reads everything back.
    let mut rotated = config.clone();
    rotated.master_key_file = Some(new_path);
    let restarted = carebase::AppState::open(rotated).await.unwrap();
    let key = restarted.keyring.facility(facility).await.unwrap();
    for patient in &created {
        let row = carebase::care::patients::Entity::find_by_id(id(patient))
            .one(restarted.db.conn())
            .await
            .unwrap()
            .unwrap();
        let opened = carebase::care::patients::Patient::open(&key, &row).unwrap();
        assert_eq!(serde_json::to_value(opened).unwrap(), *patient);
    }
    restarted.db.close().await;
    app.stop().await;
}

async fn a_change_or_read_that_cannot_be_audited_does_not_happen(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Unauditable").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let base = format!("/facilities/{facility}/patients");
    let existing = json_of(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
    )
    .await;
    let before = count_patients(&app).await;
    // Behind the server's back, take away the chain head every append needs.
    let conn = app.state.db.conn();
    let kind = conn.get_database_backend();
    let head = conn
        .query_one_raw(Statement::from_string(
            kind,
            "SELECT last_seq, last_hash FROM audit_chain WHERE id = 1",
        ))
        .await
        .unwrap()
        .unwrap();
    let (seq, hash): (i64, Vec<u8>) = (
        head.try_get("", "last_seq").unwrap(),
        head.try_get("", "last_hash").unwrap(),
    );
    conn.execute_unprepared("DELETE FROM audit_chain")
        .await
        .unwrap();

    problem(
        app.call(&nurse.token, Method::POST, &base, Some(new_patient()))
            .await,
        500,
        "internal",
    )
    .await;
    assert_eq!(
        count_patients(&app).await,
        before,
        "the unaudited create was rolled back"
    );
    let read = app
        .call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&existing)),
            None,
        )
        .await;
    let body = problem(read, 500, "internal").await;
    assert!(
        !body.to_string().contains("Quuxworth"),
        "the unaudited read was not served"
    );

    conn.execute_raw(Statement::from_sql_and_values(
        kind,
        "INSERT INTO audit_chain (id, last_seq, last_hash) VALUES (1, $1, $2)",
        [seq.into(), hash.into()],
    ))
    .await
    .unwrap();
    assert_eq!(
        app.call(
            &nurse.token,
            Method::GET,
            &format!("{base}/{}", id(&existing)),
            None
        )
        .await
        .status(),
        200
    );
    app.stop().await;
}

async fn the_audit_log_exports_as_ndjson_and_csv_and_records_the_export(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Exporting").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let patient = app.patient(facility, new_patient()).await;
    app.call(
        &admin.token,
        Method::GET,
        &format!("/facilities/{facility}/patients/{}", id(&patient)),
        None,
    )
    .await;
    let export = format!(
        "/facilities/{facility}/audit-events/export?patient_id={}",
        id(&patient)
    );

    let ndjson = app.call(&admin.token, Method::GET, &export, None).await;
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["patient_access", "create"]);
    assert!(!text.contains("Quuxworth"));

    let csv = app
        .call(
            &admin.token,
            Method::GET,
            &format!("{export}&format=csv"),
            None,
        )
        .await;
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.lines().next().unwrap().contains("action"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "a header and two events: {csv}");

    let exports = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/audit-events?action=export"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        exports["items"].as_array().unwrap().len(),
        2,
        "each export is itself recorded"
    );
    assert_eq!(
        exports["items"][0]["actor_id"],
        admin.account_id.to_string()
    );
    assert!(
        exports["items"][0]["compliance_flags"]
            .as_array()
            .unwrap()
            .contains(&json!("export"))
    );
    let bad = app
        .call(
            &admin.token,
            Method::GET,
            &format!("{export}&format=xml"),
            None,
        )
        .await;
    problem(bad, 400, "malformed-request").await;
    app.stop().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("list patients", Method::GET, P::PATIENT_READ, |r, _| format!("/facilities/{f}/patients", f = r.facility)),
        Case::new("read patient", Method::GET, P::PATIENT_READ, |r, _| {
                format!(
                    "/facilities/{f}/patients/{p}",
                    f = r.facility,
                    p = r.patient
                )
            }),
        Case::new("find patient by MRN", Method::POST, P::PATIENT_READ, |r, _| format!("/facilities/{f}/patients/search", f = r.facility))
            .body(|_, r| Some(json!({"mrn": r.patient_mrn}))),
        Case::new("register patient", Method::POST, P::PATIENT_CREATE, |r, _| format!("/facilities/{f}/patients", f = r.facility))
            .body(|_, _| Some(new_patient())),
        Case::new("update patient", Method::PATCH, P::PATIENT_UPDATE, |r, _| {
                format!(
                    "/facilities/{f}/patients/{p}",
                    f = r.facility,
                    p = r.patient
                )
            })
            .body(|_, _| Some(json!({"gender": "male"}))),
        Case::new("deactivate patient", Method::POST, P::PATIENT_DEACTIVATE, |r, _| {
                format!(
                    "/facilities/{f}/patients/{p}/deactivate",
                    f = r.facility,
                    p = r.patient
                )
            }),
        Case::new("read patient timeline", Method::GET, P::PATIENT_READ, |r, _| format!("/facilities/{}/patients/{}/timeline", r.facility, r.patient)),
    ]
}
