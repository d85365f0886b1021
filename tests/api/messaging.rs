//! Care-team links, conversations, messages and realtime delivery (seeds
//! 002 and 004): the link's state machine and what it grants, direct and
//! facility conversations, sealed messages with edits, deletion, threads,
//! read state and cursors, and WebSocket events that reach participants
//! only, across two servers.

use carebase::access::Permission;
use std::time::Duration;

use carebase::access::Role;
use carebase::messaging::settings::MessagingSettings;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    PDF, Person, TestApp, TestBackend, assert_no_plaintext, id, json_of, new_patient, problem,
};
use crate::support::matrix::{BoxFuture, Case, Grant, Records};

on_both_backends!(
    a_care_team_link_grants_access_and_ending_it_takes_it_away,
    a_blocked_link_can_be_reopened_only_by_the_side_that_blocked,
    messages_are_sealed_threaded_edited_deleted_and_paged,
    facility_conversations_follow_their_status_machine,
    bad_messages_name_the_field_and_write_nothing,
    sockets_receive_their_conversations_events_and_outsiders_nothing,
    events_reach_sockets_on_another_server,
    video_calls_ring_are_answered_end_and_go_missed,
    daily_makes_the_rooms_when_a_key_is_configured,
    files_go_with_their_message_sealed_and_downloads_are_audited,
    bad_uploads_are_refused_and_leave_nothing_behind,
    pre_authorised_uploads_are_single_use_and_attach_to_a_message,
    many_senders_at_once_never_wait_on_the_pool_they_hold,
    #[cfg_attr(
        not(carebase_test_s3),
        ignore = "no S3-compatible server: set CAREBASE_TEST_S3_URL"
    )]
    attachments_can_live_in_an_s3_bucket,
    a_socket_follows_only_conversations_of_facilities_it_still_belongs_to,
    link_and_message_changes_are_audited_with_their_patient_and_no_text,
);

/// A facility with a patient who has a portal account, and a doctor.
struct Clinic {
    facility: Uuid,
    patient_id: Uuid,
    patient: Person,
    doctor: Person,
}

async fn clinic(app: &TestApp) -> Clinic {
    let facility = app.facility("Telehealth").await;
    let patient = app.person(&[(Some(facility), Role::Patient)]).await;
    let mut record = new_patient();
    record["portal_account_id"] = json!(patient.account_id);
    let record = app.patient(facility, record).await;
    let doctor = app.person(&[(Some(facility), Role::Doctor)]).await;
    Clinic {
        facility,
        patient_id: id(&record),
        patient,
        doctor,
    }
}

impl Clinic {
    fn links(&self) -> String {
        format!("/facilities/{}/care-team-links", self.facility)
    }

    fn conversations(&self) -> String {
        format!("/facilities/{}/conversations", self.facility)
    }

    fn patient_record(&self) -> String {
        format!("/facilities/{}/patients/{}", self.facility, self.patient_id)
    }

    async fn request(&self, app: &TestApp, by: &Person) -> reqwest::Response {
        app.call(
            &by.token,
            Method::POST,
            &self.links(),
            Some(json!({"patient_id": self.patient_id, "provider_id": self.doctor.account_id})),
        )
        .await
    }

    async fn move_link(
        &self,
        app: &TestApp,
        by: &Person,
        link: Uuid,
        status: &str,
    ) -> reqwest::Response {
        app.call(
            &by.token,
            Method::POST,
            &format!("{}/{link}/status", self.links()),
            Some(json!({ "status": status })),
        )
        .await
    }

    /// A linked pair and their direct conversation's id.
    async fn linked(&self, app: &TestApp) -> (Uuid, Uuid) {
        let link = id(&json_of(self.request(app, &self.patient).await).await);
        json_of(self.move_link(app, &self.doctor, link, "active").await).await;
        let list = json_of(
            app.call(&self.doctor.token, Method::GET, &self.conversations(), None)
                .await,
        )
        .await;
        (link, id(&list["items"][0]))
    }

    async fn post(
        &self,
        app: &TestApp,
        by: &Person,
        conversation: Uuid,
        body: Value,
    ) -> reqwest::Response {
        app.call(
            &by.token,
            Method::POST,
            &format!("{}/{conversation}/messages", self.conversations()),
            Some(body),
        )
        .await
    }
}

