//! Scheduling (seeds 000 and 001): provider schedules and availability
//! blocks, appointment types, open-slot search and the slot check, booking
//! without double booking, the appointment state machine, reminders, the
//! waitlist and calendar feeds. See docs/scheduling.md.

pub mod appointment_routes;
pub mod appointments;
pub mod booking;
pub mod calendar;
pub mod calendar_routes;
pub mod demo;
pub mod maintenance;
pub mod migration;
pub mod reminders;
pub mod schedule_routes;
pub mod schedules;
pub mod slots;
pub mod store;
pub mod waitlist;
pub mod waitlist_routes;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// The scheduling context's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(schedule_routes::routes())
        .merge(appointment_routes::routes())
        .merge(waitlist_routes::routes())
        .merge(calendar_routes::routes())
}
