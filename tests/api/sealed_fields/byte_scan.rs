//! A unique marker in every free-text field the API takes, across the
//! contexts, then a scan of everything the server wrote: the database's
//! files (SQLite's file and WAL, PostgreSQL's table files and a `pg_dump`
//! when one is on PATH), the server's log lines and the file store. No
//! marker may be found in clear, except the few listed in [`IN_CLEAR`] with
//! the reason they are.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};

use super::holds;
use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, always_open, hours_ahead, id};

on_both_backends!(no_marker_sent_through_the_api_is_stored_or_logged_in_clear);

/// Markers kept in clear by design, each with its reason.
const IN_CLEAR: &[(&str, &str)] = &[(
    "ZqinvitationdepartmentXv",
    "a staff member's department is an attribute of their membership, read \
     with every permission check (access::actor); it describes the \
     facility's organisation, not a patient",
)];

/// Every log line of this test process, as the server formats them.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter("debug,hyper=info,h2=info,reqwest=info,rustls=info")
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        logs
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The markers sent so far, each named after its field.
#[derive(Default)]
struct Markers(Vec<(String, String)>);

impl Markers {
    /// A marker for `field`: letters only, so every text field takes it.
    fn text(&mut self, field: &str) -> String {
        let name: String = field.chars().filter(char::is_ascii_alphanumeric).collect();
        self.keep(field, format!("Zq{name}Xv"))
    }

    /// A marker as given, scanned for as `scan`.
    fn keep(&mut self, field: &str, scan: String) -> String {
        self.0.push((field.to_owned(), scan.clone()));
        scan
    }
}

async fn ok(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "{what}: {status} {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn no_marker_sent_through_the_api_is_stored_or_logged_in_clear(backend: TestBackend) {
    let logs = captured_logs();
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Scan").await;
    let admin = app.person(&[(Some(facility), Role::Administrator)]).await;
    let doctor = app.person(&[(Some(facility), Role::Physician)]).await;
    let mut m = Markers::default();
    let patient = patient_data(&app, &admin, facility, &mut m).await;
    let lead = lead_data(&app, &admin, facility, &mut m).await;
    engagement(&app, &admin, facility, lead, &mut m).await;
    scheduling(&app, &admin, &doctor, facility, patient, &mut m).await;
    messaging(&app, &admin, &doctor, facility, patient, &mut m).await;
    people(&app, &admin, facility, &mut m).await;
    assert!(m.0.len() >= 48, "{} fields", m.0.len());

    let mut places: Vec<(&str, Vec<u8>)> =
        vec![("database files", app.raw_database_bytes(backend).await)];
    if backend == TestBackend::Postgres
        && let Ok(dump) = std::process::Command::new("pg_dump")
            .arg(&app._db.url)
            .output()
    {
        assert!(
            dump.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        places.push(("pg_dump", dump.stdout));
    }
    places.push(("file store", files_under(&app.state.config.data_dir)));
    let data_dir_files = files_under(&app.state.config.data_dir);
    app.stop().await;
    places.push(("server logs", logs.lock().unwrap().clone()));
    assert!(!data_dir_files.is_empty());

    let mut found = Vec::new();
    for (field, marker) in &m.0 {
        let allowed = IN_CLEAR.iter().any(|(clear, _)| marker == clear);
        for (place, bytes) in &places {
            if !allowed && holds(bytes, marker) {
                found.push(format!("{field} (`{marker}`) in the {place}"));
            }
        }
    }
    assert!(found.is_empty(), "in clear:\n{}", found.join("\n"));
    // The list stays honest: what it excuses is sent, and is in clear.
    for (marker, _) in IN_CLEAR {
        assert!(
            m.0.iter().any(|(_, sent)| sent == marker),
            "`{marker}` is not sent"
        );
        let (_, bytes) = &places[0];
        assert!(
            holds(bytes, marker),
            "`{marker}` is sealed now: take it off IN_CLEAR"
        );
    }
}

/// Every file under `dir`, concatenated.
fn files_under(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                bytes.extend(files_under(&path));
            } else if let Ok(content) = std::fs::read(&path) {
                bytes.extend(content);
            }
        }
    }
    bytes
}

