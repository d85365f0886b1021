//! Each field sealed under issue 13, read back both ways: the row as the
//! database holds it (no clear value) and the API's answer (the value).

use carebase::crm::{chat, leads};
use carebase::messaging::{attachments, conversations};
use carebase::policy::Role;
use carebase::scheduling::schedules::block;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{holds, sealed_without};
use crate::on_both_backends;
use crate::support::lead_stats::around;
use crate::support::{PDF, TestApp, TestBackend, hours_ahead, id, json_of, new_lead};

on_both_backends!(
    conversation_tags_are_sealed_and_shown,
    visitor_refs_are_sealed_and_shown,
    free_text_block_reasons_are_sealed_and_catalogue_ones_stay_clear,
    free_text_lead_labels_are_sealed_and_still_filter_and_count,
    attachments_keep_a_keyed_digest_and_their_checksum_sealed,
);

async fn conversation_tags_are_sealed_and_shown(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Tags").await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let path = format!("/facilities/{facility}/conversations");
    let body =
        json!({"title": "Rounds", "conversation_type": "general", "tags": ["Quillby wound"]});
    let created = app
        .call(&nurse.token, Method::POST, &path, Some(body))
        .await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    let row = conversations::Entity::find_by_id(id(&created))
        .one(app.state.db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.tags, "[]");
    sealed_without(row.sealed_tags.as_ref(), "Quillby");

    let one = format!("{path}/{}", id(&created));
    let shown = json_of(app.call(&nurse.token, Method::GET, &one, None).await).await;
    assert_eq!(shown["tags"], json!(["Quillby wound"]));
    let changed = json!({"tags": ["Marchbank dressing", "urgent"]});
    let updated = json_of(
        app.call(&nurse.token, Method::PATCH, &one, Some(changed))
            .await,
    )
    .await;
    assert_eq!(updated["tags"], json!(["Marchbank dressing", "urgent"]));
    let row = conversations::Entity::find_by_id(id(&created))
        .one(app.state.db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.tags, "[]");
    sealed_without(row.sealed_tags.as_ref(), "Marchbank");
    app.stop().await;
}

async fn visitor_refs_are_sealed_and_shown(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Chat").await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let path = format!("/facilities/{facility}/chat-sessions");
    let body = json!({"visitor_ref": "cookie-Wendlebury-77"});
    let created = app
        .call(&staff.token, Method::POST, &path, Some(body))
        .await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    assert_eq!(created["visitor_ref"], "cookie-Wendlebury-77");
    let row = chat::Entity::find_by_id(id(&created))
        .one(app.state.db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.visitor_ref, None);
    sealed_without(row.sealed_visitor_ref.as_ref(), "Wendlebury");
    let listed = json_of(app.call(&staff.token, Method::GET, &path, None).await).await;
    assert_eq!(listed["items"][0]["visitor_ref"], "cookie-Wendlebury-77");
    app.stop().await;
}

async fn free_text_block_reasons_are_sealed_and_catalogue_ones_stay_clear(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Blocks").await;
    let admin = app.person(&[(Some(facility), Role::Administrator)]).await;
    let path = format!("/facilities/{facility}/availability-blocks");
    let block_for = |reason: &str, hours: i64| json!({"starts_at": hours_ahead(hours), "ends_at": hours_ahead(hours + 1), "reason": reason});
    let home_visit = block_for("Home visit at the Ashgroves'", 2);
    let free = json_of(
        app.call(&admin.token, Method::POST, &path, Some(home_visit))
            .await,
    )
    .await;
    assert_eq!(free["reason"], "Home visit at the Ashgroves'");
    let holiday = block_for("Holiday", 5);
    let listed = json_of(
        app.call(&admin.token, Method::POST, &path, Some(holiday))
            .await,
    )
    .await;
    assert_eq!(listed["reason"], "Holiday");

    let db = app.state.db.conn();
    let row = block::Entity::find_by_id(id(&free))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.reason, "Other");
    sealed_without(row.sealed_reason.as_ref(), "Ashgrove");
    let row = block::Entity::find_by_id(id(&listed))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.reason.as_str(), row.sealed_reason), ("Holiday", None));

    let page = json_of(app.call(&admin.token, Method::GET, &path, None).await).await;
    let reasons: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Home visit at the Ashgroves'", "Holiday"]);
    app.stop().await;
}

