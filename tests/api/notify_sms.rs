//! Text messages through Twilio (a local stand-in speaking its protocol):
//! delivered and marked sent; throttled or failing on Twilio's side,
//! retried later; refused (a bad number, bad credentials), failed for good
//! with Twilio's status and code and nothing of the number or text.

use std::time::{Duration, Instant};

use carebase::AppState;
use carebase::config::{Config, SecretString};
use carebase::notify::settings::NotifySettings;
use carebase::notify::{self, Channel, NotifyError, OutboxMessage, OutboxStatus, OutgoingMessage};

use crate::on_both_backends;
use crate::support::TestBackend;
use crate::support::TestDatabase;
use crate::support::fake_twilio::{self, FakeTwilio};

on_both_backends!(
    a_text_is_delivered_through_twilio_and_marked_sent,
    twilio_s_refusals_fail_and_its_throttling_is_retried,
);

const NUMBER: &str = "+15550104242";
const TEXT: &str = "Reminder: your appointment at MiKO Clinic on Tuesday at 09:00.";

fn use_twilio(config: &mut Config, base: &str, token: &str, service: bool) {
    config.edit_section(|s: &mut NotifySettings| {
        s.twilio_account_sid = Some(fake_twilio::ACCOUNT_SID.to_owned());
        s.twilio_auth_token = Some(SecretString::new(token.to_owned()));
        if service {
            s.twilio_messaging_service_sid = Some("MG0000000000000000000000000000000a".to_owned());
        } else {
            s.sms_from = Some(fake_twilio::FROM.to_owned());
        }
        s.twilio_base_url = Some(base.to_owned());
    });
}

/// A server on a new database texting through `twilio`, its delivery
/// worker running until the returned token is cancelled.
async fn texting(
    backend: TestBackend,
    twilio: &FakeTwilio,
    token: &str,
    service: bool,
) -> (TestDatabase, AppState, tokio_util::sync::CancellationToken) {
    let base = twilio.start().await;
    let db = TestDatabase::create(backend).await;
    let mut config = db.config();
    use_twilio(&mut config, &base, token, service);
    let state = AppState::open(config).await.unwrap();
    let notifier = state.ext::<notify::Notifier>();
    assert!(notifier.delivers(Channel::Sms) && !notifier.delivers(Channel::Email));
    let stop = tokio_util::sync::CancellationToken::new();
    notifier
        .spawn_delivery(stop.clone())
        .expect("a worker for the texts");
    (db, state, stop)
}

async fn send(state: &AppState, message: OutgoingMessage) -> Result<uuid::Uuid, NotifyError> {
    let txn = state.db.begin().await.unwrap();
    let id = state.ext::<notify::Notifier>().send(&txn, message).await?;
    txn.commit().await.unwrap();
    Ok(id)
}

async fn wait_until(
    state: &AppState,
    id: uuid::Uuid,
    done: impl Fn(&OutboxMessage) -> bool,
) -> OutboxMessage {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let message = notify::get(state.db.conn(), &state.keyring, id)
            .await
            .unwrap()
            .unwrap();
        if done(&message) {
            return message;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {message:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_text_is_delivered_through_twilio_and_marked_sent(backend: TestBackend) {
    let twilio = FakeTwilio::default();
    let (_db, state, stop) = texting(backend, &twilio, fake_twilio::AUTH_TOKEN, true).await;
    let refused = send(&state, OutgoingMessage::sms("555 0104", TEXT, "test")).await;
    assert!(
        matches!(refused, Err(NotifyError::InvalidRecipient(_))),
        "a number without its country code is refused before it is written"
    );
    let id = send(
        &state,
        OutgoingMessage::sms(NUMBER, TEXT, "appointment_reminder"),
    )
    .await
    .unwrap();
    let sent = wait_until(&state, id, |m| m.status == OutboxStatus::Sent).await;
    assert_eq!((sent.attempts, sent.last_error.as_deref()), (1, None));
    assert!(sent.sent_at.is_some());
    let texts = twilio.accepted();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].to, NUMBER);
    assert_eq!(texts[0].body, TEXT);
    assert_eq!(texts[0].from, None);
    assert_eq!(
        texts[0].messaging_service_sid.as_deref(),
        Some("MG0000000000000000000000000000000a"),
        "the Messaging Service picks the number"
    );
    // Email has no transport here: it is held, never sent.
    let email = send(
        &state,
        OutgoingMessage::email("a@example.org", "Hello", "Body", "test"),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let held = notify::get(state.db.conn(), &state.keyring, email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((held.status, held.attempts), (OutboxStatus::Held, 0));
    stop.cancel();
    state.db.close().await;
}

async fn twilio_s_refusals_fail_and_its_throttling_is_retried(backend: TestBackend) {
    let twilio = FakeTwilio::default();
    let (_db, state, stop) = texting(backend, &twilio, fake_twilio::AUTH_TOKEN, false).await;
    twilio.fail_next(429, 20429);
    let throttled = send(&state, OutgoingMessage::sms(NUMBER, TEXT, "test"))
        .await
        .unwrap();
    let waiting = wait_until(&state, throttled, |m| m.attempts == 1).await;
    assert_eq!(waiting.status, OutboxStatus::Pending, "tried again later");
    assert_eq!(waiting.last_error.as_deref(), Some("twilio 429 20429"));
    assert!(waiting.next_attempt_at > waiting.created_at);

    twilio.fail_next(400, 21211);
    let refused = send(&state, OutgoingMessage::sms("+15550109999", TEXT, "test"))
        .await
        .unwrap();
    let failed = wait_until(&state, refused, |m| m.status == OutboxStatus::Failed).await;
    assert_eq!(failed.attempts, 1, "a refusal is not retried");
    assert_eq!(failed.last_error.as_deref(), Some("twilio 400 21211"));
    assert_eq!(failed.body, TEXT, "it stays readable in the outbox");
    assert!(twilio.accepted().is_empty());
    stop.cancel();
    state.db.close().await;

    // The wrong token: Twilio's 401 fails the text; the token is nowhere.
    let wrong = FakeTwilio::default();
    let (_db, state, stop) = texting(backend, &wrong, "not-the-token", false).await;
    let id = send(&state, OutgoingMessage::sms(NUMBER, TEXT, "test"))
        .await
        .unwrap();
    let failed = wait_until(&state, id, |m| m.status == OutboxStatus::Failed).await;
    assert_eq!(failed.last_error.as_deref(), Some("twilio 401 20003"));
    assert_eq!(wrong.requests(), 1);
    assert!(!format!("{:?}", state.ext::<notify::Notifier>()).contains("not-the-token"));
    stop.cancel();
    state.db.close().await;
}