/// A patient with every field marked, a journey and a visit.
async fn patient_data(
    app: &TestApp,
    admin: &Person,
    facility: uuid::Uuid,
    m: &mut Markers,
) -> uuid::Uuid {
    let body = json!({
        "mrn": m.text("patient.mrn"),
        "first_name": m.text("patient.first_name"),
        "last_name": m.text("patient.last_name"),
        "date_of_birth": "1961-07-14",
        "ssn": m.keep("patient.ssn", "219-71-4406".into()),
        "phone": format!("+1 {}", m.keep("patient.phone", "5553017001".into())),
        "email": format!("{}@example.org", m.keep("patient.email", "zqpatmailxv".into())),
        "address": {
            "line1": m.text("address.line1"), "line2": m.text("address.line2"),
            "city": m.text("address.city"), "postal_code": m.text("address.postal_code"),
        },
        "emergency_contact": {
            "name": m.text("emergency_contact.name"),
            "phone": format!("+1 {}", m.keep("emergency_contact.phone", "5553017002".into())),
            "relationship": m.text("emergency_contact.relationship"),
        },
        "insurance": {
            "provider": m.text("insurance.provider"), "plan": m.text("insurance.plan"),
            "member_id": m.text("insurance.member_id"), "group_number": m.text("insurance.group_number"),
        },
        "allergies": [m.text("allergies[0]"), m.text("allergies[1]")],
    });
    let path = format!("/facilities/{facility}/patients");
    let patient = id(&ok(
        app.call(&admin.token, Method::POST, &path, Some(body))
            .await,
        "patient",
    )
    .await);
    let journey = json!({"notes": m.text("journey.notes")});
    let journeys = format!("{path}/{patient}/journeys");
    ok(
        app.call(&admin.token, Method::POST, &journeys, Some(journey))
            .await,
        "journey",
    )
    .await;
    let visit = json!({
        "visit_date": hours_ahead(-48),
        "department": m.text("visit.department"),
        "notes": m.text("visit.notes"),
        "primary_diagnosis": m.text("visit.primary_diagnosis"),
        "secondary_diagnoses": [m.text("visit.secondary_diagnoses")],
        "procedures": [m.text("visit.procedures")],
        "medications": [{
            "name": m.text("medication.name"), "dose": m.text("medication.dose"),
            "frequency": m.text("medication.frequency"), "route": m.text("medication.route"),
        }],
    });
    let history = format!("{path}/{patient}/history");
    ok(
        app.call(&admin.token, Method::POST, &history, Some(visit))
            .await,
        "visit",
    )
    .await;
    patient
}

/// A lead with every field marked, called, moved, reviewed.
async fn lead_data(
    app: &TestApp,
    admin: &Person,
    facility: uuid::Uuid,
    m: &mut Markers,
) -> uuid::Uuid {
    let body = json!({
        "first_name": m.text("lead.first_name"),
        "last_name": m.text("lead.last_name"),
        "email": format!("{}@example.org", m.keep("lead.email", "zqleadmailxv".into())),
        "phone": format!("+1 {}", m.keep("lead.phone", "5553017003".into())),
        "source": m.text("lead.source"),
        "outcome": m.text("lead.outcome"),
        "lead_type": m.text("lead.lead_type"),
        "notes": m.text("lead.notes"),
        "interests": [{"procedure": m.text("interest.procedure"), "notes": m.text("interest.notes")}],
    });
    let lead = id(&app.create_lead(&admin.token, facility, body).await);
    let path = format!("/facilities/{facility}/leads/{lead}");
    let call = json!({"outcome": m.text("call.outcome")});
    ok(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{path}/calls"),
            Some(call),
        )
        .await,
        "call",
    )
    .await;
    let status = format!("{path}/status");
    // The call made it contacted.
    for (to, outcome) in [("qualified", "status.outcome")] {
        let moved = json!({"status": to, "outcome": m.text(outcome)});
        ok(
            app.call(&admin.token, Method::POST, &status, Some(moved))
                .await,
            to,
        )
        .await;
    }
    let review = json!({"decision": "decline", "reason": m.text("review.reason")});
    ok(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{path}/review"),
            Some(review),
        )
        .await,
        "review",
    )
    .await;
    let ai = json!({
        "prompt": m.text("ai.prompt"), "response": m.text("ai.response"),
        "model": "scan-model", "outcome": "needs_review",
    });
    let ai_path = format!("{path}/ai-qualifications");
    ok(
        app.call(&admin.token, Method::POST, &ai_path, Some(ai))
            .await,
        "ai",
    )
    .await;
    lead
}

/// A logged communication, a chat session and a task.
async fn engagement(
    app: &TestApp,
    admin: &Person,
    facility: uuid::Uuid,
    lead: uuid::Uuid,
    m: &mut Markers,
) {
    let communication = json!({
        "idempotency_key": uuid::Uuid::new_v4().to_string(),
        "channel": "phone", "direction": "inbound", "contains_phi": true,
        "retention_category": "clinical", "lead_id": lead,
        "summary": m.text("communication.summary"),
    });
    let path = format!("/facilities/{facility}");
    let communications = format!("{path}/communications");
    let logged = app.call(
        &admin.token,
        Method::POST,
        &communications,
        Some(communication),
    );
    ok(logged.await, "communication").await;
    let chat = json!({"visitor_ref": m.text("chat.visitor_ref"), "lead_id": lead});
    ok(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{path}/chat-sessions"),
            Some(chat),
        )
        .await,
        "chat",
    )
    .await;
    let task = json!({
        "title": m.text("task.title"), "description": m.text("task.description"), "lead_id": lead,
    });
    ok(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{path}/tasks"),
            Some(task),
        )
        .await,
        "task",
    )
    .await;
}

