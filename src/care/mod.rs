//! Care: patients and, as later issues add them, their history, care
//! pathway, care-team links, conditions and measurements (DOMAIN.md,
//! "care").

pub mod care_team;
pub mod care_team_routes;
pub mod care_team_store;
pub mod contact;
pub mod demo;
pub mod emergency_routes;
pub mod journey;
pub mod journey_routes;
pub mod migration;
pub mod patient_checks;
pub mod patients;
pub mod permissions;
pub mod portal_routes;
pub mod routes;
pub mod store;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use std::any::Any;

use crate::access::invitations::PortalAccepted;
use crate::context::{ApiTag, Context, Reaction};
use crate::error::ApiError;
use crate::policy::Grant;

/// The care context, as the kernel sees it.
pub struct Care;

#[async_trait::async_trait]
impl Context for Care {
    fn name(&self) -> &'static str {
        "care"
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[
            ApiTag {
                name: "patients",
                description: "Patients (seed 002)",
            },
            ApiTag {
                name: "care journeys",
                description: "Patients on care pathways (seed 001's contacts)",
            },
            ApiTag {
                name: "care",
                description: "Care-team links between patients and providers (seed 004)",
            },
            ApiTag {
                name: "emergency access",
                description: "Break-the-glass access to a patient",
            },
        ]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .merge(routes::routes())
            .merge(journey_routes::routes())
            .merge(care_team_routes::routes())
            .merge(emergency_routes::routes())
            .merge(portal_routes::routes())
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreatePatients),
            Box::new(migration::CreateJourneys),
            Box::new(migration::CreateCareTeamLinks),
            Box::new(migration::AddContactPreference),
        ]
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    /// Care's demo data is made as the CRM's demo converts leads.
    async fn react(
        &self,
        reaction: &mut Reaction<'_>,
        event: &(dyn Any + Send + Sync),
    ) -> Result<(), ApiError> {
        if let Some(conversions) = event.downcast_ref::<demo::DemoConversions>() {
            demo::take_on(reaction, conversions).await?;
        }
        if let Some(accepted) = event.downcast_ref::<PortalAccepted>() {
            store::link_portal_account(
                reaction.txn,
                accepted.facility_id,
                accepted.patient_id,
                accepted.account_id,
            )
            .await?;
        }
        Ok(())
    }
}
