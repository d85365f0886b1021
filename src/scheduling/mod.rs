//! Scheduling (seeds 000 and 001): provider schedules and availability
//! blocks, appointment types, open-slot search and the slot check, booking
//! without double booking, the appointment state machine, reminders, the
//! waitlist and calendar feeds. See docs/scheduling.md.

pub mod appointment_move_routes;
pub mod appointment_routes;
pub mod appointment_type_routes;
pub mod appointments;
pub mod block_routes;
pub mod booking;
pub mod busy_days_migration;
pub mod calendar;
pub mod calendar_routes;
pub mod commands;
pub mod demo;
pub mod facility_rules;
pub mod flow_migration;
pub mod free_busy;
pub mod lead_lifecycle;
pub mod maintenance;
pub mod migration;
pub mod people;
pub mod permissions;
pub mod reminder_delivery;
pub mod reminder_migration;
pub mod reminder_routes;
pub mod reminders;
pub mod schedule_routes;
pub mod schedule_store;
pub mod schedules;
pub mod seal_migration;
pub mod settings;
pub mod slot_routes;
pub mod slots;
pub mod status_flow;
pub mod store;
pub mod waitlist;
pub mod waitlist_routes;
pub mod waitlist_store;
pub mod weekends;

use std::process::ExitCode;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::{AppState, Extensions, Opening};
use crate::config::Config;
use crate::config::Section;
use crate::context::{ApiTag, Context, Job};
use crate::demo::Demo;
use crate::policy::Grant;
use tokio_util::sync::CancellationToken;

/// The scheduling context, as the kernel sees it.
pub struct Scheduling;

#[async_trait::async_trait]
impl Context for Scheduling {
    fn name(&self) -> &'static str {
        "scheduling"
    }

    fn commands(&self) -> Vec<clap::Command> {
        commands::commands()
    }

    async fn run_command(
        &self,
        _name: &str,
        args: &clap::ArgMatches,
        config: Config,
    ) -> anyhow::Result<ExitCode> {
        commands::run(args, config).await
    }

    fn settings(&self) -> Option<Section> {
        Some(Section::of::<settings::SchedulingSettings>())
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[ApiTag {
            name: "scheduling",
            description: "Schedules, availability blocks, appointment types, open slots, appointments, reminders, waitlist, calendar feeds (seeds 000, 001)",
        }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .merge(schedule_routes::routes())
            .merge(block_routes::routes())
            .merge(appointment_type_routes::routes())
            .merge(slot_routes::routes())
            .merge(appointment_routes::routes())
            .merge(appointment_move_routes::routes())
            .merge(waitlist_routes::routes())
            .merge(reminder_routes::routes())
            .merge(calendar_routes::routes())
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreateScheduling),
            Box::new(seal_migration::SealSchedulingFreeText),
            Box::new(flow_migration::AppointmentsForPeople),
            Box::new(reminder_migration::AddReminderChannel),
            Box::new(busy_days_migration::AddBusyDays),
        ]
    }

    /// Checks the `scheduling` rules of a facility's settings as they are
    /// written; bad ones refuse the change.
    async fn react(
        &self,
        _reaction: &mut crate::context::Reaction<'_>,
        event: &(dyn std::any::Any + Send + Sync),
    ) -> Result<(), crate::error::ApiError> {
        if let Some(written) =
            event.downcast_ref::<crate::access::facilities::FacilitySettingsWritten>()
        {
            facility_rules::validate(&written.settings)?;
        }
        Ok(())
    }

    /// Seals, before the first request, the free-text block reasons that
    /// rows written before they were sealed still hold in clear.
    async fn open(
        &self,
        opening: &Opening<'_>,
        _extensions: &mut Extensions,
    ) -> anyhow::Result<()> {
        let sealed = seal_migration::seal_clear_rows(opening.db, opening.keyring).await?;
        if sealed > 0 {
            tracing::info!(sealed, "scheduling: sealed block reasons stored in clear");
        }
        Ok(())
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    async fn jobs(&self, state: &AppState, stop: &CancellationToken) -> Vec<Job> {
        // A reminder batch cut short rolls back; the next run sends it.
        vec![Job::new(
            "reminder sender",
            reminders::spawn_sender(state.clone(), stop.clone()),
        )]
    }

    async fn demo(&self, demo: &mut Demo<'_>) -> anyhow::Result<()> {
        demo::load(demo).await
    }
}
