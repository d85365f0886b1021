//! The notifier: messages written in the caller's transaction, sealed at
//! rest, held for an administrator without SMTP, delivered exactly once by
//! competing servers with SMTP, retried after temporary refusals.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use carebase::AppState;
use carebase::config::{Config, SecretString};
use carebase::notify::outbox;
use carebase::notify::settings::NotifySettings;
use carebase::notify::{self, Channel, NotifyError, OutboxMessage, OutboxStatus, OutgoingMessage};
use carebase::policy::Permission;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use tokio_util::sync::CancellationToken;

use crate::on_both_backends;
use crate::support::fake_smtp::FakeSmtp;
use crate::support::matrix::{BoxFuture, Case, Grant, Records};
use crate::support::{TestApp, TestBackend, TestDatabase};

on_both_backends!(
    without_smtp_messages_are_held_sealed_and_readable,
    the_outbox_lists_newest_first_page_by_page,
    with_smtp_email_is_delivered_and_marked_sent,
    two_servers_deliver_each_message_exactly_once,
    a_temporary_refusal_is_retried_later,
    a_permanent_refusal_fails_the_message_and_keeps_it_readable,
    an_expired_claim_is_taken_over_and_a_live_one_is_left_alone,
    a_stopping_worker_hands_back_what_it_did_not_send,
);

const RECIPIENT: &str = "quentin.quuxworth@example.org";
const SUBJECT: &str = "Confirm your email";
const BODY: &str = "Your confirmation code is K7Q2-SECRET-TOKEN.";
const WAIT: Duration = Duration::from_secs(30);

fn confirmation() -> OutgoingMessage {
    OutgoingMessage::email(RECIPIENT, SUBJECT, BODY, "confirm_email")
}

fn use_smtp(config: &mut Config, smtp: &FakeSmtp) {
    config.edit_section(|s: &mut NotifySettings| {
        s.smtp_url = Some(SecretString::new(smtp.url()));
        s.mail_from = Some("Carebase Test <noreply@carebase.test>".to_owned());
    });
}

/// Writes `message` in a transaction of its own and commits it.
async fn send(state: &AppState, message: OutgoingMessage) -> uuid::Uuid {
    let txn = state.db.begin().await.unwrap();
    let id = state
        .ext::<carebase::notify::Notifier>()
        .send(&txn, message)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    id
}

async fn read(state: &AppState, id: uuid::Uuid) -> OutboxMessage {
    notify::get(state.db.conn(), &state.keyring, id)
        .await
        .unwrap()
        .expect("the message is in the outbox")
}

