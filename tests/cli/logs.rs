//! What the server's log leaves out.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{create_admin, free_port, http_client, text};

const ADMIN_PASSWORD: &str = "Xylophone-Admin-Passphrase-991";
const NURSE_PASSWORD: &str = "Quetzalcoatl-Nurse-Passphrase-77";

/// The server under test and the way to reach it.
struct Session {
    client: reqwest::Client,
    base: String,
}

impl Session {
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> serde_json::Value {
        self.post(path, token, body).await.json().await.unwrap()
    }
}

/// What the administrator's part of the session handed out.
struct Admin {
    token: String,
    facility_id: String,
}

/// What the nurse's part of the session handed out.
struct Nurse {
    invitation_code: String,
    token: String,
    refresh_token: String,
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
    let child = start_with_an_admin(dir.path(), &env);
    let session = Session {
        client: http_client(),
        base: format!("http://{listen}"),
    };
    wait_until_up(&session).await;
    let admin = open_a_facility(&session).await;
    let nurse = invite_and_sign_in_a_nurse(&session, &admin).await;
    work_with_a_patient(&session, &admin.facility_id, &nurse).await;
    let log = stop_and_read_the_log(child);
    assert_the_log_keeps_secrets(dir.path(), &log, &admin, &nurse);
    the_operator_reads_a_message_in_full(dir.path(), &nurse);
}

/// `carebase outbox --to` shows the operator a message with its code: the
/// way to pass codes on without a mail server, since the API shows no one
/// a code meant for someone else.
fn the_operator_reads_a_message_in_full(dir: &Path, nurse: &Nurse) {
    let shown =
        crate::support::carebase(dir, &[], &["outbox", "--to", "nurse.secret@clinic.example"]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let said = text(&shown.stdout);
    assert!(said.contains("invitation"), "{said}");
    assert!(said.contains(&nurse.invitation_code), "{said}");
    let nobody = crate::support::carebase(dir, &[], &["outbox", "--to", "nobody@clinic.example"]);
    assert!(text(&nobody.stdout).contains("no message to"));
}

/// Makes the system administrator, then starts `carebase serve`.
fn start_with_an_admin(dir: &Path, env: &[(&str, &str)]) -> Child {
    let made = create_admin(dir, env, "sysop.secret@clinic.example", ADMIN_PASSWORD);
    assert!(made.status.success(), "{}", text(&made.stderr));

    let mut server = Command::new(env!("CARGO_BIN_EXE_carebase"));
    server
        .current_dir(dir)
        .env_clear()
        .args(["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        server.env(k, v);
    }
    server.spawn().unwrap()
}

async fn wait_until_up(session: &Session) {
    let started = Instant::now();
    while session
        .client
        .get(format!("{}/health", session.base))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The administrator signs in and opens a facility.
async fn open_a_facility(session: &Session) -> Admin {
    let signed_in = session
        .post_json(
            "/auth/sign-in",
            None,
            serde_json::json!({"email": "sysop.secret@clinic.example", "password": ADMIN_PASSWORD}),
        )
        .await;
    let admin_token = signed_in["access_token"].as_str().unwrap().to_owned();
    let facility = session
        .post_json(
            "/facilities",
            Some(&admin_token),
            serde_json::json!({"name": "Log Clinic"}),
        )
        .await;
    Admin {
        token: admin_token,
        facility_id: facility["id"].as_str().unwrap().to_owned(),
    }
}

/// The administrator invites a nurse, who accepts from the mailed code and
/// signs in.
async fn invite_and_sign_in_a_nurse(session: &Session, admin: &Admin) -> Nurse {
    let facility_id = &admin.facility_id;
    session
        .post(
            &format!("/facilities/{facility_id}/invitations"),
            Some(&admin.token),
            serde_json::json!({"email": "nurse.secret@clinic.example", "role": "nurse"}),
        )
        .await;
    let outbox: serde_json::Value = session
        .client
        .get(format!("{}/admin/outbox", session.base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invitation = outbox["items"][0]["body"].as_str().unwrap().to_owned();
    let invitation_code = invitation.split_whitespace().last().unwrap().to_owned();
    session
        .post(
            "/auth/accept-invitation",
            None,
            serde_json::json!({"token": invitation_code, "password": NURSE_PASSWORD}),
        )
        .await;
    let nurse = session
        .post_json(
            "/auth/sign-in",
            None,
            serde_json::json!({"email": "nurse.secret@clinic.example", "password": NURSE_PASSWORD}),
        )
        .await;
    Nurse {
        invitation_code,
        token: nurse["access_token"].as_str().unwrap().to_owned(),
        refresh_token: nurse["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// The nurse registers, reads and searches a patient and refreshes the
/// session; then a failed sign-in and a malformed body quoting PHI.
async fn work_with_a_patient(session: &Session, facility_id: &str, nurse: &Nurse) {
    let nurse_token = nurse.token.as_str();
    let patient = session
        .post_json(
            &format!("/facilities/{facility_id}/patients"),
            Some(nurse_token),
            serde_json::json!({
                "mrn": "LOGMRN-4242", "first_name": "Wilhelmina", "last_name": "Fothergill",
                "date_of_birth": "1950-05-05", "ssn": "078-05-1120", "phone": "+1 555 013 3333",
                "email": "wilhelmina.f@example.org", "allergies": ["shellfish"],
            }),
        )
        .await;
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    session
        .client
        .get(format!(
            "{}/facilities/{facility_id}/patients/{patient_id}",
            session.base
        ))
        .bearer_auth(nurse_token)
        .send()
        .await
        .unwrap();
    session
        .post(
            &format!("/facilities/{facility_id}/patients/search"),
            Some(nurse_token),
            serde_json::json!({"mrn": "LOGMRN-4242"}),
        )
        .await;
    session
        .post(
            "/auth/refresh",
            None,
            serde_json::json!({"refresh_token": nurse.refresh_token}),
        )
        .await;
    // A failure with a wrong password, and a malformed body quoting PHI.
    session
        .post(
            "/auth/sign-in",
            None,
            serde_json::json!({"email": "nurse.secret@clinic.example", "password": "Wrong-Guess-Passphrase-00"}),
        )
        .await;
    session
        .post(
            &format!("/facilities/{facility_id}/patients"),
            Some(nurse_token),
            serde_json::json!({"mrn": "LOGMRN-9999", "first_name": 12, "last_name": "Fothergill"}),
        )
        .await;
}

/// Stops the server with SIGTERM and returns its log, which ran at debug
/// level and said something.
fn stop_and_read_the_log(child: Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("DEBUG"), "the log ran at debug level");
    assert!(log.lines().count() > 20, "{log}");
    log
}

fn assert_the_log_keeps_secrets(dir: &Path, log: &str, admin: &Admin, nurse: &Nurse) {
    let key_file = std::fs::read_to_string(dir.join("carebase-data/master.key")).unwrap();
    let master_key = key_file.lines().find(|l| l.starts_with("cbk1.")).unwrap();
    for secret in [
        ADMIN_PASSWORD,
        NURSE_PASSWORD,
        "Wrong-Guess-Passphrase-00",
        "sysop.secret",
        "nurse.secret",
        &admin.token,
        &nurse.token,
        &nurse.refresh_token,
        &nurse.invitation_code,
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
