//! Access: facilities (tenants), memberships, the role catalogue, and the
//! one policy engine every read and write passes through. It replaces the
//! seeds' row-level security: the rule for each resource lives here, in
//! code, and is tested as a matrix (role × resource × action × own or other
//! facility) in tests/api/role_matrix.rs. See docs/trust-core.md.

pub mod actor;
pub mod admin_command;
pub mod api_key_routes;
pub mod bootstrap;
pub mod commands;
pub mod demo;
pub mod emergency;
pub mod facilities;
pub mod invitation_routes;
pub mod invitations;
pub mod membership_routes;
pub mod memberships;
pub mod migration;
pub mod permissions;
pub mod routes;
pub mod staff;
pub mod staff_routes;

use std::any::Any;
use std::process::ExitCode;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::config::Config;
use crate::context::{ApiTag, Context, Reaction};
use crate::demo::Demo;
use crate::error::ApiError;
use crate::identity::invitation_routes::InvitationAccepted;
use crate::policy::Grant;

/// The access context, as the kernel sees it.
pub struct Access;

#[async_trait::async_trait]
impl Context for Access {
    fn name(&self) -> &'static str {
        "access"
    }

    fn commands(&self) -> Vec<clap::Command> {
        let mut commands = commands::commands();
        commands.extend(admin_command::commands());
        commands
    }

    async fn run_command(
        &self,
        name: &str,
        args: &clap::ArgMatches,
        config: Config,
    ) -> anyhow::Result<ExitCode> {
        match name {
            admin_command::NAME => admin_command::run(args, config).await,
            _ => Ok(commands::run(config)),
        }
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[ApiTag {
            name: "facilities",
            description: "Facilities, memberships, invitations, API keys",
        }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .merge(routes::routes())
            .merge(membership_routes::routes())
            .merge(api_key_routes::routes())
            .merge(invitation_routes::routes())
            .merge(staff_routes::routes())
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreateFacilities),
            Box::new(migration::CreateEmergencyAccess),
            Box::new(migration::RecordEmergencyMembership),
            Box::new(migration::CreateInvitations),
        ]
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    fn people_only(&self) -> &'static [crate::policy::Permission] {
        permissions::PEOPLE_ONLY
    }

    async fn demo(&self, demo: &mut Demo<'_>) -> anyhow::Result<()> {
        demo::load(demo).await
    }

    /// An invitation code was accepted: the role it offers is held.
    async fn react(
        &self,
        reaction: &mut Reaction<'_>,
        event: &(dyn Any + Send + Sync),
    ) -> Result<(), ApiError> {
        if let Some(accepted) = event.downcast_ref::<InvitationAccepted>() {
            invitations::take_up(reaction, accepted).await?;
        }
        Ok(())
    }
}
