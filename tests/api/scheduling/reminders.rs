//! Reminders: sent once across a crash and two servers, and skipped with a
//! note when there is no address.

use std::time::Duration;

use carebase::scheduling::reminders;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, hours_ahead, id, new_lead, new_patient, poll_every, text,
};

on_both_backends!(
    reminders_go_out_once_across_a_crash_and_two_servers,
    a_reminder_with_no_address_is_skipped_with_a_note,
);

/// How many reminders are in each status, and how many reminder messages
/// the outbox holds.
async fn reminder_tally(app: &TestApp) -> (u64, u64, u64) {
    let db = app.state.db.conn();
    let count = |status: &'static str| async move {
        reminders::Entity::find()
            .filter(reminders::Column::Status.eq(status))
            .count(db)
            .await
            .unwrap()
    };
    let messages = carebase::notify::outbox::Entity::find()
        .filter(carebase::notify::outbox::Column::Kind.eq("appointment_reminder"))
        .count(db)
        .await
        .unwrap();
    (count("pending").await, count("sent").await, messages)
}

async fn reminders_go_out_once_across_a_crash_and_two_servers(backend: TestBackend) {
    // The server's own sender waits an hour, so the test drives the first run.
    let app = TestApp::spawn_with(backend, |c| poll_every(c, 3600)).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let patient = app.patient(facility, new_patient()).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    book_forty(
        &app,
        facility,
        &admin.token,
        provider.account_id,
        &patient,
        &lead,
    )
    .await;
    assert_eq!(reminder_tally(&app).await, (120, 0, 0));
    a_run_that_dies_part_way_rolls_back_its_batch(&app).await;
    let app = two_servers_send_every_reminder_once(app).await;
    // Each message is its own; the confirmed appointments are now reminded.
    let db = app.state.db.conn();
    let rows = reminders::Entity::find().all(db).await.unwrap();
    let mut messages: Vec<Uuid> = rows.iter().filter_map(|r| r.outbox_message_id).collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 120);
    let reminded = carebase::scheduling::appointments::Entity::find()
        .filter(carebase::scheduling::appointments::Column::Status.eq("reminded"))
        .count(db)
        .await
        .unwrap();
    assert_eq!(reminded, 20);
    // The reminder names the facility and the time, not the visit's title.
    let outbox: Value = app
        .call(
            &app.system_admin().await.token,
            Method::GET,
            "/admin/outbox?limit=1",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let body = outbox["items"][0]["body"].as_str().unwrap();
    assert!(body.contains("MiKO Clinic"), "{body}");
    let pending: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/appointment-reminders"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["items"], json!([]));
    app.stop().await;
}

/// Forty appointments an hour apart from three days ahead: the patient's
/// confirmed, the lead's not.
async fn book_forty(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    provider: Uuid,
    patient: &Value,
    lead: &Value,
) {
    for i in 0..40 {
        let with = if i % 2 == 0 {
            json!({"patient_id": patient["id"], "status": "confirmed"})
        } else {
            json!({"lead_id": lead["id"]})
        };
        let mut body = json!({"provider_id": provider, "starts_at": text(hours_ahead(72 + i)), "duration_minutes": 30});
        body.as_object_mut()
            .unwrap()
            .extend(with.as_object().unwrap().clone());
        app.booked(token, facility, body).await;
    }
}

/// Time passes: every reminder is due. A run that dies part-way: its
/// batch in flight rolls back whole.
async fn a_run_that_dies_part_way_rolls_back_its_batch(app: &TestApp) {
    reminders::Entity::update_many()
        .col_expr(
            reminders::Column::DueAt,
            sea_orm::sea_query::Expr::value(Timestamp::now().plus_secs(-60)),
        )
        .exec(app.state.db.conn())
        .await
        .unwrap();
    let state = app.state.clone();
    let run = tokio::spawn(async move { reminders::send_due(&state, Timestamp::now()).await });
    tokio::time::sleep(Duration::from_millis(40)).await;
    run.abort();
    let _ = run.await;
    let (_, sent, messages) = reminder_tally(app).await;
    assert_eq!(
        sent, messages,
        "every sent reminder has its message, and only those"
    );
    assert!(
        sent % 50 == 0 || sent == 120,
        "batches commit whole: {sent}"
    );
}

/// Restarted, and joined by a second server on the same database; both
/// send every second until nothing is pending.
async fn two_servers_send_every_reminder_once(app: TestApp) -> TestApp {
    let app = app.restart(|c| poll_every(c, 1)).await;
    let second = carebase::AppState::open(app.state.config.clone())
        .await
        .unwrap();
    let second_server = carebase::Server::bind(second.clone(), carebase::contexts::routes())
        .await
        .unwrap();
    let stop_second = tokio_util::sync::CancellationToken::new();
    let second_run = tokio::spawn(second_server.run(stop_second.clone()));
    let mut tally = reminder_tally(&app).await;
    for _ in 0..300 {
        if tally.0 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tally = reminder_tally(&app).await;
    }
    stop_second.cancel();
    second_run.await.unwrap().unwrap();
    assert_eq!(reminder_tally(&app).await, (0, 120, 120));
    app
}

async fn a_reminder_with_no_address_is_skipped_with_a_note(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| poll_every(c, 3600)).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let mut lead = new_lead();
    lead.as_object_mut().unwrap().remove("email");
    let lead = app.create_lead(&admin.token, facility, lead).await;
    let appointment = app
        .booked(
            &admin.token,
            facility,
            json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(72)),
               "lead_id": lead["id"], "status": "confirmed"}),
        )
        .await;
    reminders::Entity::update_many()
        .col_expr(
            reminders::Column::DueAt,
            sea_orm::sea_query::Expr::value(Timestamp::now().plus_secs(-60)),
        )
        .exec(app.state.db.conn())
        .await
        .unwrap();
    assert_eq!(
        reminders::send_due(&app.state, Timestamp::now())
            .await
            .unwrap(),
        3
    );
    let rows = reminders::Entity::find()
        .all(app.state.db.conn())
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.status == "skipped"
        && r.note.as_deref() == Some("no email address for the patient or lead")));
    assert_eq!(reminder_tally(&app).await, (0, 0, 0));
    // Still confirmed: nothing reminded the lead.
    let now: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(&appointment)),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["status"], "confirmed");
}
