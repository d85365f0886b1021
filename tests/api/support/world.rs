//! What the role matrix acts on: two facilities, each with a record of
//! every kind a case needs, held by no one under test, and the account a
//! case grants a role to.

use carebase::policy::Role;
use carebase::policy::RoleScope;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PDF, Person, TestApp, always_open, id, new_lead, new_patient};

/// What a facility of the world holds: a patient, a lead and a task that
/// belong to no one under test (the lead is owned by the facility's
/// administrator, the task raised by and assigned to it).
pub struct Records {
    pub facility: Uuid,
    pub patient: Uuid,
    /// The patient's medical record number.
    pub patient_mrn: Value,
    pub lead: Uuid,
    /// The second stage of the facility's default lead pipeline.
    pub lead_stage: Uuid,
    /// A patient no case reads: the one the emergency access cases open.
    pub stranger: Uuid,
    /// The patient's care journey, coached by no one under test.
    pub journey: Uuid,
    /// The second stage of the facility's default care pathway.
    pub care_stage: Uuid,
    /// The facility's administrator, who owns the lead.
    pub admin: Uuid,
    /// A task raised by and assigned to the administrator.
    pub task: Uuid,
    /// A chat session with the lead.
    pub chat: Uuid,
    /// A provider (no one under test) with a schedule.
    pub provider: Uuid,
    /// An appointment of the lead with the provider, booked by the administrator.
    pub appointment: Uuid,
    /// An appointment of the patient with the provider: the one the
    /// `patient` role acts on in the appointment cases.
    pub patient_appointment: Uuid,
    /// An appointment type of the facility.
    pub appointment_type: Uuid,
    /// The provider's calendar feed.
    pub feed: Uuid,
    /// A waitlist entry of the lead, made by the administrator.
    pub waitlist_entry: Uuid,
    /// A waitlist entry of the patient: the one the `patient` role reads.
    pub patient_waitlist_entry: Uuid,
    /// A care-team link of the patient with the provider, requested by
    /// the administrator for the provider.
    pub link: Uuid,
    /// A facility conversation started by the administrator with the
    /// provider; each role under test is made a participant of the own
    /// facility's.
    pub conversation: Uuid,
    /// A message of the administrator in it.
    pub message: Uuid,
    /// A video call the administrator scheduled in it.
    pub call: Uuid,
    /// A file the administrator posted in it.
    pub attachment: Uuid,
    /// The administrator's token, to make records a case uses up.
    pub admin_token: String,
}

impl Records {
    /// Records that name nothing stored, each id its own: enough to see
    /// which operation a case's path is.
    pub fn placeholder() -> Self {
        let new = Uuid::new_v4;
        Records {
            facility: new(),
            patient: new(),
            patient_mrn: Value::Null,
            lead: new(),
            lead_stage: new(),
            stranger: new(),
            journey: new(),
            care_stage: new(),
            admin: new(),
            task: new(),
            chat: new(),
            provider: new(),
            appointment: new(),
            patient_appointment: new(),
            appointment_type: new(),
            feed: new(),
            waitlist_entry: new(),
            patient_waitlist_entry: new(),
            link: new(),
            conversation: new(),
            message: new(),
            call: new(),
            attachment: new(),
            admin_token: String::new(),
        }
    }
}

/// What the cases act on: the facility every role under test belongs to
/// (`own`), one it does not (`other`), and an account to grant roles to.
pub struct World {
    pub own: Records,
    pub other: Records,
    pub grantee: Uuid,
}

impl World {
    pub async fn make(app: &TestApp) -> Self {
        let own = app.facility("Own Clinic").await;
        let other = app.facility("Other Clinic").await;
        let own_patient = app.patient(own, new_patient()).await;
        let other_patient = app.patient(other, new_patient()).await;
        let own = records(app, own, &own_patient).await;
        let other = records(app, other, &other_patient).await;
        World {
            own,
            other,
            grantee: app.account(&[]).await.0,
        }
    }

    /// A person holding `role` (in the own facility, if a facility role),
    /// signed in, and placed where the role reaches the own facility's
    /// records: the patient role linked to the patient, a doctor on the
    /// patient's care team, every facility role in the conversation.
    pub async fn sign_in(&self, app: &TestApp, role: Role) -> Person {
        let facility = match role.scope() {
            RoleScope::Installation => None,
            RoleScope::Facility => Some(self.own.facility),
        };
        let person = app.person(&[(facility, role)]).await;
        if role == Role::Patient {
            app.link_portal(self.own.facility, self.own.patient, &person)
                .await;
        }
        if role == Role::Doctor {
            app.link_care_team(&self.own, person.account_id).await;
        }
        if role.scope() == RoleScope::Facility {
            app.join_conversation(&self.own, person.account_id).await;
        }
        person
    }
}

