//! Reminders by text message: the reminder's channel, else the patient's
//! preference, else email; texts go through Twilio (a local stand-in that
//! speaks its protocol) and are held in the outbox without it; `due_before`
//! takes `now` as the docs write it.

use std::time::Duration;

use carebase::config::{Config, SecretString};
use carebase::notify::settings::NotifySettings;
use carebase::scheduling::reminders;
use carebase::scheduling::settings::SchedulingSettings;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::fake_twilio::{self, FakeTwilio};
use crate::support::{
    TestApp, TestBackend, hours_ahead, id, new_patient, poll_every, problem, text,
};

on_both_backends!(
    reminders_go_by_their_channel_else_the_patient_s_preference,
    reminders_due_now_are_listed_with_due_before_now,
    without_twilio_a_text_reminder_waits_in_the_outbox,
);

/// Texts through `twilio` at `base`, reminders two hours ahead only, and no
/// sender running on its own: the test drives it.
fn texting(config: &mut Config, base: Option<String>) {
    poll_every(config, 3600);
    config.edit_section(|s: &mut SchedulingSettings| s.reminder_offsets_minutes = vec![120]);
    if let Some(base) = base {
        config.edit_section(|s: &mut NotifySettings| {
            s.twilio_account_sid = Some(fake_twilio::ACCOUNT_SID.to_owned());
            s.twilio_auth_token = Some(SecretString::new(fake_twilio::AUTH_TOKEN.to_owned()));
            s.sms_from = Some(fake_twilio::FROM.to_owned());
            s.twilio_base_url = Some(base);
        });
    }
}

/// A patient who prefers `preference` (none: says nothing).
async fn patient_preferring(
    app: &TestApp,
    token: &str,
    facility: Uuid,
    preference: Option<&str>,
) -> Value {
    let patient = app.patient(facility, new_patient()).await;
    if let Some(preference) = preference {
        let changed = app
            .call(
                token,
                Method::PATCH,
                &format!("/facilities/{facility}/patients/{}", id(&patient)),
                Some(json!({"preferred_contact": preference})),
            )
            .await;
        assert_eq!(changed.status(), 200);
        assert_eq!(
            changed.json::<Value>().await.unwrap()["preferred_contact"],
            preference
        );
    }
    patient
}

/// The appointment's one reminder, as the API lists it.
async fn reminder_of(app: &TestApp, token: &str, facility: Uuid, appointment: &Value) -> Value {
    let page = app
        .get_json(
            token,
            &format!(
                "/facilities/{facility}/appointment-reminders?status=pending&appointment_id={}",
                id(appointment)
            ),
        )
        .await;
    page["items"][0].clone()
}

