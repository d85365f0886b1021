//! Leads found by email or phone through their blind indexes (the value in
//! the body, every lead found recorded as read), and the list filtered by
//! owner, source, status, stage, readiness and creation time, paged.

use carebase::audit::{AuditAction, AuditFilter};
use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, ids, json_of, new_lead, problem};

on_both_backends!(
    leads_are_found_by_email_or_phone_however_written,
    the_list_filters_by_each_field_a_team_works_by,
);

async fn leads_are_found_by_email_or_phone_however_written(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let mut body = new_lead();
    body["email"] = json!("Octavia.Wrenfield@Example.org");
    body["phone"] = json!("+1 (555) 010-7788");
    let lead = app.create_lead(&sdr.token, facility, body).await;
    app.create_lead(&sdr.token, facility, new_lead()).await;
    let other = app.facility("Elsewhere").await;
    let elsewhere = app.person(&[(Some(other), Role::Admin)]).await;
    let path = format!("/facilities/{facility}/leads/search");

    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    for (token, lookup) in [
        (
            &sdr.token,
            json!({"email": "  octavia.wrenfield@EXAMPLE.org"}),
        ),
        (&coach.token, json!({"phone": "+15550107788"})),
    ] {
        let found = json_of(app.call(token, Method::POST, &path, Some(lookup)).await).await;
        assert_eq!(ids(&found), [id(&lead)]);
        assert_eq!(found["items"][0]["email"], "Octavia.Wrenfield@Example.org");
    }
    let reads = app
        .stored_events(AuditFilter {
            lead_id: Some(id(&lead)),
            action: Some(AuditAction::Read),
            ..AuditFilter::default()
        })
        .await;
    let readers: Vec<Option<Uuid>> = reads.iter().map(|e| e.actor_id).collect();
    assert_eq!(
        readers,
        [Some(coach.account_id), Some(sdr.account_id)],
        "each find is a read"
    );

    let nobody = json!({"email": "nobody@example.org"});
    let none = json_of(
        app.call(&sdr.token, Method::POST, &path, Some(nobody))
            .await,
    )
    .await;
    assert_eq!(none["items"], json!([]));
    // Another facility's lead is not found from there, nor this one by them.
    let there = format!("/facilities/{other}/leads/search");
    let lookup = json!({"phone": "+1 555 010 7788"});
    let found = json_of(
        app.call(&elsewhere.token, Method::POST, &there, Some(lookup.clone()))
            .await,
    )
    .await;
    assert_eq!(found["items"], json!([]));
    let response = app
        .call(&elsewhere.token, Method::POST, &path, Some(lookup))
        .await;
    assert_eq!(response.status(), 404);

    for bad in [
        json!({}),
        json!({"email": "a@example.org", "phone": "+15550100000"}),
        json!({"email": " "}),
    ] {
        let refused = problem(
            app.call(&sdr.token, Method::POST, &path, Some(bad)).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "email", "{refused}");
    }
    let unknown = json!({"mrn": "X"});
    let refused = app
        .call(&sdr.token, Method::POST, &path, Some(unknown))
        .await;
    assert_eq!(refused.status(), 422);
}

/// Four leads: `a` and `b` before the returned instant, `c` and `d` after;
/// `c` contacted, `d` at the returned stage, `b` owned by the administrator.
async fn four_leads(
    app: &TestApp,
    facility: Uuid,
    admin: &Person,
    sdr: &Person,
) -> ([Value; 4], Timestamp, String) {
    let made_from = |source: &str, readiness: &str, owner: Uuid| {
        let mut body = new_lead();
        body["source"] = json!(source);
        body["readiness"] = json!(readiness);
        body["owner_id"] = json!(owner);
        body
    };
    let a = app
        .create_lead(
            &admin.token,
            facility,
            made_from("Newsletter", "Hot", sdr.account_id),
        )
        .await;
    let b = app
        .create_lead(
            &admin.token,
            facility,
            made_from("Lab Purchase", "Hot", admin.account_id),
        )
        .await;
    let between = Timestamp::now();
    let c = app
        .create_lead(
            &admin.token,
            facility,
            made_from("newsletter ", "Cold", sdr.account_id),
        )
        .await;
    let d = app
        .create_lead(
            &admin.token,
            facility,
            made_from("Dr Quill", "Warm", sdr.account_id),
        )
        .await;
    json_of(app.move_lead(&admin.token, &c, "contacted").await).await;
    let stages = app
        .get_json(
            &admin.token,
            &format!("/facilities/{facility}/pipelines?kind=lead"),
        )
        .await;
    let signed = &stages["items"][0]["stages"][1]["id"];
    let stage_path = format!("/facilities/{facility}/leads/{}/stage", id(&d));
    json_of(
        app.call(
            &admin.token,
            Method::POST,
            &stage_path,
            Some(json!({"stage_id": signed})),
        )
        .await,
    )
    .await;
    let signed = signed.as_str().unwrap().to_owned();
    ([a, b, c, d], between, signed)
}

async fn the_list_filters_by_each_field_a_team_works_by(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let ([a, b, c, d], between, signed) = four_leads(&app, facility, &admin, &sdr).await;

    let list = |query: String| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            ids(&app
                .get_json(&token, &format!("/facilities/{facility}/leads?{query}"))
                .await)
        }
    };
    let at = |t: Timestamp| t.to_string().replace('+', "%2B");
    let cases: Vec<(String, Vec<&Value>)> = vec![
        (format!("owner_id={}", sdr.account_id), vec![&a, &c, &d]),
        (format!("owner_id={}", admin.account_id), vec![&b]),
        ("source=%20NEWSLETTER".to_owned(), vec![&a, &c]),
        ("source=dr%20%20quill".to_owned(), vec![&d]),
        ("status=contacted".to_owned(), vec![&c]),
        (format!("stage_id={signed}"), vec![&d]),
        ("readiness=Hot".to_owned(), vec![&a, &b]),
        (format!("created_from={}", at(between)), vec![&c, &d]),
        (format!("created_to={}", at(between)), vec![&a, &b]),
        (
            format!("readiness=Hot&created_from={}", at(between)),
            vec![],
        ),
        (
            format!("owner_id={}&source=Newsletter&status=new", sdr.account_id),
            vec![&a],
        ),
    ];
    for (query, expected) in cases {
        let expected: Vec<Uuid> = expected.into_iter().map(id).collect();
        assert_eq!(list(query.clone()).await, expected, "{query}");
    }

    // Filtered lists page like any other.
    let query = format!("owner_id={}&limit=2", sdr.account_id);
    let first = app
        .get_json(
            &admin.token,
            &format!("/facilities/{facility}/leads?{query}"),
        )
        .await;
    assert_eq!(ids(&first), [id(&a), id(&c)]);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(list(format!("{query}&after={cursor}")).await, [id(&d)]);

    let bad = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/leads?readiness=Tepid"),
            None,
        )
        .await;
    let refused = problem(bad, 422, "validation").await;
    assert_eq!(refused["errors"][0]["field"], "readiness", "{refused}");
}
