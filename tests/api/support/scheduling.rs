//! What the scheduling tests share: clinics with a time zone and a
//! bookable provider, appointment moves, and the reminder sender's poll.

use carebase::policy::Role;
use carebase::scheduling::settings::SchedulingSettings;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Person, TestApp, always_open, id};

impl TestApp {
    /// A facility in `zone` with an administrator.
    pub async fn clinic_in(&self, zone: &str) -> (Uuid, Person) {
        let system = self.system_admin().await;
        let response = self
            .call(
                &system.token,
                Method::POST,
                "/facilities",
                Some(json!({ "name": "MiKO Clinic", "time_zone": zone })),
            )
            .await;
        assert_eq!(response.status(), 201);
        let facility = id(&response.json().await.unwrap());
        let admin = self.person(&[(Some(facility), Role::Admin)]).await;
        (facility, admin)
    }

    /// A facility in UTC with an administrator and a provider who can be
    /// booked around the clock.
    pub async fn open_clinic(&self) -> (Uuid, Person, Person) {
        let (facility, admin) = self.clinic_in("UTC").await;
        let provider = self.person(&[(Some(facility), Role::Provider)]).await;
        self.set_schedule(&admin.token, facility, provider.account_id, always_open())
            .await;
        (facility, admin, provider)
    }

    /// How many appointments the database holds.
    pub async fn appointment_count(&self) -> u64 {
        carebase::scheduling::appointments::Entity::find()
            .count(self.state.db.conn())
            .await
            .unwrap()
    }

    /// Sets the facility's scheduling rules (`settings.scheduling`).
    pub async fn set_scheduling_rules(&self, token: &str, facility: Uuid, rules: Value) {
        let response = self
            .call(
                token,
                Method::PATCH,
                &format!("/facilities/{facility}"),
                Some(json!({ "settings": { "scheduling": rules } })),
            )
            .await;
        assert_eq!(response.status(), 200);
    }

    /// Moves an appointment's time `secs` later (earlier when negative), as
    /// if that much time had passed the other way: a test cannot wait for
    /// an appointment booked ahead to start.
    pub async fn shift_appointment(&self, appointment: &Value, secs: i64) {
        use carebase::scheduling::appointments::{Column, Entity};
        use sea_orm::sea_query::{Expr, ExprTrait};
        use sea_orm::{ColumnTrait, QueryFilter};
        let micros = secs * 1_000_000;
        let mut update = Entity::update_many();
        for column in [
            Column::StartsAt,
            Column::EndsAt,
            Column::BusyFrom,
            Column::BusyUntil,
        ] {
            update = update.col_expr(column, Expr::col(column).add(micros));
        }
        let done = update
            .filter(Column::Id.eq(id(appointment)))
            .exec(self.state.db.conn())
            .await
            .unwrap();
        assert_eq!(done.rows_affected, 1);
    }

    /// Asks to move `appointment` to `status` as `token`.
    pub async fn move_appointment(
        &self,
        token: &str,
        appointment: &Value,
        status: &str,
    ) -> reqwest::Response {
        self.call(
            token,
            Method::POST,
            &format!(
                "/facilities/{}/appointments/{}/status",
                appointment["facility_id"].as_str().unwrap(),
                id(appointment)
            ),
            Some(json!({ "status": status })),
        )
        .await
    }
}

/// A time as the API writes it.
pub fn text(t: Timestamp) -> String {
    t.to_string()
}

/// Has the reminder sender poll every `secs` seconds.
pub fn poll_every(config: &mut carebase::config::Config, secs: u64) {
    config.edit_section(|s: &mut SchedulingSettings| s.reminder_poll_secs = secs);
}
