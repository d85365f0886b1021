//! The facility's `lead_source` catalogue: seed 001's sources to start,
//! input matched ignoring case and spacing and stored in the catalogue's
//! spelling, free sources only where the facility accepts them, and
//! statistics that never split one source by spelling, including sources
//! stored before the catalogue.

use carebase::crm::leads;
use carebase::crypto::RowSealer;
use carebase::policy::Role;
use reqwest::Method;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, json_of, lead_path, new_lead, problem};

on_both_backends!(
    sources_match_the_catalogue_and_statistics_count_one_spelling,
    a_facility_may_refuse_sources_outside_its_catalogue,
    sources_stored_before_the_catalogue_are_canonicalised_at_start,
);

fn with_source(source: &str) -> Value {
    let mut body = new_lead();
    body["source"] = json!(source);
    body
}

/// The pipeline statistics' count of each source, as (source, count).
async fn source_counts(app: &TestApp, token: &str, facility: Uuid) -> Vec<(String, u64)> {
    let range = crate::support::lead_stats::around(carebase::time::Timestamp::now());
    let path = format!("/facilities/{facility}/leads/stats/pipeline?{range}");
    let stats = app.get_json(token, &path).await;
    let mut counts: Vec<(String, u64)> = stats["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    counts
}

async fn sources_match_the_catalogue_and_statistics_count_one_spelling(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let catalogue = format!("/facilities/{facility}/lead-sources");
    let listed = names(&app.get_json(&sdr.token, &catalogue).await);
    for seed in [
        "HHQ Complete",
        "HHQ Started",
        "Lab Purchase",
        "Marek Health Discovery Call",
        "Newsletter Discovery Call",
        "Social Media Discovery Call",
        "Newsletter",
        "None",
    ] {
        assert!(listed.contains(&seed.to_owned()), "{seed} in {listed:?}");
    }

    let spelled = app
        .create_lead(
            &sdr.token,
            facility,
            with_source("  newsletter   DISCOVERY call"),
        )
        .await;
    assert_eq!(spelled["source"], "Newsletter Discovery Call");
    let plain = app
        .create_lead(
            &sdr.token,
            facility,
            with_source("Newsletter Discovery Call"),
        )
        .await;
    let patch = app
        .call(
            &sdr.token,
            Method::PATCH,
            &lead_path(&plain),
            Some(json!({"source": "lab purchase"})),
        )
        .await;
    assert_eq!(json_of(patch).await["source"], "Lab Purchase");
    // By default a source outside the catalogue is taken as written (tidied), sealed.
    let free = app
        .create_lead(&sdr.token, facility, with_source(" google   ads"))
        .await;
    assert_eq!(free["source"], "google ads");
    let also = app
        .create_lead(&sdr.token, facility, with_source("Google Ads"))
        .await;
    assert_eq!(
        source_counts(&app, &admin.token, facility).await,
        [
            ("Lab Purchase".into(), 1),
            ("Newsletter Discovery Call".into(), 1),
            ("Other".into(), 2)
        ]
    );
    let entry = free_spellings_join_a_new_entry(&app, facility, &admin, &sdr, [&free, &also]).await;
    entries_are_checked_and_removed(&app, facility, &admin, &sdr, &entry).await;
}

/// The names of a catalogue page.
fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The administrator lists a source two free leads spelled apart: both join
/// the entry, as does a later lead, and statistics count them as one.
async fn free_spellings_join_a_new_entry(
    app: &TestApp,
    facility: Uuid,
    admin: &Person,
    sdr: &Person,
    [free, also]: [&Value; 2],
) -> Value {
    let catalogue = format!("/facilities/{facility}/lead-sources");
    let added = app
        .call(
            &admin.token,
            Method::POST,
            &catalogue,
            Some(json!({"name": " Google  Ads "})),
        )
        .await;
    assert_eq!(added.status(), 201);
    let entry: Value = added.json().await.unwrap();
    assert_eq!(entry["name"], "Google Ads");
    assert_eq!(app.lead_now(&sdr.token, free).await["source"], "Google Ads");
    assert_eq!(app.lead_now(&sdr.token, also).await["source"], "Google Ads");
    let later = app
        .create_lead(&sdr.token, facility, with_source("GOOGLE ADS"))
        .await;
    assert_eq!(later["source"], "Google Ads");
    assert_eq!(
        source_counts(app, &admin.token, facility).await,
        [
            ("Google Ads".into(), 3),
            ("Lab Purchase".into(), 1),
            ("Newsletter Discovery Call".into(), 1)
        ]
    );
    let query = format!("/facilities/{facility}/leads?source=google%20ads");
    assert_eq!(
        crate::support::ids(&app.get_json(&sdr.token, &query).await),
        [id(free), id(also), id(&later)]
    );

    entry
}

/// Entries are unique by canonical form and checked; a removed one leaves
/// the leads as they were.
async fn entries_are_checked_and_removed(
    app: &TestApp,
    facility: Uuid,
    admin: &Person,
    sdr: &Person,
    entry: &Value,
) {
    let catalogue = format!("/facilities/{facility}/lead-sources");
    let later = app
        .get_json(
            &sdr.token,
            &format!("/facilities/{facility}/leads?source=Google%20Ads"),
        )
        .await;
    let later = later["items"][2].clone();
    let twice = app
        .call(
            &admin.token,
            Method::POST,
            &catalogue,
            Some(json!({"name": "google ads"})),
        )
        .await;
    problem(twice, 409, "conflict").await;
    for bad in [
        json!({"name": "  "}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "other"}),
    ] {
        let refused = app
            .call(&admin.token, Method::POST, &catalogue, Some(bad))
            .await;
        let refused = problem(refused, 422, "validation").await;
        assert_eq!(refused["errors"][0]["field"], "name", "{refused}");
    }
    let path = format!("{catalogue}/{}", id(entry));
    assert_eq!(
        app.call(&admin.token, Method::DELETE, &path, None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.call(&admin.token, Method::DELETE, &path, None)
            .await
            .status(),
        404
    );
    assert!(!names(&app.get_json(&sdr.token, &catalogue).await).contains(&"Google Ads".to_owned()));
    assert_eq!(
        app.lead_now(&sdr.token, &later).await["source"],
        "Google Ads"
    );
}

async fn a_facility_may_refuse_sources_outside_its_catalogue(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    app.set_facility_settings(
        &admin.token,
        facility,
        json!({"crm": {"allow_free_lead_sources": false}}),
    )
    .await;
    let leads = format!("/facilities/{facility}/leads");
    let refused = app
        .call(
            &admin.token,
            Method::POST,
            &leads,
            Some(with_source("Dr Quillfeather")),
        )
        .await;
    let refused = problem(refused, 422, "validation").await;
    assert_eq!(refused["errors"][0]["field"], "source");
    let said = refused.to_string();
    assert!(
        said.contains("lead_source") && !said.contains("Quillfeather"),
        "{said}"
    );

    let lead = app
        .create_lead(&admin.token, facility, with_source("hhq COMPLETE"))
        .await;
    assert_eq!(lead["source"], "HHQ Complete");
    let patch = app
        .call(
            &admin.token,
            Method::PATCH,
            &lead_path(&lead),
            Some(json!({"source": "Dr Quillfeather"})),
        )
        .await;
    problem(patch, 422, "validation").await;
    assert_eq!(
        app.lead_now(&admin.token, &lead).await["source"],
        "HHQ Complete"
    );

    let csv = "first_name,last_name,email,source\n\
               Ada,Lovelace,ada@example.org, newsletter\n\
               Alan,Turing,alan@example.org,Dr Quillfeather\n";
    let import = format!("{leads}/import");
    let response = app.send_csv(&admin.token, Method::POST, &import, csv).await;
    let report: Value = json_of(response).await;
    assert_eq!(report["created"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(
        (
            &report["rejected"][0]["row"],
            &report["rejected"][0]["field"]
        ),
        (&json!(2), &json!("source"))
    );
    let imported = app
        .get_json(
            &admin.token,
            &format!("{leads}/{}", report["created"][0].as_str().unwrap()),
        )
        .await;
    assert_eq!(imported["source"], "Newsletter");
}

async fn sources_stored_before_the_catalogue_are_canonicalised_at_start(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let key = app.state.keyring.facility(facility).await.unwrap();
    // Two leads as a release before the catalogue left them: a catalogue
    // source spelled otherwise, sealed as free text, and a free source with
    // only the index of its text as written.
    let mut old = Vec::new();
    for text in [" newsletter ", "Dr  Quill"] {
        let lead = app.create_lead(&admin.token, facility, new_lead()).await;
        let sealed = RowSealer::new(&key, leads::TABLE, id(&lead)).text("source", text);
        let columns: Vec<(leads::Column, SimpleExpr)> = vec![
            (leads::Column::Source, Expr::value("Other")),
            (
                leads::Column::SealedSource,
                Expr::value(sealed.as_bytes().to_vec()),
            ),
            (
                leads::Column::SourceIndex,
                Expr::value(leads::source_index(&key, text).as_bytes().to_vec()),
            ),
            (
                leads::Column::SourceKey,
                Expr::value(Option::<Vec<u8>>::None),
            ),
        ];
        app.set_lead_columns(id(&lead), columns).await;
        old.push(lead);
    }
    let app = app.restart(|_| {}).await;
    let admin_token = app.person(&[(Some(facility), Role::Admin)]).await.token;
    let stored: Vec<(String, bool)> = leads::Entity::find()
        .select_only()
        .column(leads::Column::Source)
        .column_as(Expr::col(leads::Column::SourceKey).is_not_null(), "keyed")
        .filter(leads::Column::Id.is_in(old.iter().map(id)))
        .into_tuple()
        .all(app.state.db.conn())
        .await
        .unwrap();
    assert!(
        stored.contains(&("Newsletter".to_owned(), false)),
        "{stored:?}"
    );
    assert!(stored.contains(&("Other".to_owned(), true)), "{stored:?}");
    assert_eq!(
        app.lead_now(&admin_token, &old[0]).await["source"],
        "Newsletter"
    );
    assert_eq!(
        app.lead_now(&admin_token, &old[1]).await["source"],
        "Dr  Quill"
    );
    let query = format!("/facilities/{facility}/leads?source=dr%20quill");
    assert_eq!(
        crate::support::ids(&app.get_json(&admin_token, &query).await),
        [id(&old[1])]
    );
}