async fn reminders_go_by_their_channel_else_the_patient_s_preference(backend: TestBackend) {
    let twilio = FakeTwilio::default();
    let base = twilio.start().await;
    let app = TestApp::spawn_with(backend, |c| texting(c, Some(base))).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let texter = patient_preferring(&app, &admin.token, facility, Some("sms")).await;
    let silent = patient_preferring(&app, &admin.token, facility, None).await;
    let book = |patient: &Value, minutes: i64| {
        json!({"provider_id": provider.account_id, "patient_id": patient["id"],
               "starts_at": text(hours_ahead(5).plus_secs(minutes * 60)), "duration_minutes": 30,
               "title": "Rhinoplasty consultation"})
    };
    let by_preference = app.booked(&admin.token, facility, book(&texter, 0)).await;
    let by_default = app.booked(&admin.token, facility, book(&silent, 30)).await;
    let by_choice = app.booked(&admin.token, facility, book(&texter, 60)).await;

    let chosen = reminder_of(&app, &admin.token, facility, &by_choice).await;
    assert_eq!(
        chosen["channel"],
        Value::Null,
        "the preference until one is named"
    );
    let path = format!(
        "/facilities/{facility}/appointment-reminders/{}",
        id(&chosen)
    );
    let changed = app
        .call(
            &admin.token,
            Method::PATCH,
            &path,
            Some(json!({"channel": "email"})),
        )
        .await;
    assert_eq!(changed.json::<Value>().await.unwrap()["channel"], "email");
    for (body, field) in [
        (json!({"channel": "fax"}), "channel"),
        (json!({}), "channel"),
    ] {
        let refused = app
            .call(&admin.token, Method::PATCH, &path, Some(body))
            .await;
        let problem = problem(refused, 422, "validation").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    let sent = reminders::send_due(&app.state, hours_ahead(4))
        .await
        .unwrap();
    assert_eq!(sent, 3);
    let texts = twilio.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(
        texts.len(),
        1,
        "only the reminder that goes by the preference"
    );
    assert_eq!(
        texts[0].to, "+15550104242",
        "the patient's phone, in E.164 form"
    );
    assert_eq!(texts[0].from.as_deref(), Some(fake_twilio::FROM));
    assert!(texts[0].body.contains("MiKO Clinic"), "{}", texts[0].body);
    assert!(
        !texts[0].body.contains("Rhinoplasty"),
        "never what it is about"
    );

    each_went_by_its_channel(&app, [&by_preference, &by_default, &by_choice]).await;
    let once_sent = app
        .call(
            &admin.token,
            Method::PATCH,
            &path,
            Some(json!({"channel": "sms"})),
        )
        .await;
    problem(once_sent, 409, "conflict").await;
    app.stop().await;
}

/// Polls the outbox message until it is in `status`.
async fn wait_for_status(app: &TestApp, token: &str, message: Uuid, status: &str) {
    for _ in 0..300 {
        let shown = app
            .get_json(token, &format!("/admin/outbox/{message}"))
            .await;
        if shown["status"] == status {
            assert_eq!(shown["attempts"], i32::from(status == "sent"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {message} never reached `{status}`");
}

async fn reminders_due_now_are_listed_with_due_before_now(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| texting(c, None)).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let patient = app.patient(facility, new_patient()).await;
    let mut booked = Vec::new();
    for hours in [5, 6] {
        let body = json!({"provider_id": provider.account_id, "patient_id": patient["id"],
                          "starts_at": text(hours_ahead(hours))});
        booked.push(app.booked(&admin.token, facility, body).await);
    }
    // Time passes for the first appointment: its reminder is due.
    reminders::Entity::update_many()
        .col_expr(
            reminders::Column::DueAt,
            sea_orm::sea_query::Expr::value(Timestamp::now().plus_secs(-60)),
        )
        .filter(reminders::Column::AppointmentId.eq(id(&booked[0])))
        .exec(app.state.db.conn())
        .await
        .unwrap();
    let list = |query: &str| format!("/facilities/{facility}/appointment-reminders?{query}");
    let due = app.get_json(&admin.token, &list("due_before=now")).await;
    let items = due["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{due}");
    assert_eq!(items[0]["appointment_id"], booked[0]["id"]);
    let later = text(hours_ahead(5));
    let both = app
        .get_json(
            &admin.token,
            &list(&format!("due_before={}", later.replace('+', "%2B"))),
        )
        .await;
    assert_eq!(both["items"].as_array().unwrap().len(), 2);
    let refused = app
        .call(
            &admin.token,
            Method::GET,
            &list("due_before=tomorrow"),
            None,
        )
        .await;
    let problem = problem(refused, 422, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "due_before", "{problem}");
    app.stop().await;
}

async fn without_twilio_a_text_reminder_waits_in_the_outbox(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| texting(c, None)).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let texter = patient_preferring(&app, &admin.token, facility, Some("sms")).await;
    let mut far = new_patient();
    far["phone"] = json!("555 010 4242");
    let unreachable = app.patient(facility, far).await;
    let mut ids = Vec::new();
    for (patient, minutes) in [(&texter, 0), (&unreachable, 30)] {
        let body = json!({"provider_id": provider.account_id, "patient_id": patient["id"],
                          "starts_at": text(hours_ahead(5).plus_secs(minutes * 60)),
                          "duration_minutes": 30});
        let appointment = app.booked(&admin.token, facility, body).await;
        let reminder = reminder_of(&app, &admin.token, facility, &appointment).await;
        ids.push(id(&reminder));
    }
    let path = format!("/facilities/{facility}/appointment-reminders/{}", ids[1]);
    let asked = app
        .call(
            &admin.token,
            Method::PATCH,
            &path,
            Some(json!({"channel": "sms"})),
        )
        .await;
    assert_eq!(asked.status(), 200);
    assert_eq!(
        reminders::send_due(&app.state, hours_ahead(4))
            .await
            .unwrap(),
        2
    );
    let db = app.state.db.conn();
    let row = |reminder: Uuid| async move {
        reminders::Entity::find_by_id(reminder)
            .one(db)
            .await
            .unwrap()
            .unwrap()
    };
    let texted = row(ids[0]).await;
    assert_eq!(
        (texted.status.as_str(), texted.channel.as_deref()),
        ("sent", Some("sms"))
    );
    let sysadmin = app.system_admin().await;
    let message = app
        .get_json(
            &sysadmin.token,
            &format!("/admin/outbox/{}", texted.outbox_message_id.unwrap()),
        )
        .await;
    assert_eq!(
        (
            &message["channel"],
            &message["status"],
            &message["recipient"]
        ),
        (&json!("sms"), &json!("held"), &json!("+15550104242"))
    );
    let skipped = row(ids[1]).await;
    assert_eq!(
        skipped.status, "skipped",
        "sms was asked for, and the number has no country code"
    );
    assert_eq!(
        skipped.note.as_deref(),
        Some("the phone number has no country code (E.164)")
    );
    app.stop().await;
}

/// Each reminder was sent by its channel: the text through Twilio, the
/// mails held in the outbox (no mail server here).
async fn each_went_by_its_channel(app: &TestApp, booked: [&Value; 3]) {
    let db = app.state.db.conn();
    let channel_of = |appointment: &Value| {
        let appointment = id(appointment);
        async move {
            let row = reminders::Entity::find()
                .filter(reminders::Column::AppointmentId.eq(appointment))
                .one(db)
                .await
                .unwrap()
                .unwrap();
            (row.status, row.channel, row.outbox_message_id.unwrap())
        }
    };
    let sysadmin = app.system_admin().await;
    for (appointment, channel, status) in [
        (booked[0], "sms", "sent"),
        (booked[1], "email", "held"),
        (booked[2], "email", "held"),
    ] {
        let (reminder_status, went_by, message) = channel_of(appointment).await;
        assert_eq!(
            (reminder_status.as_str(), went_by.as_deref()),
            ("sent", Some(channel))
        );
        let shown = app
            .get_json(&sysadmin.token, &format!("/admin/outbox/{message}"))
            .await;
        assert_eq!(shown["channel"], channel);
        wait_for_status(app, &sysadmin.token, message, status).await;
    }
}