/// Polls message `id` until `done` holds for it.
async fn wait_until(
    state: &AppState,
    id: uuid::Uuid,
    done: impl Fn(&OutboxMessage) -> bool,
) -> OutboxMessage {
    let deadline = Instant::now() + WAIT;
    loop {
        let message = read(state, id).await;
        if done(&message) {
            return message;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {message:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn without_smtp_messages_are_held_sealed_and_readable(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let state = AppState::open(db.config()).await.unwrap();
    assert!(!state.ext::<carebase::notify::Notifier>().delivers_email());

    let id = send(&state, confirmation()).await;
    let txn = state.db.begin().await.unwrap();
    state
        .ext::<carebase::notify::Notifier>()
        .send(
            &txn,
            OutgoingMessage::email(
                "rolled.back@example.org",
                "Invitation",
                "never",
                "invitation",
            ),
        )
        .await
        .unwrap();
    txn.rollback().await.unwrap();

    let listed = notify::list(state.db.conn(), &state.keyring, None, 50, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "the rolled-back message is not there");
    let held = &listed[0];
    assert_eq!(held.id, id);
    assert_eq!(held.channel, Channel::Email);
    assert_eq!(held.status, OutboxStatus::Held);
    assert_eq!(held.recipient, RECIPIENT);
    assert_eq!(held.subject, SUBJECT);
    assert_eq!(held.body, BODY);
    assert_eq!(held.kind, "confirm_email");
    assert_eq!((held.attempts, held.sent_at), (0, None));
    assert_eq!(read(&state, id).await.body, BODY);
    let json = serde_json::to_value(held).unwrap();
    assert_eq!(json["status"], "held");
    assert_eq!(json["body"], BODY);

    let pending = notify::list(
        state.db.conn(),
        &state.keyring,
        None,
        50,
        Some(OutboxStatus::Pending),
    )
    .await
    .unwrap();
    assert!(pending.is_empty());

    let backend = state.db.conn().get_database_backend();
    let rows = state
        .db
        .conn()
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT recipient, subject, body, kind FROM outbox",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for column in ["recipient", "subject", "body"] {
        let stored: Vec<u8> = rows[0].try_get("", column).unwrap();
        for secret in [RECIPIENT, "quuxworth", SUBJECT, "K7Q2-SECRET-TOKEN"] {
            assert!(
                !stored
                    .windows(secret.len())
                    .any(|w| w.eq_ignore_ascii_case(secret.as_bytes())),
                "{column} holds `{secret}` in plaintext"
            );
        }
    }
    let kind: String = rows[0].try_get("", "kind").unwrap();
    assert_eq!(kind, "confirm_email");
    state.db.close().await;
}

async fn the_outbox_lists_newest_first_page_by_page(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let state = AppState::open(db.config()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let message = OutgoingMessage::email(
            format!("patient{i}@example.org"),
            "Reminder",
            format!("message {i}"),
            "recovery",
        );
        ids.push(send(&state, message).await);
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = notify::list(state.db.conn(), &state.keyring, after, 2, None)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|m| m.id));
    }
    assert_eq!(seen, ids, "newest first, each once");

    let unknown = notify::list(
        state.db.conn(),
        &state.keyring,
        Some(carebase::db::new_id()),
        2,
        None,
    )
    .await;
    assert!(matches!(unknown, Err(NotifyError::UnknownCursor(_))));
    assert!(
        notify::get(state.db.conn(), &state.keyring, carebase::db::new_id())
            .await
            .unwrap()
            .is_none()
    );
    state.db.close().await;
}

async fn with_smtp_email_is_delivered_and_marked_sent(backend: TestBackend) {
    let smtp = FakeSmtp::start().await;
    let app = TestApp::spawn_with(backend, |c| use_smtp(c, &smtp)).await;
    let state = &app.state;
    assert!(state.ext::<carebase::notify::Notifier>().delivers_email());

    let txn = state.db.begin().await.unwrap();
    let id = state
        .ext::<carebase::notify::Notifier>()
        .send(&txn, confirmation())
        .await
        .unwrap();
    let sms = OutgoingMessage {
        channel: Channel::Sms,
        to: "+15550100".to_owned(),
        subject: String::new(),
        body: "Your code is 1234".to_owned(),
        kind: "confirm_phone",
        ..OutgoingMessage::email("", "", "", "confirm_phone")
    };
    let sms_id = state
        .ext::<carebase::notify::Notifier>()
        .send(&txn, sms)
        .await
        .unwrap();
    txn.commit().await.unwrap();

    let received = smtp.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.from, "noreply@carebase.test");
    assert_eq!(mail.to, vec![RECIPIENT.to_owned()]);
    assert!(mail.data.contains(BODY), "{}", mail.data);
    assert!(
        mail.data.contains(&format!("Subject: {SUBJECT}")),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains(&format!("Message-ID: <{id}@carebase.test>")),
        "{}",
        mail.data
    );

    let sent = wait_until(state, id, |m| m.status == OutboxStatus::Sent).await;
    assert_eq!(sent.attempts, 1);
    assert!(sent.sent_at.is_some());
    assert_eq!(sent.last_error, None);
    assert_eq!(
        read(state, sms_id).await.status,
        OutboxStatus::Held,
        "there is no SMS transport: SMS is held"
    );
    app.stop().await;
    assert_eq!(smtp.received().len(), 1);
}