async fn a_care_team_link_grants_access_and_ending_it_takes_it_away(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = clinic(&app).await;
    let sees_record = |person: &Person| {
        let token = person.token.clone();
        let path = c.patient_record();
        let app = &app;
        async move {
            app.call(&token, Method::GET, &path, None)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(sees_record(&c.doctor).await, 404, "no link, no access");

    // The patient asks; asking again returns the same request.
    let requested = c.request(&app, &c.patient).await;
    assert_eq!(requested.status(), 201);
    let link = json_of(requested).await;
    assert_eq!(link["status"], "requested");
    assert_eq!(link["requested_by"], "patient");
    let again = c.request(&app, &c.patient).await;
    assert_eq!(again.status(), 200);
    assert_eq!(id(&json_of(again).await), id(&link));
    assert_eq!(
        sees_record(&c.doctor).await,
        404,
        "a request grants nothing"
    );

    // The side that asked cannot accept; a request cannot end.
    problem(
        c.move_link(&app, &c.patient, id(&link), "active").await,
        403,
        "forbidden",
    )
    .await;
    let refused = problem(
        c.move_link(&app, &c.doctor, id(&link), "ended").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["active", "blocked"]));

    // The doctor accepts: access, and one direct conversation for the pair.
    let active = json_of(c.move_link(&app, &c.doctor, id(&link), "active").await).await;
    assert_eq!(active["status"], "active");
    assert!(active["accepted_at"].is_i64() || active["accepted_at"].is_string());
    assert_eq!(sees_record(&c.doctor).await, 200);
    let mine = json_of(
        app.call(&c.doctor.token, Method::GET, &c.conversations(), None)
            .await,
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let direct = &mine["items"][0];
    assert_eq!(direct["kind"], "direct");
    assert_eq!(direct["care_team_link_id"], link["id"]);
    assert_eq!(direct["patient_id"], json!(c.patient_id));
    let conversation = id(direct);
    json_of(
        c.post(
            &app,
            &c.patient,
            conversation,
            json!({"body": "My knee hurts"}),
        )
        .await,
    )
    .await;

    // Ending it takes the record and the conversation away at once.
    let ended = json_of(c.move_link(&app, &c.doctor, id(&link), "ended").await).await;
    assert_eq!(ended["status"], "ended");
    let ended_at = ended["ended_at"].clone();
    assert!(!ended_at.is_null());
    assert_eq!(sees_record(&c.doctor).await, 404);
    let conversation_path = format!("{}/{conversation}", c.conversations());
    problem(
        app.call(&c.doctor.token, Method::GET, &conversation_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    // The patient keeps the history but cannot post into an ended link.
    let history = json_of(
        app.call(
            &c.patient.token,
            Method::GET,
            &format!("{conversation_path}/messages"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(history["items"][0]["body"], "My knee hurts");
    problem(
        c.post(&app, &c.patient, conversation, json!({"body": "hello?"}))
            .await,
        409,
        "conflict",
    )
    .await;

    // Re-requesting reopens the same link; accepting reuses the conversation.
    let reopened = c.request(&app, &c.patient).await;
    assert_eq!(reopened.status(), 201);
    let reopened = json_of(reopened).await;
    assert_eq!(id(&reopened), id(&link), "one link per pair");
    assert_eq!(reopened["status"], "requested");
    assert_eq!(reopened["ended_at"], ended_at, "ended_at is kept");
    json_of(c.move_link(&app, &c.doctor, id(&link), "active").await).await;
    let again = json_of(
        app.call(&c.doctor.token, Method::GET, &c.conversations(), None)
            .await,
    )
    .await;
    let again_conversation = id(&again["items"][0]);
    assert_eq!(again_conversation, conversation);
    assert_eq!(sees_record(&c.doctor).await, 200);
    app.stop().await;
}

async fn a_blocked_link_can_be_reopened_only_by_the_side_that_blocked(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = clinic(&app).await;
    // This time the doctor invites and the patient accepts.
    let invited = json_of(c.request(&app, &c.doctor).await).await;
    assert_eq!(invited["requested_by"], "provider");
    problem(
        c.move_link(&app, &c.doctor, id(&invited), "active").await,
        403,
        "forbidden",
    )
    .await;
    json_of(c.move_link(&app, &c.patient, id(&invited), "active").await).await;
    // Someone outside the pair changes nothing.
    let stranger = app.person(&[(Some(c.facility), Role::Doctor)]).await;
    problem(
        c.move_link(&app, &stranger, id(&invited), "blocked").await,
        404,
        "not-found",
    )
    .await;

    let blocked = json_of(c.move_link(&app, &c.patient, id(&invited), "blocked").await).await;
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["blocked_by"], "patient");
    assert_eq!(
        app.call(&c.doctor.token, Method::GET, &c.patient_record(), None)
            .await
            .status(),
        404
    );
    // The blocked side cannot ask again; the blocking side can.
    problem(c.request(&app, &c.doctor).await, 409, "conflict").await;
    let reopened = json_of(c.request(&app, &c.patient).await).await;
    assert_eq!(reopened["status"], "requested");
    assert_eq!(reopened["requested_by"], "patient");
    assert!(reopened["blocked_by"].is_null());
    // A patient record of another facility, or an unknown one, is refused.
    let refused = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &c.links(),
            Some(json!({"patient_id": Uuid::now_v7(), "provider_id": c.doctor.account_id})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "patient_id");
    app.stop().await;
}

/// A facility conversation between a physician and a nurse, with an admin.
struct Ward {
    facility: Uuid,
    physician: Person,
    nurse: Person,
    admin: Person,
    conversation: Uuid,
}

async fn ward(app: &TestApp) -> Ward {
    let facility = app.facility("Ward").await;
    let physician = app.person(&[(Some(facility), Role::Physician)]).await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let admin = app.person(&[(Some(facility), Role::Administrator)]).await;
    let started = app
        .call(
            &physician.token,
            Method::POST,
            &format!("/facilities/{facility}/conversations"),
            Some(json!({
                "title": "Bed 7 handover",
                "conversation_type": "general",
                "priority": "high",
                "tags": ["handover"],
                "participants": [{"account_id": nurse.account_id}],
            })),
        )
        .await;
    assert_eq!(started.status(), 201);
    let conversation = json_of(started).await;
    Ward {
        facility,
        physician,
        nurse,
        admin,
        conversation: id(&conversation),
    }
}

impl Ward {
    fn path(&self, rest: &str) -> String {
        format!(
            "/facilities/{}/conversations/{}{rest}",
            self.facility, self.conversation
        )
    }
}

async fn messages_are_sealed_threaded_edited_deleted_and_paged(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = ward(&app).await;
    let post = |by: &Person, body: Value| {
        let token = by.token.clone();
        let path = w.path("/messages");
        let app = &app;
        async move { app.call(&token, Method::POST, &path, Some(body)).await }
    };
    let mut seqs = Vec::new();
    for i in 1..=5 {
        let sent = json_of(
            post(
                &w.physician,
                json!({"body": format!("Dressing change {i} for Mr Quillfeather")}),
            )
            .await,
        )
        .await;
        assert_eq!(sent["seq"], i);
        assert_eq!(sent["sender_id"], json!(w.physician.account_id));
        assert_eq!(sent["sender_name"], "Test Person");
        seqs.push(id(&sent));
    }
    // A reply joins the parent's thread.
    let reply = json_of(
        post(
            &w.nurse,
            json!({"body": "Done", "parent_message_id": seqs[1], "is_sensitive": true}),
        )
        .await,
    )
    .await;
    assert_eq!(reply["thread_id"], json!(seqs[1]));
    assert_eq!(reply["is_sensitive"], true);
    let nested = json_of(
        post(
            &w.physician,
            json!({"body": "Thanks", "parent_message_id": id(&reply)}),
        )
        .await,
    )
    .await;
    assert_eq!(
        nested["thread_id"],
        json!(seqs[1]),
        "a reply to a reply stays in the thread"
    );

    // Newest first, by cursor; catching up after a cursor, oldest first.
    let page = json_of(
        app.call(
            &w.nurse.token,
            Method::GET,
            &w.path("/messages?limit=3"),
            None,
        )
        .await,
    )
    .await;
    let got: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [7, 6, 5]);
    assert_eq!(page["next_cursor"], 5);
    let older = json_of(
        app.call(
            &w.nurse.token,
            Method::GET,
            &w.path("/messages?limit=3&before=5"),
            None,
        )
        .await,
    )
    .await;
    let got: Vec<i64> = older["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [4, 3, 2]);
    let missed = json_of(
        app.call(
            &w.nurse.token,
            Method::GET,
            &w.path("/messages?after=4"),
            None,
        )
        .await,
    )
    .await;
    let got: Vec<i64> = missed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [5, 6, 7]);
    let thread = json_of(
        app.call(
            &w.nurse.token,
            Method::GET,
            &w.path(&format!("/messages?thread_id={}", seqs[1])),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(thread["items"].as_array().unwrap().len(), 2);

    // Unread counts and read markers.
    let conversation = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    // Replying marked the nurse's own reply read; the physician's answer
    // after it is not.
    assert_eq!(conversation["unread_count"], 1);
    assert_eq!(conversation["last_seq"], 7);
    let marker = json_of(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 7})),
        )
        .await,
    )
    .await;
    assert_eq!(marker["seq"], 7);
    let back = json_of(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 2})),
        )
        .await,
    )
    .await;
    assert_eq!(back["seq"], 7, "markers never move back");
    let conversation = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["unread_count"], 0);
    let refused = problem(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 99})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "seq");

    // Only the sender edits; the earlier body stays for administrators.
    let first = format!("/messages/{}", seqs[0]);
    problem(
        app.call(
            &w.nurse.token,
            Method::PATCH,
            &w.path(&first),
            Some(json!({"body": "x"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let edited = json_of(
        app.call(
            &w.physician.token,
            Method::PATCH,
            &w.path(&first),
            Some(json!({"body": "Dressing change moved to noon"})),
        )
        .await,
    )
    .await;
    assert_eq!(edited["body"], "Dressing change moved to noon");
    assert!(!edited["edited_at"].is_null());
    problem(
        app.call(
            &w.physician.token,
            Method::GET,
            &w.path(&format!("{first}/edits")),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let history = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &w.path(&format!("{first}/edits")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(history[0]["body"], "Dressing change 1 for Mr Quillfeather");

    // Deleting keeps the place, not the body.
    let second = format!("/messages/{}", seqs[1]);
    assert_eq!(
        app.call(&w.physician.token, Method::DELETE, &w.path(&second), None)
            .await
            .status(),
        204
    );
    let all = json_of(
        app.call(
            &w.nurse.token,
            Method::GET,
            &w.path("/messages?after=0"),
            None,
        )
        .await,
    )
    .await;
    let deleted = &all["items"][1];
    assert_eq!(deleted["seq"], 2);
    assert!(deleted["body"].is_null());
    assert!(!deleted["deleted_at"].is_null());
    problem(
        app.call(
            &w.physician.token,
            Method::PATCH,
            &w.path(&second),
            Some(json!({"body": "y"})),
        )
        .await,
        404,
        "not-found",
    )
    .await;

    // An outsider of the facility's staff sees nothing of it.
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    problem(
        app.call(&outsider.token, Method::GET, &w.path("/messages"), None)
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        post(&outsider, json!({"body": "hi"})).await,
        404,
        "not-found",
    )
    .await;

    // Bodies are sealed; reads are audited with the sequence numbers read.
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(
        &bytes,
        &["Mr Quillfeather", "Dressing change moved", "Bed 7 handover"],
    );
    let events = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &format!(
                "/facilities/{}/audit-events?resource_type=messages&actor_id={}",
                w.facility, w.nurse.account_id
            ),
            None,
        )
        .await,
    )
    .await;
    assert!(
        !events["items"].as_array().unwrap().is_empty(),
        "the nurse's reads are audited"
    );
    assert!(
        !events.to_string().contains("Quillfeather"),
        "and name no message text"
    );
    app.stop().await;
}

async fn facility_conversations_follow_their_status_machine(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = ward(&app).await;
    let status = |by: &Person, to: &str| {
        let token = by.token.clone();
        let path = w.path("/status");
        let app = &app;
        let body = json!({ "status": to });
        async move { app.call(&token, Method::POST, &path, Some(body)).await }
    };
    assert_eq!(
        json_of(status(&w.nurse, "escalated").await).await["status"],
        "escalated"
    );
    assert_eq!(
        json_of(status(&w.nurse, "active").await).await["status"],
        "active"
    );
    assert_eq!(
        json_of(status(&w.physician, "completed").await).await["status"],
        "completed"
    );
    problem(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "late"})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let refused = problem(
        status(&w.physician, "active").await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!(["archived"]));
    let archived = json_of(status(&w.physician, "archived").await).await;
    assert_eq!(archived["archived_by"], json!(w.physician.account_id));
    assert!(!archived["archived_at"].is_null());

    // Participants: members only; removal takes the conversation away.
    let w = ward(&app).await;
    let stranger = app.person(&[]).await;
    let refused = problem(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/participants"),
            Some(json!({"account_id": stranger.account_id})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "account_id");
    let removed = app
        .call(
            &w.physician.token,
            Method::DELETE,
            &w.path(&format!("/participants/{}", w.nurse.account_id)),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    problem(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
        404,
        "not-found",
    )
    .await;
    // The administrator oversees every conversation of the facility.
    let all = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &format!("/facilities/{}/conversations?all=true", w.facility),
            None,
        )
        .await,
    )
    .await;
    let ids: Vec<Uuid> = all["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(
        ids,
        [w.conversation],
        "though the administrator takes no part in it"
    );
    problem(
        app.call(
            &w.nurse.token,
            Method::GET,
            &format!("/facilities/{}/conversations?all=true", w.facility),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    app.stop().await;
}

async fn bad_messages_name_the_field_and_write_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = ward(&app).await;
    let post = |body: Value| {
        let token = w.physician.token.clone();
        let path = w.path("/messages");
        let app = &app;
        async move { app.call(&token, Method::POST, &path, Some(body)).await }
    };
    for (body, field) in [
        (json!({}), "body"),
        (json!({"body": ""}), "body"),
        (json!({"body": "x".repeat(10_001)}), "body"),
        (
            json!({"body": "x", "message_type": "system"}),
            "message_type",
        ),
        (json!({"body": "x", "ai_model": "gpt"}), "ai_model"),
        (
            json!({"body": "x", "parent_message_id": Uuid::now_v7()}),
            "parent_message_id",
        ),
    ] {
        let refused = problem(post(body.clone()).await, 422, "validation").await;
        assert_eq!(refused["errors"][0]["field"], field, "{body}");
    }
    let refused = problem(
        post(json!({"body": "x", "colour": "red"})).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "colour");
    // The assistant's answers need `message:assist`.
    let answer = json!({"body": "Likely cellulitis", "message_type": "ai_response", "ai_model": "clinic-llm", "ai_confidence": 0.82});
    problem(post(answer.clone()).await, 403, "forbidden").await;
    let by_assistant = json_of(
        app.call(
            &w.admin.token,
            Method::POST,
            &w.path("/messages"),
            Some(answer),
        )
        .await,
    )
    .await;
    assert!(by_assistant["sender_id"].is_null());
    assert_eq!(by_assistant["ai_confidence"], 0.82);
    assert_eq!(
        by_assistant["seq"], 1,
        "nothing refused took a sequence number"
    );
    app.stop().await;
}

/// A WebSocket client of the realtime endpoint.
struct Socket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    async fn open(addr: std::net::SocketAddr, token: &str) -> Self {
        let mut request = format!("ws://{addr}/realtime")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Self { stream }
    }

    async fn send(&mut self, frame: Value) {
        self.stream
            .send(Frame::text(frame.to_string()))
            .await
            .unwrap();
    }

    /// The next JSON event, or `None` after `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            if let Frame::Text(text) = frame {
                return serde_json::from_str(text.as_str()).ok();
            }
        }
    }

    async fn subscribe(&mut self, ids: &[Uuid]) -> Value {
        self.send(json!({"type": "subscribe", "conversation_ids": ids}))
            .await;
        self.next(Duration::from_secs(5)).await.unwrap()
    }

    /// The next event of `kind`, skipping others.
    async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let event = self
                .next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("no {kind} event"));
            if event["type"] == kind {
                return event;
            }
        }
    }
}

