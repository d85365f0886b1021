//! `carebase admin create`.

use crate::support::{carebase, create_admin, text};

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
