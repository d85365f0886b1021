//! Patient history (seed 002's `patient_history`): the visits of a
//! patient, with diagnoses, medications, procedures, vital signs and notes,
//! sealed. A context of its own, declared to the kernel through
//! [`crate::context::Context`] like every other; it reads patients only
//! through `care::store`'s scoped functions.

pub mod migration;
pub mod permissions;
pub mod routes;
pub mod seal_migration;
pub mod store;
pub mod visits;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::{AppState, Extensions, Opening};
use crate::context::{ApiTag, Context};
use crate::policy::Grant;

/// The patient history context, as the kernel sees it.
pub struct PatientHistory;

#[async_trait::async_trait]
impl Context for PatientHistory {
    fn name(&self) -> &'static str {
        "patient_history"
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[ApiTag {
            name: "patient history",
            description: "A patient's visits: diagnoses, medications, procedures, vital signs, notes (seed 002)",
        }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        routes::routes()
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreatePatientHistory),
            Box::new(seal_migration::SealVisitDepartment),
        ]
    }

    /// Seals, before the first request, the departments that visits
    /// written before they were sealed still hold in clear.
    async fn open(
        &self,
        opening: &Opening<'_>,
        _extensions: &mut Extensions,
    ) -> anyhow::Result<()> {
        let sealed = seal_migration::seal_clear_rows(opening.db, opening.keyring).await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "patient_history: sealed visit departments stored in clear"
            );
        }
        Ok(())
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }
}