/// An appointment, a waitlist entry and a block.
async fn scheduling(
    app: &TestApp,
    admin: &Person,
    doctor: &Person,
    facility: uuid::Uuid,
    patient: uuid::Uuid,
    m: &mut Markers,
) {
    app.set_schedule(&admin.token, facility, doctor.account_id, always_open())
        .await;
    let appointment = json!({
        "provider_id": doctor.account_id, "patient_id": patient, "starts_at": hours_ahead(3),
        "title": m.text("appointment.title"), "notes": m.text("appointment.notes"),
        "meeting_link": format!("https://meet.example.org/{}", m.text("appointment.meeting_link")),
    });
    let booked = app.book(&admin.token, facility, appointment).await;
    let booked = id(&ok(booked, "appointment").await);
    let path = format!("/facilities/{facility}");
    let changed = json!({"notes": m.text("appointment.notes_changed")});
    let one = format!("{path}/appointments/{booked}");
    ok(
        app.call(&admin.token, Method::PATCH, &one, Some(changed))
            .await,
        "appointment change",
    )
    .await;
    let waitlist = json!({
        "patient_id": patient, "window_start": hours_ahead(24), "window_end": hours_ahead(48),
        "notes": m.text("waitlist.notes"),
    });
    ok(
        app.call(
            &admin.token,
            Method::POST,
            &format!("{path}/waitlist"),
            Some(waitlist),
        )
        .await,
        "waitlist",
    )
    .await;
    let block = json!({
        "starts_at": hours_ahead(60), "ends_at": hours_ahead(61), "reason": m.text("block.reason"),
    });
    let blocks = format!("{path}/availability-blocks");
    ok(
        app.call(&admin.token, Method::POST, &blocks, Some(block))
            .await,
        "block",
    )
    .await;
}

/// A conversation, a message and its edit, a file and an upload.
async fn messaging(
    app: &TestApp,
    admin: &Person,
    doctor: &Person,
    facility: uuid::Uuid,
    patient: uuid::Uuid,
    m: &mut Markers,
) {
    let conversation = json!({
        "title": m.text("conversation.title"), "conversation_type": "patient_specific",
        "patient_id": patient, "tags": [m.text("conversation.tags")],
        "metadata": {"note": m.text("conversation.metadata")},
        "participants": [{"account_id": doctor.account_id}],
    });
    let path = format!("/facilities/{facility}/conversations");
    let created = app
        .call(&admin.token, Method::POST, &path, Some(conversation))
        .await;
    let conversation = format!("{path}/{}", id(&ok(created, "conversation").await));
    let message =
        json!({"body": m.text("message.body"), "metadata": {"note": m.text("message.metadata")}});
    let messages = format!("{conversation}/messages");
    let posted = app.call(&doctor.token, Method::POST, &messages, Some(message));
    let message = format!(
        "{conversation}/messages/{}",
        id(&ok(posted.await, "message").await)
    );
    let edit = json!({"body": m.text("message.edited_body")});
    ok(
        app.call(&doctor.token, Method::PATCH, &message, Some(edit))
            .await,
        "edit",
    )
    .await;
    let file_name = format!("{}.pdf", m.text("attachment.file_name"));
    let content = format!(
        "%PDF-1.7\n<< /Title ({}) >>\n",
        m.text("attachment.content")
    );
    let file = Some((file_name.as_str(), "application/pdf", content.as_bytes()));
    let attachments = format!("{conversation}/attachments");
    ok(
        app.post_file(&doctor.token, &attachments, file, &[]).await,
        "attachment",
    )
    .await;
    let upload = json!({
        "file_name": format!("{}.pdf", m.text("upload.file_name")),
        "content_type": "application/pdf", "size": 10,
    });
    let uploads = format!("{attachments}/uploads");
    ok(
        app.call(&doctor.token, Method::POST, &uploads, Some(upload))
            .await,
        "upload",
    )
    .await;
}

/// An invitation and a changed profile.
async fn people(app: &TestApp, admin: &Person, facility: uuid::Uuid, m: &mut Markers) {
    let invitation = json!({
        "email": format!("{}@example.org", m.keep("invitation.email", "zqinvitemailxv".into())),
        "role": "nurse",
        "full_name": m.text("invitation.full_name"),
        "department": m.text("invitation.department"),
    });
    let invitations = format!("/facilities/{facility}/invitations");
    ok(
        app.call(&admin.token, Method::POST, &invitations, Some(invitation))
            .await,
        "invitation",
    )
    .await;
    let profile = json!({"full_name": m.text("me.full_name")});
    ok(
        app.call(&admin.token, Method::PATCH, "/me", Some(profile))
            .await,
        "profile",
    )
    .await;
}