impl TestApp {
    /// Links `doctor` with the records' patient: requested and accepted by the
    /// facility's administrator.
    pub async fn link_care_team(&self, records: &Records, doctor: Uuid) {
        let f = records.facility;
        let link = self
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{f}/care-team-links"),
                Some(json!({"patient_id": records.patient, "provider_id": doctor})),
            )
            .await;
        assert_eq!(link.status(), 201);
        let link = id(&link.json().await.unwrap());
        let accepted = self
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{f}/care-team-links/{link}/status"),
                Some(json!({"status": "active"})),
            )
            .await;
        assert_eq!(accepted.status(), 200);
    }

    /// Makes `account` a participant of the records' conversation.
    pub async fn join_conversation(&self, records: &Records, account: Uuid) {
        let response = self
            .call(
                &records.admin_token,
                Method::POST,
                &format!(
                    "/facilities/{}/conversations/{}/participants",
                    records.facility, records.conversation
                ),
                Some(json!({"account_id": account})),
            )
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

/// What the cases act on in `facility`: a lead owned by its administrator,
/// and `patient` on the default care journey with no coach.
async fn records(app: &TestApp, facility: Uuid, patient: &Value) -> Records {
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let lead = id(&app.create_lead(&admin.token, facility, new_lead()).await);
    let journey = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/patients/{}/journeys", id(patient)),
            Some(json!({})),
        )
        .await;
    assert_eq!(journey.status(), 201);
    let journey: Value = journey.json().await.unwrap();
    let care_stage = second_stage(app, facility, &admin.token, "care").await;
    let scheduled = scheduled_in(app, facility, &admin.token, lead, id(patient)).await;
    let messaging =
        messaging_in(app, facility, &admin.token, id(patient), scheduled.provider).await;
    Records {
        facility,
        patient: id(patient),
        patient_mrn: patient["mrn"].clone(),
        lead,
        lead_stage: second_stage(app, facility, &admin.token, "lead").await,
        stranger: id(&app.patient(facility, new_patient()).await),
        journey: id(&journey),
        care_stage,
        admin: admin.account_id,
        task: task_in(app, facility).await,
        chat: chat_in(app, facility, lead).await,
        provider: scheduled.provider,
        appointment: scheduled.appointment,
        patient_appointment: scheduled.patient_appointment,
        appointment_type: scheduled.appointment_type,
        feed: scheduled.feed,
        waitlist_entry: scheduled.waitlist_entry,
        patient_waitlist_entry: scheduled.patient_waitlist_entry,
        link: messaging.0,
        conversation: messaging.1,
        message: messaging.2,
        call: messaging.3,
        attachment: messaging.4,
        admin_token: admin.token.clone(),
    }
}

