//! CRM leads (seeds 000 and 001): the lifecycle and pipeline, duplicates,
//! who may change which lead, clinical review, list filters, and encryption.

use carebase::access::Permission;
use carebase::access::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, assert_no_plaintext, id, json_of, new_lead, problem};
use crate::support::matrix::Case;

on_both_backends!(
    a_lead_moves_through_its_lifecycle_and_pipeline_and_keeps_its_history,
    refused_moves_name_the_allowed_ones,
    duplicates_are_found_by_email_or_phone_however_written,
    staff_change_only_the_leads_assigned_to_them,
    only_reviewers_decide_a_clinical_review,
    lists_filter_like_the_seed_views_and_page_with_a_cursor,
    bad_input_names_each_field_and_writes_nothing,
    lead_contact_details_are_sealed_and_reads_are_audited,
    facilities_define_pipelines_and_get_the_seed_defaults,
);

async fn move_status(app: &TestApp, token: &str, lead: &Value, status: &str) -> reqwest::Response {
    app.call(
        token,
        Method::POST,
        &format!(
            "/facilities/{}/leads/{}/status",
            lead["facility_id"].as_str().unwrap(),
            id(lead)
        ),
        Some(json!({ "status": status })),
    )
    .await
}

async fn a_lead_moves_through_its_lifecycle_and_pipeline_and_keeps_its_history(
    backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let lead = app.create_lead(&sdr.token, facility, new_lead()).await;
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["stage"], "HHQ Started");
    assert_eq!(
        lead["owner_id"],
        json!(sdr.account_id),
        "the creator owns it"
    );
    assert_eq!(lead["interests"][0]["procedure"], "Rhinoplasty");
    let factors: Vec<&str> = lead["score_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["factor"].as_str().unwrap())
        .collect();
    assert_eq!(
        factors,
        ["readiness", "source", "interests", "engagement", "recency"]
    );
    // Warm 20 + Newsletter 5 + one high-priority interest 10 + today 5.
    assert_eq!(lead["score"], 40);

    for status in ["contacted", "qualified", "booked", "completed"] {
        let moved = json_of(move_status(&app, &sdr.token, &lead, status).await).await;
        assert_eq!(moved["status"], status);
    }

    let base = format!("/facilities/{facility}/leads/{}", id(&lead));
    let pipelines = json_of(
        app.call(
            &sdr.token,
            Method::GET,
            &format!("/facilities/{facility}/pipelines?kind=lead"),
            None,
        )
        .await,
    )
    .await;
    let signed = pipelines["items"][0]["stages"][1].clone();
    assert_eq!(signed["name"], "HHQ Signed");
    let moved = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &format!("{base}/stage"),
            Some(json!({ "stage_id": signed["id"] })),
        )
        .await,
    )
    .await;
    assert_eq!(moved["stage"], "HHQ Signed");

    let called = json_of(
        app.call(
            &sdr.token,
            Method::POST,
            &format!("{base}/calls"),
            Some(json!({ "outcome": "Left voicemail" })),
        )
        .await,
    )
    .await;
    assert_eq!(called["number_of_calls"], 1);
    assert_eq!(called["outcome"], "Left voicemail");
    assert_eq!(called["score"], 43, "a call adds 3 points of engagement");
    assert!(called["first_contacted_at"].is_string());

    let history = json_of(
        app.call(&sdr.token, Method::GET, &format!("{base}/history"), None)
            .await,
    )
    .await;
    let moves: Vec<(Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from_status"].clone(), m["to_status"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (Value::Null, Value::Null),
            (json!("booked"), json!("completed")),
            (json!("qualified"), json!("booked")),
            (json!("contacted"), json!("qualified")),
            (json!("new"), json!("contacted")),
            (Value::Null, json!("new")),
        ],
        "newest first: the stage move, the four status moves, the creation"
    );
    assert_eq!(history["items"][0]["to_stage_id"], signed["id"]);
    assert_eq!(history["items"][0]["actor_id"], json!(sdr.account_id));
    app.stop().await;
}