async fn two_servers_deliver_each_message_exactly_once(backend: TestBackend) {
    let smtp = FakeSmtp::start().await;
    let db = TestDatabase::create(backend).await;
    let mut config = db.config();
    use_smtp(&mut config, &smtp);
    let (a, b) = tokio::join!(
        AppState::open(config.clone()),
        AppState::open(config.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());

    let txn = a.db.begin().await.unwrap();
    for i in 0..20 {
        let message = OutgoingMessage::email(
            format!("patient{i}@example.org"),
            "Appointment reminder",
            format!("See you tomorrow, patient {i}."),
            "reminder",
        );
        a.ext::<carebase::notify::Notifier>()
            .send(&txn, message)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();

    let stop = CancellationToken::new();
    let workers = [
        a.ext::<carebase::notify::Notifier>()
            .spawn_delivery(stop.clone())
            .unwrap(),
        b.ext::<carebase::notify::Notifier>()
            .spawn_delivery(stop.clone())
            .unwrap(),
    ];
    smtp.wait_for(20, Duration::from_secs(60)).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let sent = notify::list(a.db.conn(), &a.keyring, None, 50, Some(OutboxStatus::Sent))
            .await
            .unwrap();
        if sent.len() == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "only {} marked sent", sent.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    for worker in workers {
        worker.await.unwrap();
    }

    let received = smtp.received();
    assert_eq!(received.len(), 20, "each message exactly once");
    let recipients: HashSet<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(recipients.len(), 20);
    a.db.close().await;
    b.db.close().await;
}

async fn a_temporary_refusal_is_retried_later(backend: TestBackend) {
    let smtp = FakeSmtp::start().await;
    smtp.refuse_with(Some("451 4.3.0 mailbox busy, try again later"));
    let app = TestApp::spawn_with(backend, |c| use_smtp(c, &smtp)).await;
    let state = &app.state;
    let before = Timestamp::now();
    let id = send(state, confirmation()).await;

    let deferred = wait_until(state, id, |m| m.attempts == 1).await;
    assert_eq!(deferred.status, OutboxStatus::Pending);
    assert_eq!(deferred.last_error.as_deref(), Some("smtp 451"));
    assert!(
        deferred.next_attempt_at >= before.saturating_add(Duration::from_secs(60)),
        "retried a minute later at the earliest: {}",
        deferred.next_attempt_at
    );
    assert!(smtp.refusals() >= 1);
    assert!(smtp.received().is_empty());

    // The relay is back, and the minute has passed.
    smtp.refuse_with(None);
    state
        .db
        .execute_unprepared("UPDATE outbox SET next_attempt_at = 0")
        .await
        .unwrap();
    let received = smtp.wait_for(1, WAIT).await;
    assert_eq!(received[0].to, vec![RECIPIENT.to_owned()]);
    let sent = wait_until(state, id, |m| m.status == OutboxStatus::Sent).await;
    assert_eq!(sent.attempts, 2);
    assert_eq!(sent.last_error, None);
    app.stop().await;
    assert_eq!(smtp.received().len(), 1);
}

async fn a_permanent_refusal_fails_the_message_and_keeps_it_readable(backend: TestBackend) {
    let smtp = FakeSmtp::start().await;
    smtp.refuse_with(Some("550 5.1.1 no such user here"));
    let app = TestApp::spawn_with(backend, |c| use_smtp(c, &smtp)).await;
    let state = &app.state;
    let id = send(state, confirmation()).await;

    let failed = wait_until(state, id, |m| m.status == OutboxStatus::Failed).await;
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.last_error.as_deref(), Some("smtp 550"));
    assert_eq!(failed.body, BODY, "an administrator can still read it");
    assert!(smtp.received().is_empty());
    app.stop().await;
}

async fn an_expired_claim_is_taken_over_and_a_live_one_is_left_alone(backend: TestBackend) {
    let smtp = FakeSmtp::start().await;
    let db = TestDatabase::create(backend).await;
    let mut config = db.config();
    use_smtp(&mut config, &smtp);
    let state = AppState::open(config).await.unwrap();
    let abandoned = send(&state, confirmation()).await;
    let in_flight = send(
        &state,
        OutgoingMessage::email("other@example.org", "Invitation", "Join us", "invitation"),
    )
    .await;
    // One server crashed mid-send long ago; another is sending right now.
    let long_ago: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let in_an_hour = Timestamp::now().saturating_add(Duration::from_secs(3600));
    for (id, claimed_until) in [(abandoned, long_ago), (in_flight, in_an_hour)] {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Sending))
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(claimed_until))
            .filter(outbox::Column::Id.eq(id))
            .exec(state.db.conn())
            .await
            .unwrap();
    }

    let stop = CancellationToken::new();
    let worker = state
        .ext::<carebase::notify::Notifier>()
        .spawn_delivery(stop.clone())
        .unwrap();
    let received = smtp.wait_for(1, WAIT).await;
    assert_eq!(received[0].to, vec![RECIPIENT.to_owned()]);
    wait_until(&state, abandoned, |m| m.status == OutboxStatus::Sent).await;
    // Two more polls: the live claim stays with the server that holds it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(read(&state, in_flight).await.status, OutboxStatus::Sending);
    assert_eq!(smtp.received().len(), 1);
    stop.cancel();
    worker.await.unwrap();
    state.db.close().await;
}

