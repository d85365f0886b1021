//! Speed to lead: exact medians and 90th percentiles overall, by owner and
//! by source.

use carebase::crm::leads;
use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::lead_stats::{DAY, SECOND, ago, around, close};
use crate::support::{TestApp, TestBackend, id, json_of};

on_both_backends!(speed_to_lead_gives_exact_medians_and_p90s,);

async fn speed_to_lead_gives_exact_medians_and_p90s(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Speedy Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr_a = app.person(&[(Some(facility), Role::Sdr)]).await;
    let sdr_b = app.person(&[(Some(facility), Role::Sdr)]).await;
    let t = &admin.token;
    let now = Timestamp::now();
    leads_with_known_delays(&app, facility, t, sdr_a.account_id, sdr_b.account_id, now).await;
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

    each_owners_figures(&stats, sdr_a.account_id, sdr_b.account_id);
    each_sources_figures(&stats);
    app.stop().await;
}

/// Seven leads made an hour before `now`, one of them 30 days before: by
/// owner and source, first contacted after a known delay, or not at all.
async fn leads_with_known_delays(
    app: &TestApp,
    facility: Uuid,
    t: &str,
    sdr_a: Uuid,
    sdr_b: Uuid,
    now: Timestamp,
) {
    let created = ago(now, 3_600 * SECOND);
    // (owner, source, seconds to first contact)
    let plan: [(Option<Uuid>, &str, Option<i64>); 7] = [
        (Some(sdr_a), "Newsletter", Some(60)),
        (Some(sdr_a), "Newsletter", Some(120)),
        (Some(sdr_a), "Referral", Some(300)),
        (Some(sdr_a), "Referral", None),
        (Some(sdr_b), "Newsletter", Some(30)),
        (None, "Web Chat", Some(600)),
        // Outside the range.
        (Some(sdr_b), "Newsletter", Some(5)),
    ];
    for (i, (owner, source, delay)) in plan.into_iter().enumerate() {
        let lead = app.lead_from(t, facility, source, owner).await;
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
        app.set_lead_columns(
            id(&lead),
            vec![
                (leads::Column::CreatedAt, Expr::value(created)),
                (leads::Column::FirstContactedAt, Expr::value(contacted)),
            ],
        )
        .await;
    }
}

fn each_owners_figures(stats: &Value, sdr_a: Uuid, sdr_b: Uuid) {
    let owner = |account: Option<Uuid>| -> Value {
        stats["owners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["owner_id"] == json!(account))
            .unwrap()
            .clone()
    };
    let a = owner(Some(sdr_a));
    assert_eq!(
        (a["leads"].as_u64(), a["contacted"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(close(&a["median_seconds"], 120.0), "{a}");
    // [60, 120, 300]: rank 1.8 → 120 + 0.8 × 180.
    assert!(close(&a["p90_seconds"], 264.0), "{a}");
    let b = owner(Some(sdr_b));
    assert_eq!(b["leads"], 1);
    assert!(close(&b["median_seconds"], 30.0) && close(&b["p90_seconds"], 30.0));
    assert_eq!(stats["owners"].as_array().unwrap().len(), 3);
    assert!(
        stats["owners"][2]["owner_id"].is_null(),
        "unassigned leads come last"
    );
    assert!(close(&stats["owners"][2]["median_seconds"], 600.0));
}

fn each_sources_figures(stats: &Value) {
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
}