async fn free_text_lead_labels_are_sealed_and_still_filter_and_count(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Labels").await;
    let admin = app.person(&[(Some(facility), Role::Administrator)]).await;
    let mut body = new_lead();
    body["source"] = json!("Referred by Dr Pembrokeshaw");
    body["outcome"] = json!("Spoke to Ms Thistlewood");
    body["lead_type"] = json!("Thistlewood family plan");
    let lead = app.create_lead(&admin.token, facility, body).await;
    let newsletter = app.create_lead(&admin.token, facility, new_lead()).await;
    assert_eq!(lead["source"], "Referred by Dr Pembrokeshaw");
    assert_eq!(lead["outcome"], "Spoke to Ms Thistlewood");
    assert_eq!(lead["lead_type"], "Thistlewood family plan");

    let row = lead_row(&app, id(&lead)).await;
    assert_eq!(row.source, "Other");
    assert_eq!(
        (row.outcome.as_deref(), row.lead_type.as_deref()),
        (None, None)
    );
    sealed_without(row.sealed_source.as_ref(), "Pembrokeshaw");
    sealed_without(row.sealed_outcome.as_ref(), "Thistlewood");
    sealed_without(row.sealed_lead_type.as_ref(), "Thistlewood");
    assert!(!holds(row.score_factors.as_bytes(), "Pembrokeshaw"));
    let clear = lead_row(&app, id(&newsletter)).await;
    assert_eq!(
        (clear.source.as_str(), clear.sealed_source),
        ("Newsletter", None)
    );

    // Filters find a free-text source by its blind index, a catalogue one in clear.
    let leads_path = format!("/facilities/{facility}/leads");
    let by_source = |source: &str| format!("{leads_path}?source={}", source.replace(' ', "%20"));
    let found = get(
        &app,
        &admin.token,
        &by_source("Referred by Dr Pembrokeshaw"),
    )
    .await;
    assert_eq!(ids(&found), [id(&lead)]);
    assert_eq!(
        ids(&get(&app, &admin.token, &by_source("Newsletter")).await),
        [id(&newsletter)]
    );
    assert_eq!(
        ids(&get(&app, &admin.token, &by_source("Other")).await),
        [id(&lead)]
    );
    // Statistics count free text as `Other`, never quoting it.
    let stats_path = format!("{leads_path}/stats/pipeline?{}", around(Timestamp::now()));
    let stats = get(&app, &admin.token, &stats_path).await;
    let sources: Vec<(&str, u64)> = stats["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["source"].as_str().unwrap(), s["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(sources, [("Newsletter", 1), ("Other", 1)]);

    a_call_outcome_is_sealed_and_a_catalogue_source_is_clear_again(
        &app,
        &admin.token,
        &leads_path,
        &lead,
    )
    .await;
    app.stop().await;
}

async fn a_call_outcome_is_sealed_and_a_catalogue_source_is_clear_again(
    app: &TestApp,
    token: &str,
    leads_path: &str,
    lead: &Value,
) {
    // A call's outcome is sealed too, and a catalogue source goes back to clear.
    let lead_path = format!("{leads_path}/{}", id(lead));
    let call = json!({"outcome": "Left word with Mr Ferncastle"});
    let calls = format!("{lead_path}/calls");
    let called = app.call(token, Method::POST, &calls, Some(call));
    assert_eq!(
        json_of(called.await).await["outcome"],
        "Left word with Mr Ferncastle"
    );
    let back = json!({"source": "Newsletter"});
    let patched = json_of(app.call(token, Method::PATCH, &lead_path, Some(back)).await).await;
    assert_eq!(patched["source"], "Newsletter");
    let row = lead_row(app, id(lead)).await;
    sealed_without(row.sealed_outcome.as_ref(), "Ferncastle");
    assert_eq!(
        (row.source.as_str(), row.sealed_source, row.source_index),
        ("Newsletter", None, None)
    );
    let shown = get(app, token, &lead_path).await;
    assert_eq!(shown["outcome"], "Left word with Mr Ferncastle");
    assert_eq!(shown["lead_type"], "Thistlewood family plan");
}

async fn attachments_keep_a_keyed_digest_and_their_checksum_sealed(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = app.ward().await;
    let posted = app
        .post_file(
            &w.physician.token,
            &w.path("/attachments"),
            Some(("letter.pdf", "application/pdf", PDF)),
            &[],
        )
        .await;
    assert_eq!(posted.status(), 201);
    let file = json_of(posted).await["attachments"][0].clone();
    let sha256 = sha256_hex(PDF);
    assert_eq!(file["sha256"], sha256);

    let row = attachments::Entity::find_by_id(id(&file))
        .one(app.state.db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sha256, None);
    sealed_without(row.sealed_sha256.as_ref(), &sha256);
    let digest = row.content_digest.expect("a keyed digest");
    assert_eq!(digest.as_bytes().len(), 32);
    assert_ne!(hex(digest.as_bytes()), sha256, "keyed, not the plain hash");

    // The digest still proves each download is the stored file.
    let download = w.path(&format!("/attachments/{}", id(&file)));
    let got = app.call(&w.nurse.token, Method::GET, &download, None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    app.stop().await;
}

async fn lead_row(app: &TestApp, lead: Uuid) -> leads::Model {
    leads::Entity::find_by_id(lead)
        .one(app.state.db.conn())
        .await
        .unwrap()
        .unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.call(token, Method::GET, path, None).await;
    assert_eq!(response.status(), 200, "{path}");
    json_of(response).await
}

fn ids(page: &Value) -> Vec<Uuid> {
    page["items"].as_array().unwrap().iter().map(id).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
