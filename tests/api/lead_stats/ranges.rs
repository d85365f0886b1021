//! Who reads the statistics, and over which ranges.

use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::lead_stats::around;
use crate::support::{TestApp, TestBackend, json_of, new_lead, problem};

on_both_backends!(
    bad_ranges_are_refused_naming_the_parameter,
    stats_are_for_lead_readers_of_the_facility_only,
);

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
        // Speed to lead counts up to now when `to` is absent.
        let bare = if endpoint == "pipeline" {
            vec!["from", "to"]
        } else {
            vec!["from"]
        };
        let cases = [
            ("", bare),
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
    let before = Timestamp::now();
    let from = before.plus_secs(-30 * 86_400);
    let path = format!("/facilities/{facility}/leads/stats/speed-to-lead?from={from}");
    let until_now = json_of(app.call(&reader.token, Method::GET, &path, None).await).await;
    let to: Timestamp = until_now["to"].as_str().unwrap().parse().unwrap();
    assert!(before <= to && to <= Timestamp::now(), "{until_now}");
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
