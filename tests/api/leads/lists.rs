//! Lists of leads filtered like the seed views and paged by cursor, bad
//! input refused whole, and the facility's pipelines.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, json_of, new_lead, problem};

on_both_backends!(
    lists_filter_like_the_seed_views_and_page_with_a_cursor,
    bad_input_names_each_field_and_writes_nothing,
    a_nul_in_any_text_is_a_422_naming_the_field_and_writes_nothing,
    facilities_define_pipelines_and_get_the_seed_defaults,
);

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
    json_of(app.move_lead(&admin.token, &made[0], "disqualified").await).await;
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
        422,
        "validation",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "view", "{bad}");
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

/// PostgreSQL cannot store NUL (U+0000) in text; both backends refuse it
/// alike, naming the field or parameter, instead of a 500 on one of them.
async fn a_nul_in_any_text_is_a_422_naming_the_field_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let path = format!("/facilities/{facility}/leads");
    for (body, field) in [
        (json!({"first_name": "Oct\u{0}avia"}), "first_name"),
        (
            json!({"interests": [{"procedure": "Lasik", "notes": "\u{0}"}]}),
            "interests[0].notes",
        ),
    ] {
        let mut lead = new_lead();
        for (key, value) in body.as_object().unwrap() {
            lead[key] = value.clone();
        }
        let refused = problem(
            app.call(&admin.token, Method::POST, &path, Some(lead))
                .await,
            422,
            "validation",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{refused}");
    }
    let refused = problem(
        app.call(
            &admin.token,
            Method::GET,
            &format!("{path}?source=Web%00"),
            None,
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "source");
    let listed = app.get_json(&admin.token, &path).await;
    assert_eq!(listed["items"], json!([]), "nothing was written");
    app.stop().await;
}
