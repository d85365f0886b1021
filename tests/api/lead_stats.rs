//! Pipeline and speed-to-lead statistics (seed 000's
//! `get_lead_pipeline_stats` and `get_speed_to_lead_stats`) and the
//! facility-wide rescore, on leads made through the API.
//!
//! The API stamps a lead with the time it is created and its first contact
//! with the time of the first call. To have leads from outside the range,
//! exact first-contact delays, a lead whose recency has faded, or a lead
//! converted into a patient (no conversion endpoint exists yet), the tests
//! write those few columns directly with `app.state.db` (see [`set`]).

use carebase::access::Permission;
use carebase::crm::leads;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, json_of, new_lead, new_patient, problem};
use crate::support::matrix::Case;
use carebase::access::Role;

on_both_backends!(
    pipeline_stats_count_statuses_stages_and_sources,
    speed_to_lead_gives_exact_medians_and_p90s,
    bad_ranges_are_refused_naming_the_parameter,
    stats_are_for_lead_readers_of_the_facility_only,
    rescore_refreshes_faded_scores_in_audited_batches,
);

const SECOND: i64 = 1_000_000;
const DAY: i64 = 86_400 * SECOND;

fn ago(now: Timestamp, micros: i64) -> Timestamp {
    Timestamp::from_micros(now.as_micros() - micros)
}

/// Writes columns of a lead directly (see the module comment for why).
async fn set(app: &TestApp, lead: Uuid, columns: Vec<(leads::Column, SimpleExpr)>) {
    let mut update = leads::Entity::update_many().filter(leads::Column::Id.eq(lead));
    for (column, value) in columns {
        update = update.col_expr(column, value);
    }
    update.exec(app.state.db.conn()).await.unwrap();
}

/// A lead from `source`, recorded by `token`, optionally for `owner`.
async fn lead_from(
    app: &TestApp,
    token: &str,
    facility: Uuid,
    source: &str,
    owner: Option<Uuid>,
) -> Value {
    let mut body = new_lead();
    body["source"] = json!(source);
    if let Some(owner) = owner {
        body["owner_id"] = json!(owner);
    }
    app.create_lead(token, facility, body).await
}

async fn move_to(app: &TestApp, token: &str, facility: Uuid, lead: &Value, statuses: &[&str]) {
    for status in statuses {
        json_of(
            app.call(
                token,
                Method::POST,
                &format!("/facilities/{facility}/leads/{}/status", id(lead)),
                Some(json!({ "status": status })),
            )
            .await,
        )
        .await;
    }
}

async fn stage_to(app: &TestApp, token: &str, facility: Uuid, lead: &Value, stage: &Value) {
    json_of(
        app.call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/leads/{}/stage", id(lead)),
            Some(json!({ "stage_id": stage["id"] })),
        )
        .await,
    )
    .await;
}

/// `[now − 1 day, now + 1 day)` as a query string.
fn around(now: Timestamp) -> String {
    format!(
        "from={}&to={}",
        ago(now, DAY),
        Timestamp::from_micros(now.as_micros() + DAY)
    )
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-6)
}

