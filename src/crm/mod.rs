//! CRM: leads from first contact to conversion, the way seeds 000 (MiKO
//! concierge) and 001 (HealthCRM) work them — pipelines and their stages,
//! the lead lifecycle, clinical interests, the lead score, clinical review,
//! each lead's history, and the tasks people work from (DOMAIN.md, "crm").

pub mod activity;
pub mod ai;
pub mod ai_routes;
pub mod chat;
pub mod chat_routes;
pub mod communication_routes;
pub mod communications;
pub mod contact;
pub mod conversion;
pub mod csv_io;
pub mod demo;
mod demo_leads;
pub mod engagement_migration;
pub mod history;
pub mod import_routes;
pub mod lead_changes;
pub mod lead_source_routes;
pub mod lead_sources;
pub mod lead_status;
pub mod leads;
pub mod lifecycle;
pub mod lifecycle_migration;
pub mod lifecycle_routes;
pub mod migration;
pub mod permissions;
pub mod rescore;
pub mod retention;
pub mod retention_command;
pub mod retention_migration;
pub mod retention_routes;
pub mod routes;
pub mod score;
pub mod seal_migration;
pub mod stats;
pub mod stats_pipeline;
pub mod stats_routes;
pub mod stats_speed_to_lead;
pub mod store;
pub mod task_routes;
pub mod task_store;
pub mod tasks;
pub mod timeline_routes;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

use crate::access::facilities::FacilityCreated;
use crate::access::invitations::PortalAccepted;
use crate::context::{ApiTag, Context, Job, Reaction};
use crate::demo::Demo;
use crate::policy::Grant;
use tokio_util::sync::CancellationToken;

/// The CRM context, as the kernel sees it.
pub struct Crm;

#[async_trait::async_trait]
impl Context for Crm {
    fn name(&self) -> &'static str {
        "crm"
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[
            ApiTag {
                name: "leads",
                description: "CRM leads, pipelines, clinical review (seeds 000, 001)",
            },
            ApiTag {
                name: "tasks",
                description: "CRM tasks with SLA due dates (seed 001)",
            },
            ApiTag {
                name: "communications",
                description: "Communications with leads and patients, logged idempotently (seed 000)",
            },
        ]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .merge(routes::routes())
            .merge(lifecycle_routes::routes())
            .merge(lead_source_routes::routes())
            .merge(stats_routes::routes())
            .merge(conversion::routes())
            .merge(task_routes::routes())
            .merge(ai_routes::routes())
            .merge(chat_routes::routes())
            .merge(communication_routes::routes())
            .merge(import_routes::routes())
            .merge(timeline_routes::routes())
            .merge(retention_routes::routes())
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreateLeads),
            Box::new(migration::CreateTasks),
            Box::new(engagement_migration::CreateEngagement),
            Box::new(migration::AddLeadStatsIndex),
            Box::new(seal_migration::SealCrmFreeText),
            Box::new(lifecycle_migration::LeadLifecycle),
            Box::new(retention_migration::CreateCommunicationPurges),
        ]
    }

    fn settings(&self) -> Option<crate::config::Section> {
        Some(crate::config::Section::of::<retention::RetentionSettings>())
    }

    fn commands(&self) -> Vec<clap::Command> {
        retention_command::commands()
    }

    async fn run_command(
        &self,
        _name: &str,
        args: &clap::ArgMatches,
        config: crate::config::Config,
    ) -> anyhow::Result<std::process::ExitCode> {
        retention_command::run(args, config).await
    }

    /// Seals, before the first request, the labels and visitor refs that
    /// rows written before they were sealed still hold in clear; then gives
    /// the free sources written before the catalogue its spelling or their
    /// canonical index (`lead_sources::canonicalise_stored`).
    async fn open(
        &self,
        opening: &crate::app::Opening<'_>,
        _extensions: &mut crate::app::Extensions,
    ) -> anyhow::Result<()> {
        let sealed = seal_migration::seal_clear_rows(opening.db, opening.keyring).await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "crm: sealed lead labels and visitor refs stored in clear"
            );
        }
        let canonical = lead_sources::canonicalise_stored(opening.db, opening.keyring).await?;
        if canonical > 0 {
            tracing::info!(canonical, "crm: canonicalised stored lead sources");
        }
        Ok(())
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    async fn jobs(&self, state: &AppState, stop: &CancellationToken) -> Vec<Job> {
        let retention = state.config.section::<retention::RetentionSettings>();
        vec![
            Job::new(
                "idle chat session sweep",
                chat::spawn_idle_sweep(state.db.clone(), stop.clone()),
            ),
            Job::new(
                "retention purge",
                retention::spawn_purge(
                    state.db.clone(),
                    state.keyring.clone(),
                    retention.into_owned(),
                    stop.clone(),
                ),
            ),
        ]
    }

    async fn demo(&self, demo: &mut Demo<'_>) -> anyhow::Result<()> {
        demo::load(demo).await
    }

    /// A lead's patient accepted a portal invitation: the lead shows it. A
    /// new facility gets the default lead source catalogue.
    async fn react(
        &self,
        reaction: &mut Reaction<'_>,
        event: &(dyn std::any::Any + Send + Sync),
    ) -> Result<(), crate::error::ApiError> {
        if let Some(accepted) = event.downcast_ref::<PortalAccepted>() {
            conversion::portal_accepted(reaction.txn, accepted).await?;
        }
        if let Some(created) = event.downcast_ref::<FacilityCreated>() {
            lead_sources::create_defaults(reaction.txn, created.facility_id).await?;
        }
        Ok(())
    }
}
