//! Patient history (seed 002's `patient_history`): the visits of a
//! patient, with diagnoses, medications, procedures, vital signs and notes,
//! sealed. A context of its own, declared to the kernel through
//! [`crate::context::Context`] like every other; it reads patients only
//! through `care::store`'s scoped functions.

pub mod migration;
pub mod permissions;
pub mod routes;
pub mod store;
pub mod visits;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::context::{ApiTag, Context};
use crate::policy::Grant;

/// The patient history context, as the kernel sees it.
pub struct PatientHistory;

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
        vec![Box::new(migration::CreatePatientHistory)]
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }
}
