//! A lead's moves through its lifecycle and its pipeline: who moved it,
//! when, from where to where (seed 000's status history, seed 001's
//! pipeline stages). Pipeline statistics read it.

use sea_orm::entity::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::leads::LeadStatus;
pub use super::lifecycle::LeadMoveCause;
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_transitions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub lead_id: Uuid,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub from_stage_id: Option<Uuid>,
    pub to_stage_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub occurred_at: Timestamp,
    /// What moved the lead by itself ([`LeadMoveCause`]); absent for a
    /// move someone made.
    pub cause: Option<String>,
    /// The record of that event: the communication, the appointment, the
    /// patient the lead became.
    pub cause_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// One move: of the status, of the stage, or (on creation) both.
#[derive(Clone, Copy, Debug, Default)]
pub struct Move {
    pub from_status: Option<LeadStatus>,
    pub to_status: Option<LeadStatus>,
    pub from_stage: Option<Uuid>,
    pub to_stage: Option<Uuid>,
    /// What caused an automatic move, and its record.
    pub cause: Option<LeadMoveCause>,
    pub cause_id: Option<Uuid>,
}

impl Move {
    pub fn status(from: Option<LeadStatus>, to: LeadStatus) -> Self {
        Self {
            from_status: from,
            to_status: Some(to),
            ..Self::default()
        }
    }

    pub fn stage(from: Option<Uuid>, to: Uuid) -> Self {
        Self {
            from_stage: from,
            to_stage: Some(to),
            ..Self::default()
        }
    }
}

/// A move as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LeadMove {
    pub id: Uuid,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub from_stage_id: Option<Uuid>,
    pub to_stage_id: Option<Uuid>,
    /// Who moved it, or whose action moved it by itself.
    pub actor_id: Option<Uuid>,
    pub occurred_at: Timestamp,
    /// What moved it by itself; absent for a move someone made.
    pub cause: Option<LeadMoveCause>,
    /// The record of that event: the communication, the appointment, the
    /// patient the lead became (absent for a call, which has none).
    pub cause_id: Option<Uuid>,
}

impl From<Model> for LeadMove {
    fn from(row: Model) -> Self {
        Self {
            cause: row.cause.as_deref().and_then(LeadMoveCause::parse),
            cause_id: row.cause_id,
            id: row.id,
            from_status: row.from_status,
            to_status: row.to_status,
            from_stage_id: row.from_stage_id,
            to_stage_id: row.to_stage_id,
            actor_id: row.actor_id,
            occurred_at: row.occurred_at,
        }
    }
}