/// The second stage of the facility's default pipeline of `kind`.
async fn second_stage(app: &TestApp, facility: Uuid, admin: &str, kind: &str) -> Uuid {
    let pipelines: Value = app
        .call(
            admin,
            Method::GET,
            &format!("/facilities/{facility}/pipelines?kind={kind}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    pipelines["items"][0]["stages"][1]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A care-team link of the patient with the provider (requested for the
/// provider by the administrator), and a conversation of the administrator
/// with the provider holding one message of the administrator.
async fn messaging_in(
    app: &TestApp,
    facility: Uuid,
    admin: &str,
    patient: Uuid,
    provider: Uuid,
) -> (Uuid, Uuid, Uuid, Uuid, Uuid) {
    let link = app
        .call(
            admin,
            Method::POST,
            &format!("/facilities/{facility}/care-team-links"),
            Some(json!({"patient_id": patient, "provider_id": provider})),
        )
        .await;
    assert_eq!(link.status(), 201);
    let conversation = app
        .call(
            admin,
            Method::POST,
            &format!("/facilities/{facility}/conversations"),
            Some(json!({"title": "Handover", "conversation_type": "general", "participants": [{"account_id": provider}]})),
        )
        .await;
    assert_eq!(conversation.status(), 201);
    let conversation = id(&conversation.json().await.unwrap());
    let message = app
        .call(
            admin,
            Method::POST,
            &format!("/facilities/{facility}/conversations/{conversation}/messages"),
            Some(json!({"body": "Ward round at nine"})),
        )
        .await;
    assert_eq!(message.status(), 201);
    let call = app
        .call(
            admin,
            Method::POST,
            &format!("/facilities/{facility}/conversations/{conversation}/calls"),
            Some(json!({"scheduled_for": hours_from_now(48)})),
        )
        .await;
    assert_eq!(call.status(), 201);
    let file = app
        .post_file(
            admin,
            &format!("/facilities/{facility}/conversations/{conversation}/attachments"),
            Some(("scan.pdf", "application/pdf", PDF)),
            &[],
        )
        .await;
    assert_eq!(file.status(), 201);
    let file: Value = file.json().await.unwrap();
    (
        id(&link.json().await.unwrap()),
        conversation,
        id(&message.json().await.unwrap()),
        id(&call.json().await.unwrap()),
        id(&file["attachments"][0]),
    )
}

/// The scheduling records of a facility.
struct Scheduled {
    provider: Uuid,
    appointment: Uuid,
    patient_appointment: Uuid,
    appointment_type: Uuid,
    feed: Uuid,
    waitlist_entry: Uuid,
    patient_waitlist_entry: Uuid,
}

async fn scheduled_in(
    app: &TestApp,
    facility: Uuid,
    admin: &str,
    lead: Uuid,
    patient: Uuid,
) -> Scheduled {
    let provider_person = app.person(&[(Some(facility), Role::Provider)]).await;
    let provider = provider_person.account_id;
    app.set_schedule(admin, facility, provider, always_open())
        .await;
    let feed = app
        .call(
            &provider_person.token,
            Method::POST,
            &format!("/facilities/{facility}/calendar-feeds"),
            Some(json!({"provider_id": provider})),
        )
        .await;
    assert_eq!(feed.status(), 201);
    let feed = id(&feed.json().await.unwrap());
    let appointment = app
        .booked(
            admin,
            facility,
            json!({"provider_id": provider, "starts_at": hours_from_now(100), "lead_id": lead}),
        )
        .await;
    let patient_appointment = app
        .booked(
            admin,
            facility,
            json!({"provider_id": provider, "starts_at": hours_from_now(110), "patient_id": patient}),
        )
        .await;
    let kind = app
        .call(
            admin,
            Method::POST,
            &format!("/facilities/{facility}/appointment-types"),
            Some(json!({"name": "Consultation"})),
        )
        .await;
    assert_eq!(kind.status(), 201);
    let entry = app
        .call(
            admin,
            Method::POST,
            &format!("/facilities/{facility}/waitlist"),
            Some(json!({"lead_id": lead, "window_start": hours_from_now(24), "window_end": hours_from_now(96)})),
        )
        .await;
    assert_eq!(entry.status(), 201);
    let patient_entry = app
        .call(
            admin,
            Method::POST,
            &format!("/facilities/{facility}/waitlist"),
            Some(json!({"patient_id": patient, "window_start": hours_from_now(24), "window_end": hours_from_now(96)})),
        )
        .await;
    assert_eq!(patient_entry.status(), 201);
    Scheduled {
        provider,
        appointment: id(&appointment),
        patient_appointment: id(&patient_appointment),
        appointment_type: id(&kind.json().await.unwrap()),
        feed,
        waitlist_entry: id(&entry.json().await.unwrap()),
        patient_waitlist_entry: id(&patient_entry.json().await.unwrap()),
    }
}

/// A task of `facility`, raised by and assigned to its administrator.
async fn task_in(app: &TestApp, facility: Uuid) -> Uuid {
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    id(&app
        .create_task(&admin.token, facility, json!({"title": "Order labs"}))
        .await)
}

/// A chat session with `lead` of `facility`, opened by its administrator.
async fn chat_in(app: &TestApp, facility: Uuid, lead: Uuid) -> Uuid {
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let response = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/chat-sessions"),
            Some(json!({"lead_id": lead})),
        )
        .await;
    assert_eq!(response.status(), 201);
    id(&response.json().await.unwrap())
}

/// A whole hour `hours` from now, as the API writes it.
fn hours_from_now(hours: i64) -> String {
    super::hours_ahead(hours).to_string()
}
