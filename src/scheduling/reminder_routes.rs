//! `/facilities/{facility_id}/appointment-reminders/{reminder_id}`: the
//! channel one reminder goes by. Changing it needs `appointment:book` on
//! its appointment (as changing the appointment does); only a pending
//! reminder changes.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::appointment_routes::writable;
use super::reminder_delivery::ReminderChannel;
use super::reminders::{self, Reminder, ReminderStatus};
use super::store;
use crate::app::AppState;
use crate::audit::{self, AuditAction, ComplianceFlag, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath};
use crate::policy::{Actor, Permission};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_reminder))
}

/// A change to a reminder.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderChanges {
    /// `email` or `sms`; `null` for the patient's preference (else email).
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<ReminderChannel>)]
    pub channel: Option<Option<ReminderChannel>>,
}

/// Sets the channel a pending reminder goes by.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/appointment-reminders/{reminder_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("reminder_id" = Uuid, Path, description = "The reminder"),
    ),
    request_body = ReminderChanges,
    responses((status = 200, description = "The reminder", body = Reminder), Problems),
    security(("bearer" = []))
)]
async fn change_reminder(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, reminder_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<ReminderChanges>,
) -> Result<ApiJson<Reminder>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_BOOK)?;
    let Some(channel) = changes.channel else {
        return Err(ApiError::invalid(
            "channel",
            "required: `email`, `sms`, or null for the patient's preference",
        ));
    };
    let txn = state.db.begin().await?;
    let row = reminders::find(&*txn, facility_id, store::visible(&scope), reminder_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let appointment = writable(&*txn, &scope, row.appointment_id).await?;
    let before = Reminder::try_from(&row)?;
    if before.status != ReminderStatus::Pending {
        return Err(ApiError::Conflict(format!(
            "the reminder is `{}`; only a pending reminder changes its channel",
            before.status
        )));
    }
    let row = reminders::set_channel(&*txn, row, channel).await?;
    let event = actor
        .event(AuditAction::Update, "appointment_reminder")
        .resource(row.id)
        .facility(facility_id)
        .flag(ComplianceFlag::Phi)
        .changes(redact(
            json!({ "channel": { "from": before.channel, "to": channel } }),
            &[],
        ))
        .concerning(appointment.patient_id, appointment.lead_id);
    let shown = Reminder::try_from(&row)?;
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(shown))
}
