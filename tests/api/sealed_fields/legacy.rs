//! Rows written in clear before their columns were sealed: the server seals
//! them when it starts, and the API answers them as before (filters and
//! downloads included).

use carebase::crm::{chat, leads};
use carebase::messaging::{attachments, conversations};
use carebase::patient_history::visits;
use carebase::scheduling::schedules::block;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::fields::sha256_hex;
use super::{holds, sealed_without};
use crate::on_both_backends;
use crate::support::{
    PDF, TestApp, TestBackend, Ward, hours_ahead, id, json_of, new_lead, new_patient,
};

on_both_backends!(values_stored_in_clear_are_sealed_when_the_server_starts);

/// What the test made through the API before rewriting it in clear.
struct Made {
    ward: Ward,
    lead: Value,
    session: Uuid,
    block: Uuid,
    file: Uuid,
    visit: String,
}

async fn values_stored_in_clear_are_sealed_when_the_server_starts(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let made = made_through_the_api(&app).await;
    store_in_clear(&app, &made).await;
    let app = app.restart(|_| {}).await;
    rows_are_sealed(&app, &made).await;
    the_api_answers_as_before(&app, &made).await;
    app.stop().await;
}

async fn made_through_the_api(app: &TestApp) -> Made {
    let ward = app.ward().await;
    let facility = ward.facility;
    let token = &ward.admin.token;
    let lead = app.create_lead(token, facility, new_lead()).await;
    let sessions = format!("/facilities/{facility}/chat-sessions");
    let session = app
        .call(
            token,
            Method::POST,
            &sessions,
            Some(json!({"visitor_ref": "fresh"})),
        )
        .await;
    let session = id(&json_of(session).await);
    let span = json!({"starts_at": hours_ahead(2), "ends_at": hours_ahead(3), "reason": "Holiday"});
    let blocks = format!("/facilities/{facility}/availability-blocks");
    let block = id(&json_of(app.call(token, Method::POST, &blocks, Some(span)).await).await);
    let posted = app
        .post_file(
            &ward.physician.token,
            &ward.path("/attachments"),
            Some(("letter.pdf", "application/pdf", PDF)),
            &[],
        )
        .await;
    let file = id(&json_of(posted).await["attachments"][0]);
    let patient = id(&app.patient(facility, new_patient()).await);
    let history = format!("/facilities/{facility}/patients/{patient}/history");
    let visit = json!({"visit_date": hours_ahead(-24), "department": "Cardiology"});
    let visit = app.call(token, Method::POST, &history, Some(visit)).await;
    let visit = format!("{history}/{}", id(&json_of(visit).await));
    Made {
        ward,
        lead,
        session,
        block,
        file,
        visit,
    }
}