async fn refused_moves_name_the_allowed_ones(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let refused = problem(
        move_status(&app, &admin.token, &lead, "booked").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        refused["allowed"],
        json!(["contacted", "archived", "disqualified"])
    );
    assert!(refused["detail"].as_str().unwrap().contains("`new`"));

    json_of(move_status(&app, &admin.token, &lead, "archived").await).await;
    let final_state = problem(
        move_status(&app, &admin.token, &lead, "contacted").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(final_state["allowed"], json!([]));

    let unknown = move_status(&app, &admin.token, &lead, "won").await;
    assert_eq!(unknown.status(), 422, "an unknown status is bad input");
    app.stop().await;
}

async fn duplicates_are_found_by_email_or_phone_however_written(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let other = app.facility("Elsewhere").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let mut first = new_lead();
    first["email"] = json!("Same.Person@Example.org");
    first["phone"] = json!("+1 (555) 010-7777");
    let lead = app.create_lead(&staff.token, facility, first).await;

    let mut by_email = new_lead();
    by_email["email"] = json!("same.person@example.org ");
    let path = format!("/facilities/{facility}/leads");
    let refused = problem(
        app.call(&staff.token, Method::POST, &path, Some(by_email))
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains(&id(&lead).to_string())
    );
    assert!(refused["detail"].as_str().unwrap().contains("email"));

    let mut by_phone = new_lead();
    by_phone["phone"] = json!("+15550107777");
    let refused = problem(
        app.call(&staff.token, Method::POST, &path, Some(by_phone))
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("phone"));

    // Another facility's leads are not duplicates of this one's.
    let other_admin = app.person(&[(Some(other), Role::Admin)]).await;
    let mut same = new_lead();
    same["email"] = json!("same.person@example.org");
    app.create_lead(&other_admin.token, other, same).await;

    // Changing a lead to another lead's email is refused too.
    let second = app.create_lead(&staff.token, facility, new_lead()).await;
    let refused = app
        .call(
            &staff.token,
            Method::PATCH,
            &format!("{path}/{}", id(&second)),
            Some(json!({ "email": "SAME.person@example.org" })),
        )
        .await;
    assert_eq!(refused.status(), 409);
    app.stop().await;
}

async fn staff_change_only_the_leads_assigned_to_them(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let alice = app.person(&[(Some(facility), Role::Staff)]).await;
    let bob = app.person(&[(Some(facility), Role::Staff)]).await;
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let readonly = app.person(&[(Some(facility), Role::Readonly)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let mut body = new_lead();
    body["health_coach_id"] = json!(coach.account_id);
    let lead = app.create_lead(&alice.token, facility, body).await;
    let path = format!("/facilities/{facility}/leads/{}", id(&lead));
    let change = || Some(json!({ "readiness": "Hot" }));

    // Everyone with lead:read sees it.
    for person in [&alice, &bob, &coach, &readonly] {
        let read = app.call(&person.token, Method::GET, &path, None).await;
        assert_eq!(read.status(), 200);
    }
    // Bob is staff too, but the lead is not his.
    let refused = problem(
        app.call(&bob.token, Method::PATCH, &path, change()).await,
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
    let refused = move_status(&app, &bob.token, &lead, "contacted").await;
    assert_eq!(refused.status(), 403);
    // Readonly changes nothing, not even what it could see.
    assert_eq!(
        app.call(&readonly.token, Method::PATCH, &path, change())
            .await
            .status(),
        403
    );
    // The owner, the booked coach and the admin may.
    for person in [&alice, &coach, &admin] {
        let changed = app
            .call(&person.token, Method::PATCH, &path, change())
            .await;
        assert_eq!(changed.status(), 200);
    }
    // Handing the lead to Bob makes it his and no longer Alice's.
    json_of(
        app.call(
            &alice.token,
            Method::PATCH,
            &path,
            Some(json!({ "owner_id": bob.account_id, "health_coach_id": null })),
        )
        .await,
    )
    .await;
    assert_eq!(
        app.call(&bob.token, Method::PATCH, &path, change())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call(&alice.token, Method::PATCH, &path, change())
            .await
            .status(),
        403
    );
    // An owner must hold a role in the facility.
    let outsider = app.account(&[]).await.0;
    let refused = problem(
        app.call(
            &admin.token,
            Method::PATCH,
            &path,
            Some(json!({ "owner_id": outsider })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "owner_id");
    app.stop().await;
}

async fn only_reviewers_decide_a_clinical_review(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let reviewer = app
        .person(&[(Some(facility), Role::ClinicalReviewer)])
        .await;
    let lead = app.create_lead(&staff.token, facility, new_lead()).await;
    assert_eq!(lead["review"]["status"], "not_required");
    let review = format!("/facilities/{facility}/leads/{}/review", id(&lead));
    let not_pending = app
        .call(
            &reviewer.token,
            Method::POST,
            &review,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(not_pending.status(), 409);

    json_of(move_status(&app, &staff.token, &lead, "contacted").await).await;
    let qualified = json_of(move_status(&app, &staff.token, &lead, "qualified").await).await;
    assert_eq!(qualified["review"]["status"], "pending");
    let pending = json_of(
        app.call(
            &reviewer.token,
            Method::GET,
            &format!("/facilities/{facility}/leads?review=pending"),
            None,
        )
        .await,
    )
    .await;
    let ids: Vec<Uuid> = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(ids, [id(&lead)]);

    let staff_decides = app
        .call(
            &staff.token,
            Method::POST,
            &review,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(staff_decides.status(), 403, "staff have no lead:review");
    let no_reason = problem(
        app.call(
            &reviewer.token,
            Method::POST,
            &review,
            Some(json!({ "decision": "decline" })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(no_reason["errors"][0]["field"], "reason");
    let declined = json_of(
        app.call(
            &reviewer.token,
            Method::POST,
            &review,
            Some(json!({ "decision": "decline", "reason": "Contraindicated: anticoagulants" })),
        )
        .await,
    )
    .await;
    assert_eq!(declined["review"]["status"], "declined");
    assert_eq!(
        declined["review"]["reason"],
        "Contraindicated: anticoagulants"
    );
    assert_eq!(
        declined["review"]["reviewed_by"],
        json!(reviewer.account_id)
    );
    let again = app
        .call(
            &reviewer.token,
            Method::POST,
            &review,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(again.status(), 409, "a review is decided once");
    app.stop().await;
}

async fn lists_filter_like_the_seed_views_and_page_with_a_cursor(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let mut made = Vec::new();
    for source in [
        "Newsletter",
        "Referral",
        "Referral",
        "Lab Purchase",
        "web chat",
    ] {
        let mut body = new_lead();
        body["source"] = json!(source);
        made.push(app.create_lead(&admin.token, facility, body).await);
    }
    json_of(move_status(&app, &admin.token, &made[0], "disqualified").await).await;
    let list = |query: &str| {
        let path = format!("/facilities/{facility}/leads{query}");
        let token = admin.token.clone();
        let app = &app;
        async move { json_of(app.call(&token, Method::GET, &path, None).await).await }
    };
    let ids =
        |page: &Value| -> Vec<Uuid> { page["items"].as_array().unwrap().iter().map(id).collect() };
    let active = list("?view=active").await;
    assert_eq!(ids(&active), made[1..].iter().map(id).collect::<Vec<_>>());
    assert_eq!(
        ids(&list("?source=Referral").await),
        [id(&made[1]), id(&made[2])]
    );
    assert_eq!(ids(&list("?status=disqualified").await), [id(&made[0])]);
    assert_eq!(
        ids(&list(&format!("?owner_id={}&min_score=1000", admin.account_id)).await),
        Vec::<Uuid>::new()
    );

    let first = list("?limit=2").await;
    assert_eq!(ids(&first), [id(&made[0]), id(&made[1])]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = list(&format!("?limit=2&after={cursor}")).await;
    assert_eq!(ids(&second), [id(&made[2]), id(&made[3])]);
    let last = list(&format!("?limit=2&after={}", id(&made[3]))).await;
    assert_eq!(ids(&last), [id(&made[4])]);
    assert!(last["next_cursor"].is_null());

    let bad = problem(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/leads?view=everything"),
            None,
        )
        .await,
        400,
        "malformed-request",
    )
    .await;
    assert!(bad["detail"].as_str().unwrap().contains("view"));
    app.stop().await;
}

async fn bad_input_names_each_field_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let path = format!("/facilities/{facility}/leads");
    let refused = problem(
        app.call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({
                "first_name": "",
                "last_name": "Wrenfield",
                "email": "not-an-email",
                "phone": "12",
                "interests": [{"procedure": " "}],
            })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["first_name", "email", "phone", "interests[0].procedure"]
    );
    let unknown_stage = problem(
        app.call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({
                "first_name": "Octavia", "last_name": "Wrenfield",
                "email": "o@example.org", "stage_id": Uuid::now_v7(),
            })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(unknown_stage["errors"][0]["field"], "stage_id");
    let page = json_of(app.call(&admin.token, Method::GET, &path, None).await).await;
    assert_eq!(page["items"], json!([]), "nothing was written");
    app.stop().await;
}

async fn lead_contact_details_are_sealed_and_reads_are_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Sealed Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let body = json!({
        "first_name": "Quillon",
        "last_name": "Marchbanks",
        "email": "quillon.marchbanks@example.org",
        "phone": "+1 555 013 9876",
        "notes": "Worried about keloid scarring",
        "interests": [{"procedure": "Blepharoplasty", "notes": "left eyelid"}],
    });
    let lead = app.create_lead(&admin.token, facility, body).await;
    let path = format!("/facilities/{facility}/leads/{}", id(&lead));
    json_of(app.call(&admin.token, Method::GET, &path, None).await).await;

    let bytes = app.raw_database_bytes(backend).await;
    assert!(bytes.windows(13).any(|w| w == b"Sealed Clinic"));
    assert_no_plaintext(
        &bytes,
        &[
            "Quillon",
            "Marchbanks",
            "quillon.marchbanks",
            "013 9876",
            "keloid",
            "Blepharoplasty",
            "left eyelid",
        ],
    );

    let sysadmin = app.system_admin().await;
    let events = json_of(
        app.call(
            &sysadmin.token,
            Method::GET,
            &format!("/admin/audit-events?lead_id={}", id(&lead)),
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
    assert_eq!(actions, ["read", "create"]);
    let text = events.to_string();
    assert!(
        !text.contains("Quillon") && !text.contains("Blepharoplasty"),
        "{text}"
    );
    assert!(
        events["items"][0]["compliance_flags"]
            .as_array()
            .unwrap()
            .contains(&json!("phi"))
    );
    app.stop().await;
}

async fn facilities_define_pipelines_and_get_the_seed_defaults(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let path = format!("/facilities/{facility}/pipelines");
    let all = json_of(app.call(&admin.token, Method::GET, &path, None).await).await;
    let summary: Vec<(String, bool, usize)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["is_default"].as_bool().unwrap(),
                p["stages"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("care".to_owned(), true, 15), ("lead".to_owned(), true, 5)]
    );
    let care = &all["items"][0]["stages"];
    assert_eq!(care[0]["name"], "Intake");
    assert_eq!(care[14]["name"], "Restart Annual Process");

    let web = json_of(
        app.call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({
                "kind": "lead", "name": "Web chat", "is_default": true,
                "stages": ["Chatting", "Qualified by AI", "Consult booked"],
            })),
        )
        .await,
    )
    .await;
    assert_eq!(web["stages"][2]["position"], 3);
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    assert_eq!(
        lead["pipeline_id"], web["id"],
        "the new default takes new leads"
    );
    assert_eq!(lead["stage"], "Chatting");

    let repeated = problem(
        app.call(
            &admin.token,
            Method::POST,
            &path,
            Some(json!({ "kind": "care", "name": "Short", "stages": ["A", "a"] })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(repeated["errors"][0]["field"], "stages[1]");
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let denied = app
        .call(
            &staff.token,
            Method::POST,
            &path,
            Some(json!({ "kind": "lead", "name": "Mine", "stages": ["One"] })),
        )
        .await;
    assert_eq!(denied.status(), 403);
    app.stop().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("list leads", Method::GET, P::LEAD_READ, |r, _| format!("/facilities/{}/leads", r.facility)),
        Case::new("read lead", Method::GET, P::LEAD_READ, |r, _| format!("/facilities/{}/leads/{}", r.facility, r.lead)),
        Case::new("read lead history", Method::GET, P::LEAD_READ, |r, _| format!("/facilities/{}/leads/{}/history", r.facility, r.lead)),
        Case::new("record lead", Method::POST, P::LEAD_CREATE, |r, _| format!("/facilities/{}/leads", r.facility))
            .body(|_, _| Some(new_lead())),
        Case::new("change someone else's lead", Method::PATCH, P::LEAD_UPDATE, |r, _| format!("/facilities/{}/leads/{}", r.facility, r.lead))
            .body(|_, _| Some(json!({"readiness": "Hot"}))),
        Case::new("log a call to someone else's lead", Method::POST, P::LEAD_UPDATE, |r, _| format!("/facilities/{}/leads/{}/calls", r.facility, r.lead))
            .body(|_, _| Some(json!({}))),
        Case::new("review lead", Method::POST, P::LEAD_REVIEW, |r, _| format!("/facilities/{}/leads/{}/review", r.facility, r.lead))
            .body(|_, _| Some(json!({"decision": "approve"}))),
        Case::new("read lead timeline", Method::GET, P::LEAD_READ, |r, _| format!("/facilities/{}/leads/{}/timeline", r.facility, r.lead)),
        Case::new("convert someone else's lead", Method::POST, P::LEAD_CONVERT, |r, _| format!("/facilities/{}/leads/{}/convert", r.facility, r.lead))
            .body(|_, _| {
                Some(json!({
                    "mrn": format!("CV-{}", &Uuid::new_v4().simple().to_string()[..8]),
                    "date_of_birth": "1970-01-01",
                }))
            }),
        Case::new("invite someone else's lead to the portal", Method::POST, P::LEAD_CONVERT, |r, _| {
                format!(
                    "/facilities/{}/leads/{}/portal-invitation",
                    r.facility, r.lead
                )
            }),
        Case::new("list pipelines", Method::GET, P::FACILITY_READ, |r, _| format!("/facilities/{}/pipelines", r.facility)),
        Case::new("define pipeline", Method::POST, P::PIPELINE_MANAGE, |r, _| format!("/facilities/{}/pipelines", r.facility))
            .body(|_, _| {
                Some(json!({"kind": "lead", "name": Uuid::new_v4().to_string(), "stages": ["One"]}))
            }),
    ]
}
