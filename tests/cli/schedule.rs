//! `carebase schedule block-weekends`.

use std::process::Output;

use crate::support::{carebase, demo, text};

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