async fn sockets_receive_their_conversations_events_and_outsiders_nothing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = ward(&app).await;
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    let mut nurse = Socket::open(app.addr, &w.nurse.token).await;
    let mut spy = Socket::open(app.addr, &outsider.token).await;
    let ack = nurse.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([w.conversation]));
    let ack = spy.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([]));
    assert_eq!(ack["refused"], json!([w.conversation]));

    let sent = json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "Bloods are back"})),
        )
        .await,
    )
    .await;
    let event = nurse.expect("message.created").await;
    assert_eq!(event["conversation_id"], json!(w.conversation));
    assert_eq!(event["message"]["body"], "Bloods are back");
    assert_eq!(event["message"]["seq"], sent["seq"]);
    json_of(
        app.call(
            &w.physician.token,
            Method::PATCH,
            &w.path(&format!("/messages/{}", id(&sent))),
            Some(json!({"body": "Bloods are back: normal"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        nurse.expect("message.edited").await["message"]["body"],
        "Bloods are back: normal"
    );
    assert_eq!(
        app.call(&w.physician.token, Method::POST, &w.path("/typing"), None)
            .await
            .status(),
        202
    );
    assert_eq!(
        nurse.expect("typing").await["account_id"],
        json!(w.physician.account_id)
    );
    json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 0})),
        )
        .await,
    )
    .await;
    // The nurse reads; the physician's socket gets the receipt.
    let mut physician = Socket::open(app.addr, &w.physician.token).await;
    physician.subscribe(&[w.conversation]).await;
    json_of(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/read"),
            Some(json!({"seq": 1})),
        )
        .await,
    )
    .await;
    let receipt = physician.expect("read").await;
    assert_eq!(receipt["account_id"], json!(w.nurse.account_id));
    assert_eq!(receipt["seq"], 1);
    // Typing through the socket reaches the others.
    nurse
        .send(json!({"type": "typing", "conversation_id": w.conversation}))
        .await;
    assert_eq!(
        physician.expect("typing").await["account_id"],
        json!(w.nurse.account_id)
    );
    assert!(
        spy.next(Duration::from_millis(500)).await.is_none(),
        "the outsider hears nothing"
    );

    // Removed from the conversation: the nurse's socket stops at once, and
    // catches up by cursor on what it may still read... which is nothing.
    app.call(
        &w.physician.token,
        Method::DELETE,
        &w.path(&format!("/participants/{}", w.nurse.account_id)),
        None,
    )
    .await;
    let left = physician.expect("participant.left").await;
    assert_eq!(left["account_id"], json!(w.nurse.account_id));
    json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "after"})),
        )
        .await,
    )
    .await;
    physician.expect("message.created").await;
    loop {
        match nurse.next(Duration::from_millis(500)).await {
            None => break,
            Some(event) => assert_ne!(event["type"], "message.created", "{event}"),
        }
    }

    // A socket without a token, or with a role that reads no conversation.
    let unauthenticated = app.client.get(app.url("/realtime")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let no_access = app
        .person(&[(Some(w.facility), Role::ResearchPartner)])
        .await;
    let refused = app
        .client
        .get(app.url("/realtime"))
        .bearer_auth(&no_access.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    app.stop().await;
}

async fn events_reach_sockets_on_another_server(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = clinic(&app).await;
    let (link, conversation) = c.linked(&app).await;
    // A second server on the same database (on SQLite, the same process
    // shares nothing: the test then shows a single server's delivery).
    let second = match backend {
        TestBackend::Postgres => {
            let state = carebase::AppState::open(app.state.config.clone())
                .await
                .unwrap();
            let server = carebase::Server::bind(state, carebase::contexts::routes())
                .await
                .unwrap();
            let addr = server.local_addr().unwrap();
            let stop = tokio_util::sync::CancellationToken::new();
            Some((addr, stop.clone(), tokio::spawn(server.run(stop))))
        }
        TestBackend::Sqlite => None,
    };
    let socket_addr = second.as_ref().map(|s| s.0).unwrap_or(app.addr);
    let mut doctor = Socket::open(socket_addr, &c.doctor.token).await;
    assert_eq!(
        doctor.subscribe(&[conversation]).await["conversation_ids"],
        json!([conversation])
    );
    // Posted on the first server, heard on the second.
    json_of(
        c.post(
            &app,
            &c.patient,
            conversation,
            json!({"body": "Rash is spreading"}),
        )
        .await,
    )
    .await;
    let event = doctor.expect("message.created").await;
    assert_eq!(event["message"]["body"], "Rash is spreading");
    assert_eq!(event["message"]["sender_id"], json!(c.patient.account_id));
    // Ending the link reaches the other server too: the doctor's socket
    // is told and hears nothing more of the conversation.
    json_of(c.move_link(&app, &c.patient, link, "ended").await).await;
    assert_eq!(
        doctor.expect("participant.left").await["account_id"],
        json!(c.doctor.account_id)
    );
    assert!(doctor.next(Duration::from_millis(300)).await.is_none());
    if let Some((_, stop, run)) = second {
        stop.cancel();
        run.await.unwrap().unwrap();
    }
    app.stop().await;
}

async fn video_calls_ring_are_answered_end_and_go_missed(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.edit_section(|s: &mut MessagingSettings| {
            s.call_ring_timeout_secs = 5;
            s.video_builtin_base_url = "https://video.clinic.example/rooms".to_owned();
        })
    })
    .await;
    let c = clinic(&app).await;
    let (link, conversation) = c.linked(&app).await;
    let calls = format!("{}/{conversation}/calls", c.conversations());
    let call_path = |call: &Value| format!("{calls}/{}", id(call));
    let mut patient_socket = Socket::open(app.addr, &c.patient.token).await;
    patient_socket.subscribe(&[conversation]).await;

    // The doctor calls; the built-in provider issues the room.
    let ringing = json_of(
        app.call(&c.doctor.token, Method::POST, &calls, Some(json!({})))
            .await,
    )
    .await;
    assert_eq!(ringing["status"], "ringing");
    assert_eq!(ringing["provider"], "builtin");
    let room = ringing["room_name"].as_str().unwrap();
    assert_eq!(
        ringing["room_url"],
        format!("https://video.clinic.example/rooms/{room}")
    );
    assert!(!ringing["ringing_at"].is_null());
    let event = patient_socket.expect("call.updated").await;
    assert_eq!(event["call"]["status"], "ringing");
    // The patient answers; either side ends it.
    let active = json_of(
        app.call(
            &c.patient.token,
            Method::POST,
            &format!("{}/status", call_path(&ringing)),
            Some(json!({"status": "active"})),
        )
        .await,
    )
    .await;
    assert!(!active["started_at"].is_null());
    let refused = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(&ringing)),
            Some(json!({"status": "ended", "recording_url": "https://rec.example/1"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "recording_url");
    let ended = json_of(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(&ringing)),
            Some(json!({"status": "ended"})),
        )
        .await,
    )
    .await;
    assert!(!ended["ended_at"].is_null());
    let refused = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(&ringing)),
            Some(json!({"status": "active"})),
        )
        .await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(refused["allowed"], json!([]));

    // A scheduled call rings later, or is canceled.
    let past = problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &calls,
            Some(json!({"scheduled_for": "2020-01-01T00:00:00Z"})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(past["errors"][0]["field"], "scheduled_for");
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let scheduled = json_of(
        app.call(
            &c.doctor.token,
            Method::POST,
            &calls,
            Some(json!({"scheduled_for": later, "recording_enabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(scheduled["status"], "scheduled");
    assert!(scheduled["ringing_at"].is_null());
    problem(
        app.call(
            &c.doctor.token,
            Method::POST,
            &format!("{}/status", call_path(&scheduled)),
            Some(json!({"status": "active"})),
        )
        .await,
        409,
        "invalid-transition",
    )
    .await;
    let canceled = json_of(
        app.call(
            &c.patient.token,
            Method::POST,
            &format!("{}/status", call_path(&scheduled)),
            Some(json!({"status": "canceled"})),
        )
        .await,
    )
    .await;
    assert_eq!(canceled["status"], "canceled");

    // Unanswered, a call is marked missed by the sweep, and sockets hear it.
    let unanswered = json_of(
        app.call(&c.doctor.token, Method::POST, &calls, Some(json!({})))
            .await,
    )
    .await;
    let mut status = String::new();
    for _ in 0..100 {
        let seen = json_of(
            app.call(&c.patient.token, Method::GET, &call_path(&unanswered), None)
                .await,
        )
        .await;
        status = seen["status"].as_str().unwrap().to_owned();
        if status == "missed" {
            assert!(!seen["ended_at"].is_null());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, "missed");
    loop {
        let event = patient_socket.expect("call.updated").await;
        if event["call"]["id"] == unanswered["id"] && event["call"]["status"] == "missed" {
            break;
        }
    }
    let listed = json_of(app.call(&c.patient.token, Method::GET, &calls, None).await).await;
    let ids: Vec<Uuid> = listed["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(
        ids,
        [id(&unanswered), id(&scheduled), id(&ringing)],
        "newest first"
    );

    // Room links are sealed; outsiders see nothing; an ended link calls no one.
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["video.clinic.example"]);
    let stranger = app.person(&[(Some(c.facility), Role::Doctor)]).await;
    problem(
        app.call(&stranger.token, Method::GET, &calls, None).await,
        404,
        "not-found",
    )
    .await;
    json_of(c.move_link(&app, &c.patient, link, "ended").await).await;
    problem(
        app.call(&c.patient.token, Method::POST, &calls, Some(json!({})))
            .await,
        409,
        "conflict",
    )
    .await;
    app.stop().await;
}

async fn daily_makes_the_rooms_when_a_key_is_configured(backend: TestBackend) {
    let daily = crate::support::fake_daily::FakeDaily::default();
    let api = daily.start().await;
    let app = TestApp::spawn_with(backend, |c| {
        c.edit_section(|s: &mut MessagingSettings| {
            s.video_daily_api_key = Some(carebase::config::SecretString::new(
                crate::support::fake_daily::KEY.to_owned(),
            ));
            s.video_daily_api_url = api.clone();
        })
    })
    .await;
    let c = clinic(&app).await;
    let (_, conversation) = c.linked(&app).await;
    let calls = format!("{}/{conversation}/calls", c.conversations());
    let call = json_of(
        app.call(
            &c.doctor.token,
            Method::POST,
            &calls,
            Some(json!({"recording_enabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(call["provider"], "daily");
    let room = call["room_name"].as_str().unwrap().to_owned();
    assert_eq!(call["room_url"], format!("https://clinic.daily.co/{room}"));
    let made = daily.rooms.lock().unwrap().get(&room).cloned().unwrap();
    assert_eq!(made["privacy"], "private");
    assert_eq!(made["properties"]["enable_recording"], "cloud");
    assert!(made["properties"]["exp"].as_i64().unwrap() > jiff::Timestamp::now().as_second());
    // Daily failing: a 503 problem, and no call is written.
    *daily.failing.lock().unwrap() = true;
    problem(
        app.call(&c.doctor.token, Method::POST, &calls, Some(json!({})))
            .await,
        503,
        "unavailable",
    )
    .await;
    let listed = json_of(app.call(&c.doctor.token, Method::GET, &calls, None).await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR wound photo";
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under the attachment store's directory.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.state.config.data_dir.join("files"), &mut out);
    out
}

async fn files_go_with_their_message_sealed_and_downloads_are_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = ward(&app).await;
    let mut nurse_socket = Socket::open(app.addr, &w.nurse.token).await;
    nurse_socket.subscribe(&[w.conversation]).await;
    let posted = app
        .post_file(
            &w.physician.token,
            &w.path("/attachments"),
            Some(("discharge.pdf", "application/pdf", PDF)),
            &[("body", "Letter for bed 7")],
        )
        .await;
    assert_eq!(posted.status(), 201);
    let message = json_of(posted).await;
    assert_eq!(message["message_type"], "mixed");
    assert_eq!(message["body"], "Letter for bed 7");
    let file = &message["attachments"][0];
    assert_eq!(file["file_name"], "discharge.pdf");
    assert_eq!(file["mime_type"], "application/pdf");
    assert_eq!(file["file_size"], PDF.len());
    assert_eq!(file["sha256"], sha256_hex(PDF));
    let event = nurse_socket.expect("message.created").await;
    assert_eq!(event["message"]["attachments"][0]["id"], file["id"]);
    // Without a caption the message is a `file`.
    let bare = json_of(
        app.post_file(
            &w.nurse.token,
            &w.path("/attachments"),
            Some(("wound.png", "image/png", PNG)),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(bare["message_type"], "file");
    assert!(bare["body"].is_null());
    let listed = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path("/messages"), None)
            .await,
    )
    .await;
    assert_eq!(listed["items"][1]["attachments"][0]["id"], file["id"]);

    // A participant downloads it as it was; the browser is told not to sniff.
    let download = w.path(&format!("/attachments/{}", file["id"].as_str().unwrap()));
    let got = app.call(&w.nurse.token, Method::GET, &download, None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        got.headers()["content-disposition"],
        "attachment; filename=\"discharge.pdf\""
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    problem(
        app.call(&outsider.token, Method::GET, &download, None)
            .await,
        404,
        "not-found",
    )
    .await;
    let audited = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &format!(
                "/facilities/{}/audit-events?action=document_access&actor_id={}",
                w.facility, w.nurse.account_id
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(audited["items"].as_array().unwrap().len(), 1, "{audited}");

    // Sealed at rest: neither the store nor the database holds it in clear.
    let files = stored_files(&app);
    assert_eq!(files.len(), 2);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        assert_no_plaintext(&bytes, &["Quillfeather", "%PDF", "wound photo"]);
        assert!(!path.to_string_lossy().contains("discharge"));
    }
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["discharge.pdf", "Letter for bed 7"]);

    // A deleted message takes its file out of reach.
    let message_path = w.path(&format!("/messages/{}", id(&message)));
    assert_eq!(
        app.call(&w.physician.token, Method::DELETE, &message_path, None)
            .await
            .status(),
        204
    );
    problem(
        app.call(&w.nurse.token, Method::GET, &download, None).await,
        404,
        "not-found",
    )
    .await;
    app.stop().await;
}

async fn bad_uploads_are_refused_and_leave_nothing_behind(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.upload_max_bytes = 4096;
        c.http_body_limit_bytes = 4096;
    })
    .await;
    let w = ward(&app).await;
    let path = w.path("/attachments");
    let big = [PDF, &vec![b'x'; 5000]].concat();
    for (file, fields, field) in [
        (
            Some(("big.pdf", "application/pdf", &big[..])),
            vec![],
            "file",
        ),
        (
            Some(("empty.pdf", "application/pdf", &b""[..])),
            vec![],
            "file",
        ),
        (
            Some(("logo.svg", "image/svg+xml", &b"<svg/>"[..])),
            vec![],
            "content_type",
        ),
        (Some(("fake.png", "image/png", PDF)), vec![], "content_type"),
        (
            Some(("../../etc/passwd.pdf", "application/pdf", PDF)),
            vec![],
            "file_name",
        ),
        (None, vec![("body", "no file")], "file"),
        (
            Some(("ok.pdf", "application/pdf", PDF)),
            vec![("colour", "red")],
            "colour",
        ),
        (
            Some(("ok.pdf", "application/pdf", PDF)),
            vec![("is_sensitive", "maybe")],
            "is_sensitive",
        ),
    ] {
        let refused = problem(
            app.post_file(&w.physician.token, &path, file, &fields)
                .await,
            422,
            "validation",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{refused}");
    }
    // Past the upload limit (the larger of the general body limit and the
    // file limit plus 64 KiB of form framing: 69,632 bytes here), the
    // server refuses the body itself. Small enough for the loopback buffer,
    // so the client finishes writing before the refusal arrives.
    let huge = vec![b'x'; 72 * 1024];
    let refused = problem(
        app.post_file(
            &w.physician.token,
            &path,
            Some(("huge.pdf", "application/pdf", &huge)),
            &[],
        )
        .await,
        413,
        "payload-too-large",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("69632 bytes"),
        "{refused}"
    );
    // Someone outside the conversation stores nothing either.
    let outsider = app.person(&[(Some(w.facility), Role::Physician)]).await;
    problem(
        app.post_file(
            &outsider.token,
            &path,
            Some(("ok.pdf", "application/pdf", PDF)),
            &[],
        )
        .await,
        404,
        "not-found",
    )
    .await;
    assert!(stored_files(&app).is_empty(), "no file was stored");
    let conversation = json_of(
        app.call(&w.physician.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["last_seq"], 0, "no message was written");
    app.stop().await;
}

async fn pre_authorised_uploads_are_single_use_and_attach_to_a_message(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let w = ward(&app).await;
    let authorise = |body: Value| {
        let token = w.physician.token.clone();
        let path = w.path("/attachments/uploads");
        let app = &app;
        async move { app.call(&token, Method::POST, &path, Some(body)).await }
    };
    let refused = problem(
        authorise(
            json!({"file_name": "x.exe", "content_type": "application/x-msdownload", "size": 10}),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "content_type");
    let refused = problem(
        authorise(json!({"file_name": "x.pdf", "content_type": "application/pdf", "size": 0}))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "size");
    let grant = json_of(authorise(json!({"file_name": "referral.pdf", "content_type": "application/pdf", "size": PDF.len()})).await).await;
    let upload = |bytes: Vec<u8>, mime: &'static str| {
        let url = app.url(grant["upload_url"].as_str().unwrap());
        let client = app.client.clone();
        async move {
            client
                .put(url)
                .header("content-type", mime)
                .body(bytes)
                .send()
                .await
                .unwrap()
        }
    };
    // The wrong size or type is refused and the grant stays open.
    let refused = problem(
        upload(PDF[..10].to_vec(), "application/pdf").await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "file");
    let refused = problem(upload(PDF.to_vec(), "image/png").await, 422, "validation").await;
    assert_eq!(refused["errors"][0]["field"], "content_type");
    let stored = json_of(upload(PDF.to_vec(), "application/pdf").await).await;
    assert_eq!(stored["sha256"], sha256_hex(PDF));
    problem(
        upload(PDF.to_vec(), "application/pdf").await,
        404,
        "not-found",
    )
    .await;
    let bogus = app
        .client
        .put(app.url("/uploads/not-a-token"))
        .body(PDF.to_vec())
        .send()
        .await
        .unwrap();
    problem(bogus, 404, "not-found").await;

    // Only its uploader attaches it, once.
    let attachment = stored["attachment_id"].clone();
    let refused = problem(
        app.call(
            &w.nurse.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"attachment_ids": [attachment]})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "attachment_ids[0]");
    let message = json_of(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"attachment_ids": [attachment]})),
        )
        .await,
    )
    .await;
    assert_eq!(message["message_type"], "file");
    assert_eq!(message["attachments"][0]["file_name"], "referral.pdf");
    let again = problem(
        app.call(
            &w.physician.token,
            Method::POST,
            &w.path("/messages"),
            Some(json!({"body": "again", "attachment_ids": [attachment]})),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(again["errors"][0]["field"], "attachment_ids[0]");
    let got = app
        .call(
            &w.nurse.token,
            Method::GET,
            &w.path(&format!("/attachments/{}", attachment.as_str().unwrap())),
            None,
        )
        .await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    app.stop().await;
}

/// A handler holding a transaction must not wait for a second pooled
/// connection: with more concurrent senders than connections, that waits
/// forever (until the pool's timeout fails them with a 500). The benchmark
/// found it; this keeps it fixed.
async fn many_senders_at_once_never_wait_on_the_pool_they_hold(backend: TestBackend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.db_max_connections = 3;
        c.db_acquire_timeout_secs = 3;
    })
    .await;
    let w = ward(&app).await;
    let mut sends = Vec::new();
    for i in 0..24 {
        let request = app
            .client
            .post(app.url(&w.path("/messages")))
            .bearer_auth(if i % 2 == 0 {
                &w.physician.token
            } else {
                &w.nurse.token
            })
            .json(&json!({"body": format!("note {i}")}));
        sends.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), 201);
    }
    let conversation = json_of(
        app.call(&w.nurse.token, Method::GET, &w.path(""), None)
            .await,
    )
    .await;
    assert_eq!(conversation["last_seq"], 24);
    app.stop().await;
}

/// With `files_s3_bucket`, attachments go to an S3-compatible server (CI
/// runs moto's); ignored when `CAREBASE_TEST_S3_URL` was not set as the
/// tests were built.
async fn attachments_can_live_in_an_s3_bucket(backend: TestBackend) {
    let url = std::env::var("CAREBASE_TEST_S3_URL")
        .expect("CAREBASE_TEST_S3_URL was set when the tests were built");
    carebase::install_tls_provider();
    let bucket = format!("carebase-api-{}", Uuid::now_v7().simple());
    let created = reqwest::Client::new()
        .put(format!("{url}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let app = TestApp::spawn_with(backend, |c| {
        c.files_s3_bucket = Some(bucket.clone());
        c.files_s3_endpoint = Some(url.clone());
        c.files_s3_allow_http = true;
        c.files_s3_access_key_id = Some("testing".to_owned());
        c.files_s3_secret_access_key =
            Some(carebase::config::SecretString::new("testing".to_owned()));
    })
    .await;
    let w = ward(&app).await;
    let message = json_of(
        app.post_file(
            &w.physician.token,
            &w.path("/attachments"),
            Some(("discharge.pdf", "application/pdf", PDF)),
            &[],
        )
        .await,
    )
    .await;
    let file = message["attachments"][0]["id"].as_str().unwrap().to_owned();
    let got = app
        .call(
            &w.nurse.token,
            Method::GET,
            &w.path(&format!("/attachments/{file}")),
            None,
        )
        .await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    assert!(stored_files(&app).is_empty(), "nothing on local disk");
    // The bucket holds the sealed bytes only.
    use object_store::ObjectStoreExt;
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_endpoint(&url)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let path =
        object_store::path::Path::from(format!("facilities/{}/attachments/{file}", w.facility));
    let object = raw.get(&path).await.unwrap();
    assert_no_plaintext(&object.bytes().await.unwrap(), &["Quillfeather", "%PDF"]);
    app.stop().await;
}

/// Taking part is not enough once the account's role in the facility is
/// revoked: a socket (of an account still a member elsewhere) is refused
/// the conversation.
async fn a_socket_follows_only_conversations_of_facilities_it_still_belongs_to(
    backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let w = ward(&app).await;
    let elsewhere = app.facility("Elsewhere").await;
    let granted = json_of(
        app.call(
            &w.admin.token,
            Method::GET,
            &format!("/facilities/{}/memberships", w.facility),
            None,
        )
        .await,
    )
    .await;
    let membership = granted["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account_id"] == json!(w.nurse.account_id))
        .map(id)
        .unwrap();
    let sysadmin = app.system_admin().await;
    let also = app
        .call(
            &sysadmin.token,
            Method::POST,
            &format!("/facilities/{elsewhere}/memberships"),
            Some(json!({"account_id": w.nurse.account_id, "role": "nurse"})),
        )
        .await;
    assert_eq!(also.status(), 201);
    let revoked = app
        .call(
            &w.admin.token,
            Method::DELETE,
            &format!("/facilities/{}/memberships/{membership}", w.facility),
            None,
        )
        .await;
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let nurse = app.sign_in(&w.nurse.email).await;
    let mut socket = Socket::open(app.addr, nurse["access_token"].as_str().unwrap()).await;
    let ack = socket.subscribe(&[w.conversation]).await;
    assert_eq!(ack["conversation_ids"], json!([]));
    assert_eq!(ack["refused"], json!([w.conversation]));
    app.stop().await;
}

/// DOMAIN.md: every change is audited in its transaction, names the patient
/// it concerns (so the patient's timeline shows it) and never the text; a
/// refused change leaves no event.
async fn link_and_message_changes_are_audited_with_their_patient_and_no_text(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let c = clinic(&app).await;
    let admin = app.person(&[(Some(c.facility), Role::Admin)]).await;
    let events = |resource: &str| {
        let path = format!(
            "/facilities/{}/audit-events?patient_id={}&resource_type={resource}&limit=200",
            c.facility, c.patient_id
        );
        let token = admin.token.clone();
        let app = &app;
        async move {
            let page = json_of(app.call(&token, Method::GET, &path, None).await).await;
            page["items"].as_array().unwrap().clone()
        }
    };
    let (link, conversation) = c.linked(&app).await;
    let link_events = events("care_team_link").await;
    let actions: Vec<&str> = link_events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"create") && actions.contains(&"update"),
        "{actions:?}"
    );
    json_of(
        c.post(
            &app,
            &c.patient,
            conversation,
            json!({"body": "Rash on left forearm"}),
        )
        .await,
    )
    .await;
    let written = events("message").await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["action"], "create");
    assert!(!serde_json::to_string(&written).unwrap().contains("forearm"));
    // Refused after the link ended: no message, no event.
    json_of(c.move_link(&app, &c.doctor, link, "ended").await).await;
    problem(
        c.post(
            &app,
            &c.patient,
            conversation,
            json!({"body": "Worse today"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(events("message").await.len(), 1);
    app.stop().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        // Without a WebSocket upgrade, a role the engine lets through gets 400.
        Case::new("open the realtime socket", Method::GET, P::CONVERSATION_READ, |_, _| "/realtime".to_owned())
            .grant(Grant::Anywhere(400)),
        Case::new("list care-team links", Method::GET, P::CARE_TEAM_READ, |r, _| format!("/facilities/{f}/care-team-links", f = r.facility)),
        Case::new("read care-team link", Method::GET, P::CARE_TEAM_READ, |r, _| {
                format!(
                    "/facilities/{f}/care-team-links/{l}",
                    f = r.facility,
                    l = r.link
                )
            }),
        Case::new("request care-team link", Method::POST, P::CARE_TEAM_MANAGE, |r, _| format!("/facilities/{f}/care-team-links", f = r.facility))
            .body(|w, _| Some(json!({"patient_id": w.own.patient, "provider_id": w.own.provider})))
            .grant(Grant::OwnRecordForPatient),
        // A request cannot end: past the policy engine, a 409.
        Case::new("move care-team link", Method::POST, P::CARE_TEAM_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/care-team-links/{l}/status",
                    f = r.facility,
                    l = r.link
                )
            })
            .body(|_, _| Some(json!({"status": "ended"})))
            .grant(Grant::OwnRecordForPatient),
        Case::new("list conversations", Method::GET, P::CONVERSATION_READ, |r, _| format!("/facilities/{f}/conversations", f = r.facility)),
        Case::new("start conversation", Method::POST, P::CONVERSATION_MANAGE, |r, _| format!("/facilities/{f}/conversations", f = r.facility))
            .body(|_, _| Some(json!({"title": "Rota", "conversation_type": "administrative"})))
            .grant(Grant::OwnRecord),
        Case::new("read conversation", Method::GET, P::CONVERSATION_READ, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}",
                    f = r.facility,
                    c = r.conversation
                )
            }),
        Case::new("update conversation", Method::PATCH, P::CONVERSATION_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|_, _| Some(json!({"priority": "urgent"})))
            .grant(Grant::OwnRecord),
        Case::new("move conversation status", Method::POST, P::CONVERSATION_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/status",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|_, _| Some(json!({"status": "escalated"})))
            .grant(Grant::OwnRecord),
        Case::new("add participant", Method::POST, P::CONVERSATION_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/participants",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|w, _| Some(json!({"account_id": w.own.admin})))
            .grant(Grant::OwnRecord),
        Case::new("remove participant", Method::DELETE, P::CONVERSATION_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/participants",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .grant(Grant::OwnRecord)
            .fresh(fresh_participant),
        Case::new("list messages", Method::GET, P::CONVERSATION_READ, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/messages",
                    f = r.facility,
                    c = r.conversation
                )
            }),
        Case::new("post message", Method::POST, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/messages",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|_, _| Some(json!({"body": "Noted"})))
            .grant(Grant::OwnRecord),
        Case::new("post the assistant's answer", Method::POST, P::MESSAGE_ASSIST, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/messages",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|_, _| {
                Some(
                    json!({"body": "Likely benign", "message_type": "ai_response", "ai_confidence": 0.7}),
                )
            }),
        Case::new("edit someone's message", Method::PATCH, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/messages/{m}",
                    f = r.facility,
                    c = r.conversation,
                    m = r.message
                )
            })
            .body(|_, _| Some(json!({"body": "changed"})))
            .grant(Grant::AuthorOnly),
        Case::new("delete someone's message", Method::DELETE, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/messages",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .fresh(fresh_message),
        Case::new("read message edit history", Method::GET, P::FACILITY_MANAGE, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/messages/{m}/edits",
                    f = r.facility,
                    c = r.conversation,
                    m = r.message
                )
            }),
        Case::new("mark conversation read", Method::POST, P::CONVERSATION_READ, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/read",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|_, _| Some(json!({"seq": 0}))),
        Case::new("start video call", Method::POST, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/calls",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|_, _| Some(json!({})))
            .grant(Grant::OwnRecord),
        Case::new("list video calls", Method::GET, P::CONVERSATION_READ, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/calls",
                    f = r.facility,
                    c = r.conversation
                )
            }),
        Case::new("read video call", Method::GET, P::CONVERSATION_READ, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/calls/{k}",
                    f = r.facility,
                    c = r.conversation,
                    k = r.call
                )
            }),
        // The first one cancels; the others meet a final status (409).
        Case::new("move video call status", Method::POST, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/calls/{k}/status",
                    f = r.facility,
                    c = r.conversation,
                    k = r.call
                )
            })
            .body(|_, _| Some(json!({"status": "canceled"})))
            .grant(Grant::OwnRecord),
        // Sent as multipart/form-data (see `send`).
        Case::new("post message with file", Method::POST, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/attachments",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .grant(Grant::OwnRecord),
        Case::new("authorise upload", Method::POST, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/attachments/uploads",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .body(|_, _| {
                Some(
                    json!({"file_name": "scan.pdf", "content_type": "application/pdf", "size": 100}),
                )
            })
            .grant(Grant::OwnRecord),
        Case::new("download attachment", Method::GET, P::CONVERSATION_READ, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/attachments/{a}",
                    f = r.facility,
                    c = r.conversation,
                    a = r.attachment
                )
            }),
        Case::new("signal typing", Method::POST, P::MESSAGE_SEND, |r, _| {
                format!(
                    "/facilities/{f}/conversations/{c}/typing",
                    f = r.facility,
                    c = r.conversation
                )
            })
            .grant(Grant::OwnRecord),
    ]
}

/// A member of the facility added to the records' conversation.
fn fresh_participant<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let (account, _) = app.account(&[(Some(records.facility), Role::Staff)]).await;
        app.join_conversation(records, account).await;
        account
    })
}

/// A message of the administrator in the records' conversation.
fn fresh_message<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let response = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!(
                    "/facilities/{}/conversations/{}/messages",
                    records.facility, records.conversation
                ),
                Some(json!({"body": "Please confirm"})),
            )
            .await;
        assert_eq!(response.status(), 201);
        id(&response.json().await.unwrap())
    })
}
