//! What the lead statistics tests share. The API stamps a lead with the
//! time it is created and its first contact with the time of the first
//! call; to have leads from outside a range, exact first-contact delays, a
//! lead whose recency has faded, or a lead converted into a patient, the
//! tests write those few columns directly ([`TestApp::set_lead_columns`]).

use carebase::crm::leads;
use carebase::time::Timestamp;
use sea_orm::sea_query::SimpleExpr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{TestApp, new_lead};

pub const SECOND: i64 = 1_000_000;
pub const DAY: i64 = 86_400 * SECOND;

impl TestApp {
    /// Writes columns of a lead directly (see the module comment for why).
    pub async fn set_lead_columns(&self, lead: Uuid, columns: Vec<(leads::Column, SimpleExpr)>) {
        let mut update = leads::Entity::update_many().filter(leads::Column::Id.eq(lead));
        for (column, value) in columns {
            update = update.col_expr(column, value);
        }
        update.exec(self.state.db.conn()).await.unwrap();
    }

    /// A lead from `source`, recorded by `token`, optionally for `owner`.
    pub async fn lead_from(
        &self,
        token: &str,
        facility: Uuid,
        source: &str,
        owner: Option<Uuid>,
    ) -> Value {
        let mut body = new_lead();
        body["source"] = json!(source);
        if let Some(owner) = owner {
            body["owner_id"] = json!(owner);
        }
        self.create_lead(token, facility, body).await
    }
}

/// `micros` before `now`.
pub fn ago(now: Timestamp, micros: i64) -> Timestamp {
    Timestamp::from_micros(now.as_micros() - micros)
}

/// `[now − 1 day, now + 1 day)` as a query string.
pub fn around(now: Timestamp) -> String {
    format!(
        "from={}&to={}",
        ago(now, DAY),
        Timestamp::from_micros(now.as_micros() + DAY)
    )
}

/// Whether `value` is `expected`, give or take rounding.
pub fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-6)
}