/// Rewrites the rows as an older server wrote them: in clear, with nothing
/// sealed beside them.
async fn store_in_clear(app: &TestApp, made: &Made) {
    let db = app.state.db.conn();
    let null = || Expr::cust("NULL");
    conversations::Entity::update_many()
        .col_expr(
            conversations::Column::Tags,
            Expr::value(r#"["Quillon bed"]"#),
        )
        .col_expr(conversations::Column::SealedTags, null())
        .filter(conversations::Column::Id.eq(made.ward.conversation))
        .exec(db)
        .await
        .unwrap();
    chat::Entity::update_many()
        .col_expr(chat::Column::VisitorRef, Expr::value("Quillon-cookie"))
        .col_expr(chat::Column::SealedVisitorRef, null())
        .filter(chat::Column::Id.eq(made.session))
        .exec(db)
        .await
        .unwrap();
    block::Entity::update_many()
        .col_expr(block::Column::Reason, Expr::value("Quillon's dentist"))
        .filter(block::Column::Id.eq(made.block))
        .exec(db)
        .await
        .unwrap();
    let factors = r#"[{"factor":"source","points":5,"max":15,"detail":"source Quillon referral"}]"#;
    leads::Entity::update_many()
        .col_expr(leads::Column::Source, Expr::value("Quillon referral"))
        .col_expr(leads::Column::Outcome, Expr::value("Quillon said yes"))
        .col_expr(leads::Column::LeadType, Expr::value("Quillon kind"))
        .col_expr(leads::Column::ScoreFactors, Expr::value(factors))
        .filter(leads::Column::Id.eq(id(&made.lead)))
        .exec(db)
        .await
        .unwrap();
    let visit = Uuid::parse_str(made.visit.rsplit('/').next().unwrap()).unwrap();
    visits::Entity::update_many()
        .col_expr(visits::Column::Department, Expr::value("Quillon clinic"))
        .col_expr(visits::Column::SealedDepartment, null())
        .filter(visits::Column::Id.eq(visit))
        .exec(db)
        .await
        .unwrap();
    attachments::Entity::update_many()
        .col_expr(attachments::Column::Sha256, Expr::value(sha256_hex(PDF)))
        .col_expr(attachments::Column::SealedSha256, null())
        .col_expr(attachments::Column::ContentDigest, null())
        .filter(attachments::Column::Id.eq(made.file))
        .exec(db)
        .await
        .unwrap();
}

async fn rows_are_sealed(app: &TestApp, made: &Made) {
    let db = app.state.db.conn();
    let row = conversations::Entity::find_by_id(made.ward.conversation);
    let row = row.one(db).await.unwrap().unwrap();
    assert_eq!(row.tags, "[]");
    sealed_without(row.sealed_tags.as_ref(), "Quillon");
    let row = chat::Entity::find_by_id(made.session)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.visitor_ref, None);
    sealed_without(row.sealed_visitor_ref.as_ref(), "Quillon");
    let row = block::Entity::find_by_id(made.block)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.reason, "Other");
    sealed_without(row.sealed_reason.as_ref(), "Quillon");
    let row = leads::Entity::find_by_id(id(&made.lead))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.source.as_str(), row.outcome, row.lead_type),
        ("Other", None, None)
    );
    sealed_without(row.sealed_source.as_ref(), "Quillon");
    sealed_without(row.sealed_outcome.as_ref(), "Quillon");
    sealed_without(row.sealed_lead_type.as_ref(), "Quillon");
    assert!(!holds(row.score_factors.as_bytes(), "Quillon"));
    let row = attachments::Entity::find_by_id(made.file)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sha256, None);
    sealed_without(row.sealed_sha256.as_ref(), &sha256_hex(PDF));
    assert!(row.content_digest.is_some());
    let visit = Uuid::parse_str(made.visit.rsplit('/').next().unwrap()).unwrap();
    let row = visits::Entity::find_by_id(visit)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.department, None);
    sealed_without(row.sealed_department.as_ref(), "Quillon");
}

/// The API answers the values as they were written, filters and
/// downloads included.
async fn the_api_answers_as_before(app: &TestApp, made: &Made) {
    let w = &made.ward;
    let (facility, token) = (w.facility, &w.admin.token);
    let get = |path: String| async move {
        json_of(app.call(token, Method::GET, &path, None).await).await
    };
    assert_eq!(get(w.path("")).await["tags"], json!(["Quillon bed"]));
    let sessions = get(format!("/facilities/{facility}/chat-sessions")).await;
    assert_eq!(sessions["items"][0]["visitor_ref"], "Quillon-cookie");
    let blocks = get(format!("/facilities/{facility}/availability-blocks")).await;
    assert_eq!(blocks["items"][0]["reason"], "Quillon's dentist");
    let found = get(format!(
        "/facilities/{facility}/leads?source=Quillon%20referral"
    ))
    .await;
    assert_eq!(found["items"][0]["id"], made.lead["id"]);
    assert_eq!(found["items"][0]["source"], "Quillon referral");
    assert_eq!(found["items"][0]["outcome"], "Quillon said yes");
    assert_eq!(found["items"][0]["lead_type"], "Quillon kind");
    let download = w.path(&format!("/attachments/{}", made.file));
    let got = app.call(&w.nurse.token, Method::GET, &download, None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    assert_eq!(
        get(made.visit.clone()).await["department"],
        "Quillon clinic"
    );
    let messages = get(w.path("/messages")).await;
    assert_eq!(
        messages["items"][0]["attachments"][0]["sha256"],
        sha256_hex(PDF)
    );
}