async fn pipeline_stats_count_statuses_stages_and_sources(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Stats Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let t = &admin.token;
    let pipelines = json_of(
        app.call(
            t,
            Method::GET,
            &format!("/facilities/{facility}/pipelines"),
            None,
        )
        .await,
    )
    .await;
    let lead_pipeline = pipelines["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "lead")
        .unwrap()
        .clone();
    let care_pipeline = pipelines["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "care")
        .unwrap()
        .clone();
    let stages = lead_pipeline["stages"].as_array().unwrap().clone();

    // Stage 1: new and archived; stage 2: contacted; stage 4: booked; stage 5: completed.
    lead_from(&app, t, facility, "Newsletter", None).await;
    let contacted = lead_from(&app, t, facility, "Newsletter", None).await;
    move_to(&app, t, facility, &contacted, &["contacted"]).await;
    stage_to(&app, t, facility, &contacted, &stages[1]).await;
    let booked = lead_from(&app, t, facility, "Referral", None).await;
    move_to(
        &app,
        t,
        facility,
        &booked,
        &["contacted", "qualified", "booked"],
    )
    .await;
    stage_to(&app, t, facility, &booked, &stages[3]).await;
    let completed = lead_from(&app, t, facility, "Referral", None).await;
    move_to(
        &app,
        t,
        facility,
        &completed,
        &["contacted", "qualified", "booked", "completed"],
    )
    .await;
    stage_to(&app, t, facility, &completed, &stages[4]).await;
    // Archived, but it became a patient: it converted.
    let chat = lead_from(&app, t, facility, "Web Chat", None).await;
    move_to(&app, t, facility, &chat, &["archived"]).await;
    let patient = app.patient(facility, new_patient()).await;
    set(
        &app,
        id(&chat),
        vec![(leads::Column::PatientId, Expr::value(id(&patient)))],
    )
    .await;
    // Created 40 days ago: outside the range.
    let now = Timestamp::now();
    let old = lead_from(&app, t, facility, "Referral", None).await;
    set(
        &app,
        id(&old),
        vec![(leads::Column::CreatedAt, Expr::value(ago(now, 40 * DAY)))],
    )
    .await;
    // In another lead pipeline: counted in the totals, not in these stages.
    let web = json_of(
        app.call(
            t,
            Method::POST,
            &format!("/facilities/{facility}/pipelines"),
            Some(json!({"kind": "lead", "name": "Web", "stages": ["Chatting", "Booked"]})),
        )
        .await,
    )
    .await;
    let mut body = new_lead();
    body["source"] = json!("Web Chat");
    body["pipeline_id"] = web["id"].clone();
    body["stage_id"] = web["stages"][1]["id"].clone();
    app.create_lead(t, facility, body).await;

    let base = format!(
        "/facilities/{facility}/leads/stats/pipeline?{}",
        around(now)
    );
    let stats = json_of(app.call(t, Method::GET, &base, None).await).await;
    assert_eq!(stats["total"], 6, "{stats}");
    assert_eq!(stats["in_pipeline"], 5);
    assert_eq!(stats["pipeline_id"], lead_pipeline["id"]);
    let statuses: Vec<(String, u64)> = stats["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = [
        ("new", 2),
        ("contacted", 1),
        ("qualified", 0),
        ("booked", 1),
        ("completed", 1),
        ("no_show", 0),
        ("archived", 1),
        ("disqualified", 0),
    ]
    .iter()
    .map(|(s, n)| ((*s).to_owned(), *n))
    .collect();
    assert_eq!(statuses, expected);
    let stage_rows = stats["stages"].as_array().unwrap();
    let counts: Vec<(u64, u64)> = stage_rows
        .iter()
        .map(|s| {
            (
                s["current"].as_u64().unwrap(),
                s["reached"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [(2, 5), (1, 3), (0, 2), (1, 2), (1, 1)]);
    for (row, rate) in stage_rows.iter().zip([0.6, 2.0 / 3.0, 1.0, 0.5]) {
        assert!(close(&row["conversion_to_next"], rate), "{row}");
    }
    assert!(stage_rows[4]["conversion_to_next"].is_null());
    assert_eq!(stage_rows[0]["name"], "HHQ Started");
    let sources: Vec<(String, u64, u64)> = stats["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
                s["converted"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("Newsletter".to_owned(), 2, 0),
            ("Referral".to_owned(), 2, 2),
            ("Web Chat".to_owned(), 2, 1),
        ]
    );
    assert!(close(&stats["sources"][1]["conversion_rate"], 1.0));
    assert!(close(&stats["sources"][2]["conversion_rate"], 0.5));

    // The other pipeline, by id.
    let other = json_of(
        app.call(
            t,
            Method::GET,
            &format!("{base}&pipeline_id={}", web["id"].as_str().unwrap()),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(other["total"], 6);
    assert_eq!(other["in_pipeline"], 1);
    let reached: Vec<u64> = other["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reached"].as_u64().unwrap())
        .collect();
    assert_eq!(reached, [1, 1]);
    // A care pathway is not a lead pipeline.
    let refused = problem(
        app.call(
            t,
            Method::GET,
            &format!(
                "{base}&pipeline_id={}",
                care_pipeline["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "pipeline_id");
    app.stop().await;
}

async fn speed_to_lead_gives_exact_medians_and_p90s(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Speedy Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr_a = app.person(&[(Some(facility), Role::Sdr)]).await;
    let sdr_b = app.person(&[(Some(facility), Role::Sdr)]).await;
    let t = &admin.token;
    let now = Timestamp::now();
    let created = ago(now, 3_600 * SECOND);
    // (owner, source, seconds to first contact)
    let plan: [(Option<Uuid>, &str, Option<i64>); 7] = [
        (Some(sdr_a.account_id), "Newsletter", Some(60)),
        (Some(sdr_a.account_id), "Newsletter", Some(120)),
        (Some(sdr_a.account_id), "Referral", Some(300)),
        (Some(sdr_a.account_id), "Referral", None),
        (Some(sdr_b.account_id), "Newsletter", Some(30)),
        (None, "Web Chat", Some(600)),
        // Outside the range.
        (Some(sdr_b.account_id), "Newsletter", Some(5)),
    ];
    for (i, (owner, source, delay)) in plan.into_iter().enumerate() {
        let lead = lead_from(&app, t, facility, source, owner).await;
        if owner.is_none() {
            json_of(
                app.call(
                    t,
                    Method::PATCH,
                    &format!("/facilities/{facility}/leads/{}", id(&lead)),
                    Some(json!({ "owner_id": null })),
                )
                .await,
            )
            .await;
        }
        let created = if i == 6 { ago(now, 30 * DAY) } else { created };
        let contacted = delay.map(|d| Timestamp::from_micros(created.as_micros() + d * SECOND));
        set(
            &app,
            id(&lead),
            vec![
                (leads::Column::CreatedAt, Expr::value(created)),
                (leads::Column::FirstContactedAt, Expr::value(contacted)),
            ],
        )
        .await;
    }
    let stats = json_of(
        app.call(
            &sdr_b.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/leads/stats/speed-to-lead?{}",
                around(now)
            ),
            None,
        )
        .await,
    )
    .await;
    let overall = &stats["overall"];
    assert_eq!(overall["leads"], 6, "{stats}");
    assert_eq!(overall["contacted"], 5);
    assert_eq!(overall["not_contacted"], 1);
    // [30, 60, 120, 300, 600]: the middle one; rank 3.6 → 300 + 0.6 × 300.
    assert!(close(&overall["median_seconds"], 120.0), "{overall}");
    assert!(close(&overall["p90_seconds"], 480.0), "{overall}");

    let owner = |account: Option<Uuid>| -> Value {
        stats["owners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["owner_id"] == json!(account))
            .unwrap()
            .clone()
    };
    let a = owner(Some(sdr_a.account_id));
    assert_eq!(
        (a["leads"].as_u64(), a["contacted"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(close(&a["median_seconds"], 120.0), "{a}");
    // [60, 120, 300]: rank 1.8 → 120 + 0.8 × 180.
    assert!(close(&a["p90_seconds"], 264.0), "{a}");
    let b = owner(Some(sdr_b.account_id));
    assert_eq!(b["leads"], 1);
    assert!(close(&b["median_seconds"], 30.0) && close(&b["p90_seconds"], 30.0));
    assert_eq!(stats["owners"].as_array().unwrap().len(), 3);
    assert!(
        stats["owners"][2]["owner_id"].is_null(),
        "unassigned leads come last"
    );
    assert!(close(&stats["owners"][2]["median_seconds"], 600.0));

    let sources: Vec<&str> = stats["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["Newsletter", "Referral", "Web Chat"]);
    let newsletter = &stats["sources"][0];
    // [30, 60, 120]: rank 1.8 → 60 + 0.8 × 60.
    assert!(close(&newsletter["median_seconds"], 60.0));
    assert!(close(&newsletter["p90_seconds"], 108.0), "{newsletter}");
    let referral = &stats["sources"][1];
    assert_eq!(referral["not_contacted"], 1);
    assert!(close(&referral["median_seconds"], 300.0));
    app.stop().await;
}

async fn bad_ranges_are_refused_naming_the_parameter(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Range Clinic").await;
    let reader = app.person(&[(Some(facility), Role::Readonly)]).await;
    for endpoint in ["pipeline", "speed-to-lead"] {
        let path = |query: &str| format!("/facilities/{facility}/leads/stats/{endpoint}{query}");
        let fields = |body: Value| -> Vec<String> {
            body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        };
        let cases = [
            ("", vec!["from", "to"]),
            ("?to=2026-03-01T00:00:00Z", vec!["from"]),
            ("?from=last-week&to=2026-03-01T00:00:00Z", vec!["from"]),
            (
                "?from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z",
                vec!["to"],
            ),
            (
                "?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
                vec!["to"],
            ),
            (
                "?from=2025-01-01T00:00:00Z&to=2026-01-03T00:00:00Z",
                vec!["to"],
            ),
        ];
        for (query, expected) in cases {
            let refused = problem(
                app.call(&reader.token, Method::GET, &path(query), None)
                    .await,
                422,
                "validation",
            )
            .await;
            assert_eq!(fields(refused), expected, "{endpoint}{query}");
        }
        // A year, leap day included, is allowed.
        let year = app
            .call(
                &reader.token,
                Method::GET,
                &path("?from=2028-01-01T00:00:00Z&to=2029-01-01T00:00:00Z"),
                None,
            )
            .await;
        assert_eq!(year.status(), 200, "{endpoint}");
    }
    app.stop().await;
}

async fn stats_are_for_lead_readers_of_the_facility_only(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Own Clinic").await;
    let other = app.facility("Other Clinic").await;
    let readonly = app.person(&[(Some(facility), Role::Readonly)]).await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let outsider = app.person(&[(Some(other), Role::Admin)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    app.create_lead(&admin.token, facility, new_lead()).await;
    let query = around(Timestamp::now());
    for endpoint in ["pipeline", "speed-to-lead"] {
        let path = format!("/facilities/{facility}/leads/stats/{endpoint}?{query}");
        let read = json_of(app.call(&readonly.token, Method::GET, &path, None).await).await;
        let total = if endpoint == "pipeline" {
            &read["total"]
        } else {
            &read["overall"]["leads"]
        };
        assert_eq!(*total, 1, "{read}");
        let denied = app.call(&nurse.token, Method::GET, &path, None).await;
        assert_eq!(denied.status(), 403, "a nurse reads no leads");
        problem(
            app.call(&outsider.token, Method::GET, &path, None).await,
            404,
            "not-found",
        )
        .await;
    }
    app.stop().await;
}

async fn rescore_refreshes_faded_scores_in_audited_batches(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Score Clinic").await;
    let other = app.facility("Other Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let outsider = app.person(&[(Some(other), Role::Admin)]).await;
    let faded = app.create_lead(&staff.token, facility, new_lead()).await;
    app.create_lead(&staff.token, facility, new_lead()).await;
    app.create_lead(&admin.token, facility, new_lead()).await;
    // Warm 20 + Newsletter 5 + one high-priority interest 10 + today 5.
    assert_eq!(faded["score"], 40);
    // Its last activity was ten and a half days ago; the stored score
    // still counts it as today's.
    let half = 12 * 3_600 * SECOND;
    set(
        &app,
        id(&faded),
        vec![(
            leads::Column::LastActivityAt,
            Expr::value(Some(ago(Timestamp::now(), 10 * DAY + half))),
        )],
    )
    .await;
    let path = format!("/facilities/{facility}/leads/rescore");
    let refused = app.call(&staff.token, Method::POST, &path, None).await;
    assert_eq!(refused.status(), 403, "staff cannot rescore the facility");
    let hidden = app.call(&outsider.token, Method::POST, &path, None).await;
    assert_eq!(hidden.status(), 404);

    let done = json_of(app.call(&admin.token, Method::POST, &path, None).await).await;
    assert_eq!(done, json!({ "rescored": 3, "changed": 1 }));
    let lead = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/leads/{}", id(&faded)),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(lead["score"], 36, "recency fell from 5 to 1 point");
    assert_eq!(
        lead["score_factors"][4]["detail"],
        "last activity 10 days ago"
    );
    let again = json_of(app.call(&admin.token, Method::POST, &path, None).await).await;
    assert_eq!(again, json!({ "rescored": 3, "changed": 0 }));

    // One event for the one batch that changed a score, none per lead.
    let events = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/audit-events?actor_id={}&action=update&resource_type=lead",
                admin.account_id
            ),
            None,
        )
        .await,
    )
    .await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["changes"]["rescored"], 3);
    assert_eq!(items[0]["changes"]["changed"], 1);
    assert!(items[0]["lead_id"].is_null());
    app.stop().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("read pipeline statistics", Method::GET, P::LEAD_READ, |r, _| {
                format!(
                    "/facilities/{}/leads/stats/pipeline?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z",
                    r.facility
                )
            }),
        Case::new("read speed to lead", Method::GET, P::LEAD_READ, |r, _| {
                format!(
                    "/facilities/{}/leads/stats/speed-to-lead?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z",
                    r.facility
                )
            }),
        Case::new("rescore leads", Method::POST, P::PIPELINE_MANAGE, |r, _| format!("/facilities/{}/leads/rescore", r.facility)),
    ]
}
