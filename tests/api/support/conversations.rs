//! The people and places the messaging tests act in: a clinic where a
//! patient and a doctor link up as a care team, a ward conversation
//! between staff.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Person, TestApp, id, json_of, new_patient};

/// A facility with a patient who has a portal account, and a doctor.
pub struct Clinic {
    pub facility: Uuid,
    pub patient_id: Uuid,
    pub patient: Person,
    pub doctor: Person,
}

impl Clinic {
    pub fn links(&self) -> String {
        format!("/facilities/{}/care-team-links", self.facility)
    }

    pub fn conversations(&self) -> String {
        format!("/facilities/{}/conversations", self.facility)
    }

    pub fn patient_record(&self) -> String {
        format!("/facilities/{}/patients/{}", self.facility, self.patient_id)
    }

    pub async fn request(&self, app: &TestApp, by: &Person) -> reqwest::Response {
        app.call(
            &by.token,
            Method::POST,
            &self.links(),
            Some(json!({"patient_id": self.patient_id, "provider_id": self.doctor.account_id})),
        )
        .await
    }

    pub async fn move_link(
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
    pub async fn linked(&self, app: &TestApp) -> (Uuid, Uuid) {
        let link = id(&json_of(self.request(app, &self.patient).await).await);
        json_of(self.move_link(app, &self.doctor, link, "active").await).await;
        let list = json_of(
            app.call(&self.doctor.token, Method::GET, &self.conversations(), None)
                .await,
        )
        .await;
        (link, id(&list["items"][0]))
    }

    pub async fn post(
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

/// A facility conversation between a physician and a nurse, with an admin.
pub struct Ward {
    pub facility: Uuid,
    pub physician: Person,
    pub nurse: Person,
    pub admin: Person,
    pub conversation: Uuid,
}

impl Ward {
    pub fn path(&self, rest: &str) -> String {
        format!(
            "/facilities/{}/conversations/{}{rest}",
            self.facility, self.conversation
        )
    }
}

impl TestApp {
    /// A facility with a patient who has a portal account, and a doctor.
    pub async fn telehealth_clinic(&self) -> Clinic {
        let facility = self.facility("Telehealth").await;
        let patient = self.person(&[(Some(facility), Role::Patient)]).await;
        let record = self.patient(facility, new_patient()).await;
        self.link_portal(facility, id(&record), &patient).await;
        let doctor = self.person(&[(Some(facility), Role::Doctor)]).await;
        Clinic {
            facility,
            patient_id: id(&record),
            patient,
            doctor,
        }
    }

    /// A facility conversation between a physician and a nurse, with an
    /// administrator.
    pub async fn ward(&self) -> Ward {
        let facility = self.facility("Ward").await;
        let physician = self.person(&[(Some(facility), Role::Physician)]).await;
        let nurse = self.person(&[(Some(facility), Role::Nurse)]).await;
        let admin = self.person(&[(Some(facility), Role::Administrator)]).await;
        let started = self
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
}
