//! How a lead follows its appointments (`crm::lifecycle`): each place that
//! books an appointment or moves its status calls one of these, one line
//! in its transaction, so the lead's move (and the clinical review gate on
//! booking) commits or fails with the appointment's own change.

use super::appointments::{self, AppointmentStatus};
use crate::crm::lifecycle::{self, AppointmentFact};
use crate::db::Transaction;
use crate::error::ApiError;
use crate::policy::{Actor, FacilityScope};

/// A new booking of `row`: refused for a lead the review gate holds back,
/// and the lead moves to `booked`; one recorded as already completed or a
/// no-show then moves it on as [`moved`] would.
pub async fn booked(
    txn: &Transaction,
    actor: &Actor,
    scope: &FacilityScope,
    row: &appointments::Model,
) -> Result<(), ApiError> {
    let booked = AppointmentFact::Booked;
    lifecycle::follow_appointment(txn, actor, scope, row.id, row.lead_id, booked).await?;
    moved(txn, actor, scope, row).await
}

/// `row` moved to its current status: a no-show or a completion moves its
/// lead; other statuses leave it.
pub async fn moved(
    txn: &Transaction,
    actor: &Actor,
    scope: &FacilityScope,
    row: &appointments::Model,
) -> Result<(), ApiError> {
    let fact = match row.appointment_status()? {
        AppointmentStatus::NoShow => AppointmentFact::NoShow,
        AppointmentStatus::Completed => AppointmentFact::Completed,
        _ => return Ok(()),
    };
    lifecycle::follow_appointment(txn, actor, scope, row.id, row.lead_id, fact).await
}
