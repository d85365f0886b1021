//! The `carebase` binary as an operator uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn carebase(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_carebase"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// A client for the spawned server. reqwest is built on rustls without
/// aws-lc (`rustls-no-provider`), so ring must be the process's provider.
fn http_client() -> reqwest::Client {
    carebase::install_tls_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let out = carebase(dir.path(), &[], &["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("carebase {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carebase.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7000\"\nlog_level = \"debug\"\n",
    )
    .unwrap();
    let out = carebase(
        dir.path(),
        &[
            ("CAREBASE_LISTEN", "127.0.0.1:9000"),
            (
                "DATABASE_URL",
                "postgres://app:hunter2@db.internal/carebase",
            ),
            (
                "CAREBASE_SMTP_URL",
                "smtp://mailer:hunter3@mail.internal:587",
            ),
            ("CAREBASE_MAIL_FROM", "Clinic <noreply@clinic.example>"),
        ],
        &["--config", file.to_str().unwrap(), "config", "check"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("listen = \"127.0.0.1:9000\""), "{shown}");
    assert!(shown.contains("log_level = \"debug\""), "{shown}");
    assert!(
        shown.contains("postgres://app:****@db.internal/carebase"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("smtp://mailer:****@mail.internal:587"),
        "{shown}"
    );
    assert!(!shown.contains("hunter3"), "{shown}");
}

#[test]
fn config_check_prints_sections_as_tables_and_warns_of_flat_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carebase.toml");
    std::fs::write(&file, "[identity]\nallow_sign_up = false\n").unwrap();
    let key = dir.path().join("daily-key");
    std::fs::write(&key, "d4ily-s3cret\n").unwrap();
    let out = carebase(
        dir.path(),
        &[
            ("CAREBASE_REMINDER_POLL_SECS", "45"),
            (
                "CAREBASE_MESSAGING__VIDEO_DAILY_API_KEY_FILE",
                key.to_str().unwrap(),
            ),
        ],
        &["--config", file.to_str().unwrap(), "config", "check"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("[identity]\naccess_token_ttl_secs = 600\nallow_sign_up = false\n"),
        "{shown}"
    );
    assert!(shown.contains("[scheduling]\n"), "{shown}");
    assert!(shown.contains("\nreminder_poll_secs = 45\n"), "{shown}");
    assert!(shown.contains("video_daily_api_key = \"****\""), "{shown}");
    assert!(!shown.contains("d4ily-s3cret"), "{shown}");
    let warning = "CAREBASE_REMINDER_POLL_SECS is deprecated: \
                   rename it CAREBASE_SCHEDULING__REMINDER_POLL_SECS";
    assert!(
        shown.contains(&format!("# warning: {warning}\n")),
        "{shown}"
    );
    assert!(text(&out.stderr).contains(warning), "{}", text(&out.stderr));
}

#[test]
fn a_bad_section_value_stops_the_start_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "CAREBASE_SCHEDULING__REMINDER_POLL_SECS",
        "CAREBASE_REMINDER_POLL_SECS",
    ] {
        let out = carebase(dir.path(), &[(name, "0")], &["config", "check"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains("scheduling.reminder_poll_secs: must be at least 1"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn unknown_settings_stop_the_start_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = carebase(
        dir.path(),
        &[("CAREBASE_LISTN", "127.0.0.1:1")],
        &["config", "check"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown environment variable CAREBASE_LISTN"));
}

#[test]
fn migrate_up_status_and_down_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = |args: &[&str]| {
        let mut all = vec!["migrate"];
        all.extend_from_slice(args);
        let out = carebase(dir.path(), &[], &all);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let status = migrate(&["status"]);
    assert!(status.lines().all(|l| l.starts_with("pending")), "{status}");
    let up = migrate(&["up"]);
    assert!(up.contains("applied m20261126_000001_crypto_keys"), "{up}");
    assert!(
        migrate(&["status"])
            .lines()
            .all(|l| l.starts_with("applied"))
    );
    assert!(migrate(&["up"]).contains("no pending migrations"));
    let down = migrate(&["down"]);
    assert_eq!(down.lines().count(), 1, "{down}");
    assert!(migrate(&["down", "--all"]).lines().count() + 1 >= status.lines().count());
    assert!(
        migrate(&["status"])
            .lines()
            .all(|l| l.starts_with("pending"))
    );
    assert!(dir.path().join("carebase-data/carebase.db").exists());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `carebase serve` with nothing configured: SQLite under ./carebase-data,
/// a master key made with mode 0600 and announced without being logged,
/// and a clean exit on SIGTERM.
#[test]
fn serve_starts_from_nothing_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_carebase"))
        .current_dir(dir.path())
        .env_clear()
        .env("CAREBASE_LISTEN", &listen)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut healthy = false;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(mut stream) = std::net::TcpStream::connect(&listen) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            healthy = response.starts_with("HTTP/1.1 200");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let log = text(&out.stderr);
    assert!(healthy, "the server did not answer /health: {log}");
    assert!(out.status.success(), "exit status {:?}: {log}", out.status);
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("carebase stopped"), "{log}");

    let key_path = dir.path().join("carebase-data/master.key");
    assert!(dir.path().join("carebase-data/carebase.db").exists());
    let key_file = std::fs::read_to_string(&key_path).unwrap();
    let secret = key_file.lines().find(|l| l.starts_with("cbk1.")).unwrap();
    assert!(log.contains("created a new master key"), "{log}");
    assert!(
        log.contains("master.key"),
        "the log says where the key is: {log}"
    );
    assert!(
        !log.contains(secret.trim_start_matches("cbk1.")),
        "the key is never logged"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn logs_are_json_lines_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = carebase(dir.path(), &[], &["--log-format", "json", "migrate", "up"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            event["level"].is_string() && event["timestamp"].is_string(),
            "{line}"
        );
    }
}

#[test]
fn keys_rotate_moves_the_database_to_a_new_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = carebase(
        dir.path(),
        &[],
        &["keys", "rotate", "--new-key-file", "next.key"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("rewrapped"), "{said}");
    let next = dir.path().join("next.key");
    assert!(next.exists());
    // The old key is retired: rotating from it again is refused, from the new one works.
    let again = carebase(
        dir.path(),
        &[],
        &["keys", "rotate", "--new-key-file", "third.key"],
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("encrypted with key"),
        "{}",
        text(&again.stderr)
    );
    let from_new = carebase(
        dir.path(),
        &[("CAREBASE_MASTER_KEY_FILE", next.to_str().unwrap())],
        &["keys", "rotate", "--new-key-file", "third.key"],
    );
    assert!(from_new.status.success(), "{}", text(&from_new.stderr));
}

/// `carebase audit verify` as an operator runs it: an error before the
/// schema exists, exit 0 on an intact log, exit 1 naming the event that
/// was changed behind the server's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reports_an_intact_and_a_broken_log() {
    use carebase::audit::{self, AuditAction, AuditActor, AuditEvent};

    let dir = tempfile::tempdir().unwrap();
    let verify = || carebase(dir.path(), &[], &["audit", "verify"]);

    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no audit log yet"),
        "{}",
        text(&out.stderr)
    );

    let migrated = carebase(dir.path(), &[], &["migrate", "up"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let out = verify();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("audit log intact: 0 events"),
        "{}",
        text(&out.stdout)
    );

    let config = carebase::config::Config {
        data_dir: dir.path().join("carebase-data"),
        ..carebase::config::Config::default()
    };
    let db = carebase::db::Database::connect(&config).await.unwrap();
    let events = (0..3)
        .map(|_| {
            AuditEvent::new(
                AuditActor::System {
                    job: "cli-test".to_owned(),
                },
                AuditAction::Read,
                "report",
            )
        })
        .collect();
    let txn = db.begin().await.unwrap();
    let ids = audit::append(&txn, events).await.unwrap();
    txn.commit().await.unwrap();

    let out = verify();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("audit log intact: 3 events"),
        "{}",
        text(&out.stdout)
    );

    let tamper = db.begin().await.unwrap();
    for sql in [
        "DROP TRIGGER audit_events_no_update",
        "UPDATE audit_events SET resource_type = 'nothing' WHERE seq = 2",
    ] {
        sea_orm::ConnectionTrait::execute_unprepared(&tamper, sql)
            .await
            .unwrap();
    }
    tamper.commit().await.unwrap();
    db.close().await;

    let out = verify();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}{}", text(&out.stderr));
    assert!(
        shown.contains("BROKEN") && shown.contains("seq 2") && shown.contains(&ids[1].to_string()),
        "{shown}"
    );
}

/// Runs `carebase admin create` with a password on standard input.
fn create_admin(dir: &Path, env: &[(&str, &str)], email: &str, password: &str) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_carebase"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["admin", "create", "--email", email, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn admin_create_prints_a_setup_code_or_takes_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = carebase(
        dir.path(),
        &[],
        &["admin", "create", "--email", "Root@Clinic.Example"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("is a system administrator"), "{said}");
    assert!(said.contains("POST /auth/accept-invitation"), "{said}");
    let again = create_admin(
        dir.path(),
        &[],
        "root@clinic.example",
        "a long enough password",
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    let said = text(&again.stdout);
    assert!(said.contains("existing account"), "{said}");
    assert!(
        !said.contains("accept-invitation"),
        "no code when a password is given: {said}"
    );
    let weak = create_admin(dir.path(), &[], "other@clinic.example", "short");
    assert!(!weak.status.success());
    assert!(text(&weak.stderr).contains("12 to 256 characters"));
    let bad = carebase(dir.path(), &[], &["admin", "create", "--email", "nope"]);
    assert!(!bad.status.success());
}

/// A whole session of work against the real binary with debug logging:
/// none of the passwords, tokens, emails or patient details appear in its
/// log, at any level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_phi_or_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let env = [
        ("CAREBASE_LOG_LEVEL", "debug"),
        ("CAREBASE_LISTEN", listen.as_str()),
    ];
    let admin_password = "Xylophone-Admin-Passphrase-991";
    let made = create_admin(
        dir.path(),
        &env,
        "sysop.secret@clinic.example",
        admin_password,
    );
    assert!(made.status.success(), "{}", text(&made.stderr));

    let mut server = Command::new(env!("CARGO_BIN_EXE_carebase"));
    server
        .current_dir(dir.path())
        .env_clear()
        .args(["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        server.env(k, v);
    }
    let child = server.spawn().unwrap();
    let base = format!("http://{listen}");
    let client = http_client();
    let started = Instant::now();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let signed_in: serde_json::Value = post(
        "/auth/sign-in",
        None,
        serde_json::json!({"email": "sysop.secret@clinic.example", "password": admin_password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let admin_token = signed_in["access_token"].as_str().unwrap().to_owned();
    let facility: serde_json::Value = post(
        "/facilities",
        Some(&admin_token),
        serde_json::json!({"name": "Log Clinic"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let facility_id = facility["id"].as_str().unwrap().to_owned();
    post(
        &format!("/facilities/{facility_id}/invitations"),
        Some(&admin_token),
        serde_json::json!({"email": "nurse.secret@clinic.example", "role": "nurse"}),
    )
    .await
    .unwrap();
    let outbox: serde_json::Value = client
        .get(format!("{base}/admin/outbox"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invitation = outbox["items"][0]["body"].as_str().unwrap().to_owned();
    let invitation_code = invitation.split_whitespace().last().unwrap().to_owned();
    let nurse_password = "Quetzalcoatl-Nurse-Passphrase-77";
    post(
        "/auth/accept-invitation",
        None,
        serde_json::json!({"token": invitation_code, "password": nurse_password}),
    )
    .await
    .unwrap();
    let nurse: serde_json::Value = post(
        "/auth/sign-in",
        None,
        serde_json::json!({"email": "nurse.secret@clinic.example", "password": nurse_password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let nurse_token = nurse["access_token"].as_str().unwrap().to_owned();
    let refresh_token = nurse["refresh_token"].as_str().unwrap().to_owned();
    let patient: serde_json::Value = post(
        &format!("/facilities/{facility_id}/patients"),
        Some(&nurse_token),
        serde_json::json!({
            "mrn": "LOGMRN-4242", "first_name": "Wilhelmina", "last_name": "Fothergill",
            "date_of_birth": "1950-05-05", "ssn": "078-05-1120", "phone": "+1 555 013 3333",
            "email": "wilhelmina.f@example.org", "allergies": ["shellfish"],
        }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    client
        .get(format!(
            "{base}/facilities/{facility_id}/patients/{patient_id}"
        ))
        .bearer_auth(&nurse_token)
        .send()
        .await
        .unwrap();
    post(
        &format!("/facilities/{facility_id}/patients/search"),
        Some(&nurse_token),
        serde_json::json!({"mrn": "LOGMRN-4242"}),
    )
    .await
    .unwrap();
    post(
        "/auth/refresh",
        None,
        serde_json::json!({"refresh_token": refresh_token}),
    )
    .await
    .unwrap();
    // A failure with a wrong password, and a malformed body quoting PHI.
    post(
        "/auth/sign-in",
        None,
        serde_json::json!({"email": "nurse.secret@clinic.example", "password": "Wrong-Guess-Passphrase-00"}),
    )
    .await
    .unwrap();
    post(
        &format!("/facilities/{facility_id}/patients"),
        Some(&nurse_token),
        serde_json::json!({"mrn": "LOGMRN-9999", "first_name": 12, "last_name": "Fothergill"}),
    )
    .await
    .unwrap();

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("DEBUG"), "the log ran at debug level");
    assert!(log.lines().count() > 20, "{log}");
    let key_file = std::fs::read_to_string(dir.path().join("carebase-data/master.key")).unwrap();
    let master_key = key_file.lines().find(|l| l.starts_with("cbk1.")).unwrap();
    for secret in [
        admin_password,
        nurse_password,
        "Wrong-Guess-Passphrase-00",
        "sysop.secret",
        "nurse.secret",
        &admin_token,
        &nurse_token,
        &refresh_token,
        &invitation_code,
        master_key,
        "Wilhelmina",
        "Fothergill",
        "LOGMRN",
        "078-05-1120",
        "555 013 3333",
        "wilhelmina.f",
        "shellfish",
    ] {
        assert!(
            !log.contains(secret),
            "`{secret}` appears in the log:\n{log}"
        );
    }
}

/// Runs `carebase demo` with `password` on standard input.
fn demo(dir: &Path, env: &[(&str, &str)], args: &[&str], password: &str) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_carebase"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("demo")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `carebase demo` loads a facility the server then serves: its staff sign
/// in, its leads list, its statistics add up, its leads rescore; loading it
/// again is refused, and the audit log stays intact.
async fn demo_scenario(dir: &Path, env: &[(&str, &str)]) {
    let password = "Demo-Staff-Passphrase-2026";
    let out = demo(
        dir,
        env,
        &["--leads", "1200", "--seed", "7", "--password-stdin"],
        password,
    );
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("1200 leads"), "{said}");
    for email in [
        "admin1@demo.carebase.test",
        "staff1@demo.carebase.test",
        "reviewer1@demo.carebase.test",
        "readonly1@demo.carebase.test",
        "sdr1@demo.carebase.test",
        "coach1@demo.carebase.test",
        "crmadmin1@demo.carebase.test",
    ] {
        assert!(said.contains(email), "{said}");
    }
    assert!(!said.contains(password), "a given password is not echoed");
    let facility = said
        .split("(facility ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_owned();

    let again = demo(dir, env, &["--leads", "10"], password);
    assert!(!again.status.success(), "a second load is refused");
    assert!(
        text(&again.stderr).contains("already has a facility named \"Demo Clinic\""),
        "{}",
        text(&again.stderr)
    );

    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_carebase"));
    server
        .current_dir(dir)
        .env_clear()
        .env("CAREBASE_LISTEN", &listen)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        server.env(k, v);
    }
    let child = server.spawn().unwrap();
    let base = format!("http://{listen}");
    let client = http_client();
    let started = Instant::now();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sign_in = |email: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let body: serde_json::Value = client
                .post(format!("{base}/auth/sign-in"))
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let get = |token: String, path: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let sdr = sign_in("sdr1@demo.carebase.test").await;
    let page = get(
        sdr.clone(),
        format!("/facilities/{facility}/leads?view=active&limit=5"),
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{page}");
    assert!(
        items
            .iter()
            .all(|l| l["email"].as_str().unwrap().ends_with("@example.test"))
    );

    let now = carebase::time::Timestamp::now().as_micros();
    let hour = 3_600_000_000;
    let range = format!(
        "from={}&to={}",
        carebase::time::Timestamp::from_micros(now - 365 * 24 * hour - hour),
        carebase::time::Timestamp::from_micros(now + hour)
    );
    let stats = get(
        sdr.clone(),
        format!("/facilities/{facility}/leads/stats/pipeline?{range}"),
    )
    .await;
    assert_eq!(stats["total"], 1200, "{stats}");
    assert_eq!(stats["in_pipeline"], 1200);
    let by_status: u64 = stats["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by_status, 1200);
    assert_eq!(stats["sources"].as_array().unwrap().len(), 10, "{stats}");
    let speed = get(
        sdr,
        format!("/facilities/{facility}/leads/stats/speed-to-lead?{range}"),
    )
    .await;
    assert_eq!(speed["overall"]["leads"], 1200);
    assert!(
        speed["overall"]["contacted"].as_u64().unwrap() > 900,
        "{speed}"
    );
    assert!(speed["overall"]["median_seconds"].as_f64().unwrap() > 0.0);

    // Converted leads are patients on the care journey with their coach;
    // leads and patients have tasks, some of them overdue.
    let coach = sign_in("coach1@demo.carebase.test").await;
    let journeys = get(
        coach.clone(),
        format!("/facilities/{facility}/journeys?limit=200"),
    )
    .await;
    let journeys = journeys["items"].as_array().unwrap();
    assert_eq!(journeys.len(), 6, "1 200 leads make 6 patients");
    assert!(
        journeys
            .iter()
            .all(|j| j["lead_id"].is_string() && j["stage"].is_string())
    );
    let tasks = get(
        coach.clone(),
        format!("/facilities/{facility}/tasks?limit=200"),
    )
    .await;
    assert_eq!(
        tasks["items"].as_array().unwrap().len(),
        66,
        "60 open leads and 6 patients"
    );
    // The coaches have schedules and the next two weeks' bookings.
    let booked = get(
        coach,
        format!("/facilities/{facility}/appointments?limit=200"),
    )
    .await;
    let booked = booked["items"].as_array().unwrap();
    assert!(!booked.is_empty());
    assert!(
        booked.iter().all(|a| a["status"] == "confirmed"),
        "{booked:?}"
    );

    // Three batches: the demo scored each lead as of its last change.
    let admin = sign_in("admin1@demo.carebase.test").await;
    let rescored: serde_json::Value = client
        .post(format!("{base}/facilities/{facility}/leads/rescore"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rescored["rescored"], 1200, "{rescored}");
    assert!(rescored["changed"].as_u64().unwrap() > 0, "{rescored}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verified = carebase(dir, env, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}{}",
        text(&verified.stdout),
        text(&verified.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_a_facility_the_server_serves_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    demo_scenario(dir.path(), &[]).await;
}

/// The same seed loads the same leads: the same statuses, sources, stages
/// reached and first-contact delays, in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_the_same_leads_from_the_same_seed() {
    use sqlx::Connection;
    let mut loads = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let out = demo(
            dir.path(),
            &[],
            &["--leads", "150", "--seed", "42", "--password-stdin"],
            "Demo-Staff-Passphrase-2026",
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let url = format!(
            "sqlite://{}",
            dir.path().join("carebase-data/carebase.db").display()
        );
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows: Vec<(String, String, String, i32, Option<i64>, i64)> = sqlx::query_as(
            "SELECT l.status, l.source, l.readiness, l.number_of_calls, \
             l.first_contacted_at - l.created_at, s.position \
             FROM leads l JOIN pipeline_stages s ON s.id = l.stage_id ORDER BY l.id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        assert_eq!(rows.len(), 150);
        loads.push(rows);
    }
    assert_eq!(loads[0], loads[1]);
}

/// As on SQLite, on a fresh PostgreSQL database when
/// CAREBASE_TEST_POSTGRES_URL names a server.
#[cfg_attr(
    not(carebase_test_postgres),
    ignore = "no PostgreSQL: set CAREBASE_TEST_POSTGRES_URL or run one on 127.0.0.1:5432"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_a_facility_the_server_serves_on_postgres() {
    use sqlx::Connection;
    let admin_url = std::env::var("CAREBASE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty() && u != "off")
        .or_else(|| option_env!("CAREBASE_TEST_POSTGRES_BUILT_WITH").map(str::to_owned))
        .expect("a PostgreSQL was found when the tests were built");
    let name = format!("carebase_demo_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let server = &base[..base.rfind('/').unwrap()];
    let url = format!("{server}/{name}{query}");
    let dir = tempfile::tempdir().unwrap();
    demo_scenario(dir.path(), &[("CAREBASE_DATABASE_URL", url.as_str())]).await;
    assert!(
        !dir.path().join("carebase-data/carebase.db").exists(),
        "it ran on PostgreSQL, not on a SQLite file"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// `carebase schedule block-weekends` blocks the weekends of the coming
/// months in the facility's time zone, and a second run adds nothing.
#[test]
fn schedule_block_weekends_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = demo(dir.path(), &[], &["--leads", "20"], "demo staff passphrase");
    assert!(loaded.status.success(), "{}", text(&loaded.stderr));
    let weekend_days = |out: &Output| -> (u32, u32) {
        let line = text(&out.stdout);
        let numbers: Vec<u32> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        (numbers[0], numbers[1])
    };
    let first = carebase(
        dir.path(),
        &[],
        &["schedule", "block-weekends", "--months", "6"],
    );
    assert!(first.status.success(), "{}", text(&first.stderr));
    let (added, already) = weekend_days(&first);
    // Six months hold 51 to 54 weekend days; the demo blocked the first three.
    assert!(
        (51..=54).contains(&(added + already)),
        "{}",
        text(&first.stdout)
    );
    assert!((24..=28).contains(&already), "{}", text(&first.stdout));
    let again = carebase(
        dir.path(),
        &[],
        &["schedule", "block-weekends", "--months", "6"],
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(weekend_days(&again), (0, added + already));
    let unknown = carebase(
        dir.path(),
        &[],
        &[
            "schedule",
            "block-weekends",
            "--facility",
            "01900000-0000-7000-8000-000000000000",
        ],
    );
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("there is no facility"));
    let verify = carebase(dir.path(), &[], &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
}