async fn a_stopping_worker_hands_back_what_it_did_not_send(backend: TestBackend) {
    let smtp = FakeSmtp::start().await;
    smtp.slow_down(Duration::from_millis(300));
    let db = TestDatabase::create(backend).await;
    let mut config = db.config();
    use_smtp(&mut config, &smtp);
    let state = AppState::open(config).await.unwrap();
    let txn = state.db.begin().await.unwrap();
    for i in 0..5 {
        let message = OutgoingMessage::email(
            format!("patient{i}@example.org"),
            "Reminder",
            format!("message {i}"),
            "reminder",
        );
        state
            .ext::<carebase::notify::Notifier>()
            .send(&txn, message)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();

    let stop = CancellationToken::new();
    let worker = state
        .ext::<carebase::notify::Notifier>()
        .spawn_delivery(stop.clone())
        .unwrap();
    smtp.wait_for(1, WAIT).await;
    stop.cancel();
    worker.await.unwrap();

    let all = notify::list(state.db.conn(), &state.keyring, None, 50, None)
        .await
        .unwrap();
    let sent = all
        .iter()
        .filter(|m| m.status == OutboxStatus::Sent)
        .count();
    assert!((1..5).contains(&sent), "{all:?}");
    assert_eq!(sent, smtp.received().len());
    assert!(
        all.iter()
            .all(|m| matches!(m.status, OutboxStatus::Sent | OutboxStatus::Pending)),
        "nothing is left claimed: {all:?}"
    );

    // The next start delivers the rest, and nothing twice.
    let stop = CancellationToken::new();
    let worker = state
        .ext::<carebase::notify::Notifier>()
        .spawn_delivery(stop.clone())
        .unwrap();
    smtp.wait_for(5, WAIT).await;
    stop.cancel();
    worker.await.unwrap();
    let received = smtp.received();
    assert_eq!(received.len(), 5);
    let recipients: HashSet<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(recipients.len(), 5);
    state.db.close().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("read outbox", Method::GET, P::OUTBOX_READ, |_, _| {
            "/admin/outbox".to_owned()
        })
        .grant(Grant::Installation),
        Case::new(
            "read facility outbox",
            Method::GET,
            P::OUTBOX_READ,
            |r, _| format!("/facilities/{f}/outbox", f = r.facility),
        ),
        Case::new(
            "read outbox message",
            Method::GET,
            P::OUTBOX_READ,
            |_, message| format!("/admin/outbox/{message}"),
        )
        .grant(Grant::Installation)
        .fresh(fresh_message),
        Case::new(
            "read facility outbox message",
            Method::GET,
            P::OUTBOX_READ,
            |r, message| format!("/facilities/{f}/outbox/{message}", f = r.facility),
        )
        .fresh(fresh_message),
    ]
}

/// An invitation the facility's administrator sends, as it waits in the
/// outbox.
fn fresh_message<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, uuid::Uuid> {
    Box::pin(async move {
        let facility = records.facility;
        let invited = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{facility}/invitations"),
                Some(serde_json::json!({"email": crate::support::unique_email(), "role": "nurse"})),
            )
            .await;
        assert_eq!(invited.status(), 201);
        let page = app
            .get_json(
                &records.admin_token,
                &format!("/facilities/{facility}/outbox?limit=1"),
            )
            .await;
        page["items"][0]["id"].as_str().unwrap().parse().unwrap()
    })
}
