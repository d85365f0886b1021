//! Migrations, `carebase serve` from nothing to a clean stop, JSON logs,
//! and master key rotation.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{carebase, free_port, text};

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
