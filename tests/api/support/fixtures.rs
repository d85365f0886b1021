//! Records to act on, made over the API by someone allowed to: facilities,
//! patients, leads, tasks, schedules and appointments.

use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Person, TestApp, id, json_of};

impl TestApp {
    /// A new facility, made by a system administrator over the API.
    pub async fn facility(&self, name: &str) -> Uuid {
        let admin = self.system_admin().await;
        let response = self
            .call(
                &admin.token,
                Method::POST,
                "/facilities",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(response.status(), 201);
        id(&response.json().await.unwrap())
    }

    /// A patient registered over the API by a facility administrator.
    pub async fn patient(&self, facility_id: Uuid, body: Value) -> Value {
        let admin = self.person(&[(Some(facility_id), Role::Admin)]).await;
        let response = self
            .call(
                &admin.token,
                Method::POST,
                &format!("/facilities/{facility_id}/patients"),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// How many patients the database holds, in every facility.
    pub async fn count_patients(&self) -> i64 {
        let backend = self.state.db.conn().get_database_backend();
        let row = self
            .state
            .db
            .conn()
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM patients",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    /// Links `portal`'s account to `patient`: the facility's administrator
    /// invites its address to the portal and `portal` accepts, signed in.
    pub async fn link_portal(&self, facility: Uuid, patient: Uuid, portal: &Person) {
        let admin = self.person(&[(Some(facility), Role::Admin)]).await;
        let invited = self
            .call(
                &admin.token,
                Method::POST,
                &format!("/facilities/{facility}/patients/{patient}/portal-invitations"),
                Some(json!({"email": portal.email})),
            )
            .await;
        assert_eq!(invited.status(), 201, "{}", invited.text().await.unwrap());
        let invitation = json_of(invited).await;
        let accepted = self
            .call(
                &portal.token,
                Method::POST,
                &format!(
                    "/me/invitations/{}/accept",
                    invitation["id"].as_str().unwrap()
                ),
                None,
            )
            .await;
        assert_eq!(accepted.status(), 200, "{}", accepted.text().await.unwrap());
    }

    /// Records a lead as `token`; panics unless it works.
    pub async fn create_lead(&self, token: &str, facility: Uuid, body: Value) -> Value {
        json_of(
            self.call(
                token,
                Method::POST,
                &format!("/facilities/{facility}/leads"),
                Some(body),
            )
            .await,
        )
        .await
    }

    /// Asks to move `lead` to `status` as `token`.
    pub async fn move_lead(&self, token: &str, lead: &Value, status: &str) -> reqwest::Response {
        self.call(
            token,
            Method::POST,
            &format!(
                "/facilities/{}/leads/{}/status",
                lead["facility_id"].as_str().unwrap(),
                id(lead)
            ),
            Some(json!({ "status": status })),
        )
        .await
    }

    /// Raises a task as `token`; panics unless it works.
    pub async fn create_task(&self, token: &str, facility: Uuid, body: Value) -> Value {
        let response = self
            .call(
                token,
                Method::POST,
                &format!("/facilities/{facility}/tasks"),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Asks to move `task` to `status` as `token`.
    pub async fn move_task(&self, token: &str, task: &Value, status: &str) -> reqwest::Response {
        self.call(
            token,
            Method::POST,
            &format!("{}/status", task_path(task)),
            Some(json!({ "status": status })),
        )
        .await
    }

    /// Sets `provider`'s schedule as `token`; panics unless it works.
    pub async fn set_schedule(
        &self,
        token: &str,
        facility: Uuid,
        provider: Uuid,
        body: Value,
    ) -> Value {
        let response = self
            .call(
                token,
                Method::PUT,
                &format!("/facilities/{facility}/schedules/{provider}"),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Asks to book an appointment as `token`.
    pub async fn book(&self, token: &str, facility: Uuid, body: Value) -> reqwest::Response {
        self.call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/appointments"),
            Some(body),
        )
        .await
    }

    /// Books as `token`; panics unless it works.
    pub async fn booked(&self, token: &str, facility: Uuid, body: Value) -> Value {
        let response = self.book(token, facility, body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }
}

/// The path of `task`.
pub fn task_path(task: &Value) -> String {
    format!(
        "/facilities/{}/tasks/{}",
        task["facility_id"].as_str().unwrap(),
        id(task)
    )
}

/// A valid new patient with a unique MRN.
pub fn new_patient() -> Value {
    json!({
        "mrn": format!("MRN-{}", &Uuid::new_v4().simple().to_string()[..10]),
        "first_name": "Zebediah",
        "last_name": "Quuxworth",
        "date_of_birth": "1961-07-14",
        "gender": "male",
        "ssn": "219-09-9999",
        "phone": "+1 555 010 4242",
        "email": "zebediah.quuxworth@example.org",
        "address": {"line1": "17 Larkspur Lane", "city": "Eastwick"},
        "emergency_contact": {"name": "Philomena Quuxworth", "phone": "+1 555 010 4243"},
        "insurance": {"provider": "Acme Mutual", "member_id": "ACM-77881"},
        "allergies": ["penicillin", "latex"],
    })
}

/// A new lead with unique contact details.
pub fn new_lead() -> Value {
    let tag = Uuid::new_v4().simple().to_string();
    json!({
        "first_name": "Octavia",
        "last_name": "Wrenfield",
        "email": format!("octavia.{}@example.org", &tag[..12]),
        "phone": format!("+1 555 {}", &tag.chars().filter(|c| c.is_ascii_digit()).chain("0000000".chars()).take(7).collect::<String>()),
        "source": "Newsletter",
        "readiness": "Warm",
        "notes": "Prefers evening calls",
        "interests": [{"procedure": "Rhinoplasty", "priority": "high", "notes": "since 2019"}],
    })
}

/// Working hours every day, all day, bookable at once.
pub fn always_open() -> Value {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    json!({
        "working_hours": days.map(|d| json!({"weekday": d, "start": "00:00", "end": "24:00"})),
        "slot_minutes": 15,
        "min_notice_minutes": 0,
    })
}

/// A timestamp `hours` from now, on a whole hour.
pub fn hours_ahead(hours: i64) -> Timestamp {
    let now = Timestamp::now().as_micros();
    let hour = 3_600_000_000;
    Timestamp::from_micros((now / hour + 1 + hours) * hour)
}
