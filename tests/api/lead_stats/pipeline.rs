//! Pipeline statistics: statuses, stages and sources counted over a
//! range, for the default lead pipeline or another by id.

use carebase::crm::leads;
use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::lead_stats::{DAY, ago, around, close};
use crate::support::{TestApp, TestBackend, id, json_of, new_lead, new_patient, problem};

on_both_backends!(pipeline_stats_count_statuses_stages_and_sources,);

/// Moves `lead` through `statuses` as `token` (an administrator, who also
/// approves its clinical review once it is qualified, as booking needs).
async fn move_to(app: &TestApp, token: &str, facility: Uuid, lead: &Value, statuses: &[&str]) {
    for status in statuses {
        if *status == "booked" {
            let review = format!("/facilities/{facility}/leads/{}/review", id(lead));
            let decision = Some(json!({ "decision": "approve" }));
            json_of(app.call(token, Method::POST, &review, decision).await).await;
        }
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

    let (now, web) = leads_across_statuses_stages_and_sources(&app, facility, t, &stages).await;
    let base = format!(
        "/facilities/{facility}/leads/stats/pipeline?{}",
        around(now)
    );
    let stats = json_of(app.call(t, Method::GET, &base, None).await).await;
    assert_eq!(stats["total"], 6, "{stats}");
    assert_eq!(stats["in_pipeline"], 5);
    assert_eq!(stats["pipeline_id"], lead_pipeline["id"]);
    statuses_and_stages_are_counted(&stats);
    sources_are_counted_with_their_conversions(&stats);
    another_lead_pipeline_by_id_but_no_care_pathway(&app, t, &base, &web, &care_pipeline).await;
    app.stop().await;
}

/// Stage 1: new and archived; stage 2: contacted; stage 4: booked; stage 5:
/// completed; one lead from before the range; one in another lead pipeline.
/// Answers the time the range is around, and the other pipeline.
async fn leads_across_statuses_stages_and_sources(
    app: &TestApp,
    facility: Uuid,
    t: &str,
    stages: &[Value],
) -> (Timestamp, Value) {
    app.lead_from(t, facility, "Newsletter", None).await;
    let contacted = app.lead_from(t, facility, "Newsletter", None).await;
    move_to(app, t, facility, &contacted, &["contacted"]).await;
    stage_to(app, t, facility, &contacted, &stages[1]).await;
    let booked = app.lead_from(t, facility, "Referral", None).await;
    move_to(
        app,
        t,
        facility,
        &booked,
        &["contacted", "qualified", "booked"],
    )
    .await;
    stage_to(app, t, facility, &booked, &stages[3]).await;
    let completed = app.lead_from(t, facility, "Referral", None).await;
    move_to(
        app,
        t,
        facility,
        &completed,
        &["contacted", "qualified", "booked", "completed"],
    )
    .await;
    stage_to(app, t, facility, &completed, &stages[4]).await;
    // Archived, but it became a patient: it converted.
    let chat = app.lead_from(t, facility, "Web Chat", None).await;
    move_to(app, t, facility, &chat, &["archived"]).await;
    let patient = app.patient(facility, new_patient()).await;
    app.set_lead_columns(
        id(&chat),
        vec![(leads::Column::PatientId, Expr::value(id(&patient)))],
    )
    .await;
    // Created 40 days ago: outside the range.
    let now = Timestamp::now();
    let old = app.lead_from(t, facility, "Referral", None).await;
    app.set_lead_columns(
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
    (now, web)
}

fn statuses_and_stages_are_counted(stats: &Value) {
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
}

fn sources_are_counted_with_their_conversions(stats: &Value) {
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
}

/// The other pipeline, by id; a care pathway is not a lead pipeline.
async fn another_lead_pipeline_by_id_but_no_care_pathway(
    app: &TestApp,
    t: &str,
    base: &str,
    web: &Value,
    care_pipeline: &Value,
) {
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
}
