//! Pipelines: the stages leads move through (the CRM's lead pipelines) and
//! the care pathways patients move through (care journeys), one table of
//! both kinds. Both the CRM and care read them, so they are a context of
//! their own that neither owns; a facility gets its default pipelines when
//! it is created.
//!
//! The `pipelines` table was created by the CRM's first migration
//! (`CreateLeads`, with the leads that refer to it) before this context
//! existed. Applied migrations cannot move without changing every existing
//! database's history, so that one stays in the CRM's list; new pipeline
//! migrations belong here.

pub mod permissions;
pub mod routes;
pub mod store;

use std::any::Any;

use utoipa_axum::router::OpenApiRouter;

use crate::access::facilities::FacilityCreated;
use crate::app::AppState;
use crate::context::{Context, Reaction};
use crate::error::ApiError;
use crate::policy::Grant;

pub use store::{NewPipeline, Pipeline, PipelineKind, Stage};

/// The pipelines context, as the kernel sees it.
pub struct Pipelines;

#[async_trait::async_trait]
impl Context for Pipelines {
    fn name(&self) -> &'static str {
        "pipelines"
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::routes()
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    async fn react(
        &self,
        reaction: &mut Reaction<'_>,
        event: &(dyn Any + Send + Sync),
    ) -> Result<(), ApiError> {
        if let Some(created) = event.downcast_ref::<FacilityCreated>() {
            store::create_defaults(reaction.txn, created.facility_id).await?;
        }
        Ok(())
    }
}
