//! `carebase --version` and `carebase config check`: the effective
//! configuration, its sections, and the values and names that stop a start.

use crate::support::{carebase, text};

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
