//! `limit` on the audit log over HTTP: the export returns no more events
//! than it asks for, newest first as the search does, and both refuse a
//! `limit` outside their bounds naming it.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, json_of, new_patient, problem};

on_both_backends!(the_export_honours_limit_and_refuses_it_out_of_bounds);

async fn the_export_honours_limit_and_refuses_it_out_of_bounds(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Audited").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    for _ in 0..3 {
        app.patient(facility, new_patient()).await;
    }
    let search = format!("/facilities/{facility}/audit-events");
    let export = format!("{search}/export");
    let get = |path: String| {
        let (app, token) = (&app, &admin.token);
        async move { app.call(token, Method::GET, &path, None).await }
    };
    let all = get(export.clone()).await.text().await.unwrap();
    assert!(all.lines().count() > 2, "there is more to export: {all}");
    // Searching records nothing; exporting records the export once sent.
    let newest = json_of(get(format!("{search}?limit=2")).await).await;
    let newest: Vec<&Value> = newest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["seq"])
        .collect();
    assert_eq!(newest.len(), 2);
    let exported = get(format!("{export}?limit=2")).await;
    assert_eq!(exported.status(), 200);
    let exported: Vec<Value> = exported
        .text()
        .await
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["seq"].clone())
        .collect();
    assert_eq!(exported.iter().collect::<Vec<_>>(), newest);
    let csv = get(format!("{export}?format=csv&limit=1"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 2, "a header and one event: {csv}");
    for (path, limit) in [
        (&search, "0"),
        (&search, "1001"),
        (&search, "some"),
        (&export, "0"),
        (&export, "50001"),
        (&export, "-1"),
    ] {
        let refused = problem(
            get(format!("{path}?limit={limit}")).await,
            422,
            "validation",
        )
        .await;
        assert_eq!(
            refused["errors"][0]["field"], "limit",
            "{path}?limit={limit}: {refused}"
        );
    }
    app.stop().await;
}
