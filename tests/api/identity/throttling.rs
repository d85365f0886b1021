//! Failed sign-ins slow the attacker, not the owner: one address guessing
//! one account is blocked, an account guessed from everywhere still lets
//! its owner in from an address it signed in from before, a busy address
//! is slowed down but never refuses valid credentials, and forwarding
//! headers count only from a trusted proxy.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::on_both_backends;
use crate::support::{PASSWORD, TestApp, TestBackend, problem, unique_email};

on_both_backends!(
    a_guesser_is_blocked_and_the_owner_is_not,
    a_busy_address_is_slowed_but_lets_valid_credentials_in,
    forwarding_headers_count_only_from_a_trusted_proxy,
    mail_sending_requests_are_limited_and_answer_alike,
);

/// Signs in as `email` from `address` (through the trusted proxy).
async fn sign_in_from(
    app: &TestApp,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/auth/sign-in"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn behind_a_proxy(backend: TestBackend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await
}

async fn a_guesser_is_blocked_and_the_owner_is_not(backend: TestBackend) {
    let app = behind_a_proxy(backend).await;
    let (_, owner) = app.account(&[]).await;
    for _ in 0..5 {
        sign_in_from(&app, "203.0.113.66", &owner, "guess guess guess").await;
    }
    let guesser = sign_in_from(&app, "203.0.113.66", &owner, PASSWORD).await;
    assert!(guesser.headers().get("retry-after").is_some());
    problem(guesser, 429, "too-many-requests").await;
    // The owner, elsewhere, is not locked out by that guesser.
    let home = sign_in_from(&app, "198.51.100.10", &owner, PASSWORD).await;
    assert_eq!(home.status(), 200);
    // A guessing run from many addresses blocks the account for new
    // addresses only: the owner's known address still gets in.
    for n in 0..20 {
        let address = format!("192.0.2.{}", n + 1);
        sign_in_from(&app, &address, &owner, "guess guess guess").await;
    }
    let stranger = sign_in_from(&app, "192.0.2.200", &owner, PASSWORD).await;
    problem(stranger, 429, "too-many-requests").await;
    let home = sign_in_from(&app, "198.51.100.10", &owner, PASSWORD).await;
    assert_eq!(home.status(), 200, "a known address is not locked");
    // An unknown email is throttled alike: nothing tells them apart.
    let nobody = unique_email();
    for _ in 0..5 {
        sign_in_from(&app, "203.0.113.66", &nobody, "guess guess guess").await;
    }
    let blocked = sign_in_from(&app, "203.0.113.66", &nobody, PASSWORD).await;
    problem(blocked, 429, "too-many-requests").await;
    app.stop().await;
}

async fn a_busy_address_is_slowed_but_lets_valid_credentials_in(backend: TestBackend) {
    let app = behind_a_proxy(backend).await;
    let clinic = "198.51.100.77";
    for _ in 0..30 {
        sign_in_from(&app, clinic, &unique_email(), "guess guess guess").await;
    }
    let started = Instant::now();
    let failed = sign_in_from(&app, clinic, &unique_email(), "guess guess guess").await;
    assert_eq!(failed.status(), 401);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "a failure from a busy address is answered slowly"
    );
    let (_, colleague) = app.account(&[]).await;
    let valid = sign_in_from(&app, clinic, &colleague, PASSWORD).await;
    assert_eq!(valid.status(), 200, "valid credentials are never refused");
    app.stop().await;
}

/// Without `trusted_proxies`, a client naming other addresses in
/// `X-Forwarded-For` is still the address it connects from.
async fn forwarding_headers_count_only_from_a_trusted_proxy(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (_, owner) = app.account(&[]).await;
    for n in 0..5 {
        let posing_as = format!("192.0.2.{}", n + 1);
        sign_in_from(&app, &posing_as, &owner, "guess guess guess").await;
    }
    let blocked = sign_in_from(&app, "192.0.2.99", &owner, PASSWORD).await;
    problem(blocked, 429, "too-many-requests").await;
    app.stop().await;
}

/// Recovery and sign-up answer alike for a registered and an unknown
/// address, and are limited per email and per client address, known and
/// unknown emails alike.
async fn mail_sending_requests_are_limited_and_answer_alike(backend: TestBackend) {
    let app = behind_a_proxy(backend).await;
    let (_, registered) = app.account(&[]).await;
    let unknown = unique_email();
    let recover = |email: String, address: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/auth/recover"))
                .header("x-forwarded-for", address)
                .json(&json!({ "email": email }))
                .send()
                .await
                .unwrap()
        }
    };
    for email in [&registered, &unknown] {
        let mut answers = Vec::new();
        for _ in 0..3 {
            let answer = recover(email.clone(), "198.51.100.5").await;
            assert_eq!(answer.status(), 202);
            answers.push(answer.text().await.unwrap());
        }
        assert!(answers.iter().all(|a| a.contains("sent_if_registered")));
        let limited = recover(email.clone(), "198.51.100.6").await;
        assert!(limited.headers().get("retry-after").is_some());
        problem(limited, 429, "too-many-requests").await;
    }
    // A sign-up with a taken address answers as one with a new address.
    let sign_up = |email: &str| {
        let body = json!({"email": email, "password": "a long enough passphrase"});
        app.client
            .post(app.url("/auth/sign-up"))
            .header("x-forwarded-for", "198.51.100.8")
            .json(&body)
            .send()
    };
    let (_, taken) = app.account(&[]).await;
    let taken_answer = sign_up(&taken).await.unwrap();
    let new_answer = sign_up(&unique_email()).await.unwrap();
    assert_eq!(taken_answer.status(), new_answer.status());
    assert_eq!(
        taken_answer.text().await.unwrap(),
        new_answer.text().await.unwrap()
    );
    app.mail_to(&taken, "already_registered").await;
    // One address asking for many emails is limited too.
    let mut last = 0;
    for _ in 0..21 {
        last = recover(unique_email(), "203.0.113.50")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    app.stop().await;
}
