//! Care-team links (seed 004's `patient_doctor_links`): a patient and a
//! provider connected for care. A patient requests a provider or a provider
//! invites a patient; the other side accepts. One link per pair, whatever
//! its history: re-requesting an ended link reopens it, and only the side
//! that blocked a link can reopen it.
//!
//! The policy engine reads active links: a role whose patient reach is
//! `CareTeam` (seed 004's `doctor`) sees exactly the patients it holds an
//! active link with, so ending or blocking a link takes the access away on
//! the next request (see `access::PatientFilter::CareTeam`).

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ActiveValue, ConnectionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::time::Timestamp;
use crate::transition::{StateMachine, UnknownStoredValue, string_enum};

string_enum! {
    /// Where a care-team link stands (seed 004's values).
    LinkStatus {
        Requested => "requested",
        Active => "active",
        Ended => "ended",
        Blocked => "blocked",
    }
}

/// Raised in the transaction that moves a link to a new status, so that
/// messaging opens the pair's direct conversation when the link becomes
/// active and takes the provider out of it when the link ends or is blocked.
#[derive(Clone, Debug)]
pub struct LinkMoved {
    /// The link as moved.
    pub link: Model,
    /// The portal account of the link's patient, if they have one.
    pub patient_account: Option<Uuid>,
}

impl StateMachine for LinkStatus {
    const ENTITY: &'static str = "care-team link";

    /// DOMAIN.md: requested → active → ended; requested/active → blocked.
    /// Reopening (ended or blocked → requested) is a new request, not a
    /// status move: see [`reopen`].
    fn next(self) -> &'static [Self] {
        match self {
            LinkStatus::Requested => &[LinkStatus::Active, LinkStatus::Blocked],
            LinkStatus::Active => &[LinkStatus::Ended, LinkStatus::Blocked],
            LinkStatus::Ended | LinkStatus::Blocked => &[],
        }
    }
}

string_enum! {
    /// Which side of a link acted: the patient or the provider. A facility
    /// administrator acts for the provider side.
    LinkSide {
        Patient => "patient",
        Provider => "provider",
    }
}

impl LinkSide {
    pub fn other(self) -> Self {
        match self {
            LinkSide::Patient => LinkSide::Provider,
            LinkSide::Provider => LinkSide::Patient,
        }
    }
}

pub const TABLE: &str = "care_team_links";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "care_team_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub status: String,
    /// The side whose request is (or was last) waiting for the other.
    pub requested_by: String,
    /// The side that blocked the link, while it is blocked.
    pub blocked_by: Option<String>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    /// When it last ended or was blocked; kept when the link is reopened.
    pub ended_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn link_status(&self) -> Result<LinkStatus, UnknownStoredValue> {
        LinkStatus::from_stored(&self.status, TABLE, "status", self.id)
    }

    pub fn requested_side(&self) -> Result<LinkSide, UnknownStoredValue> {
        LinkSide::from_stored(&self.requested_by, TABLE, "requested_by", self.id)
    }

    pub fn blocked_side(&self) -> Result<Option<LinkSide>, UnknownStoredValue> {
        self.blocked_by
            .as_deref()
            .map(|side| LinkSide::from_stored(side, TABLE, "blocked_by", self.id))
            .transpose()
    }
}

/// A link as the API shows it. Carries ids only: a provider who has not
/// accepted yet does not see the patient's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CareTeamLink {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    /// The provider's account.
    pub provider_id: Uuid,
    pub status: LinkStatus,
    /// The side whose request waits for (or was accepted by) the other.
    pub requested_by: LinkSide,
    /// The side that blocked it, while blocked.
    pub blocked_by: Option<LinkSide>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

impl TryFrom<&Model> for CareTeamLink {
    type Error = UnknownStoredValue;

    fn try_from(row: &Model) -> Result<Self, UnknownStoredValue> {
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            patient_id: row.patient_id,
            provider_id: row.provider_id,
            status: row.link_status()?,
            requested_by: row.requested_side()?,
            blocked_by: row.blocked_side()?,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            accepted_at: row.accepted_at,
            ended_at: row.ended_at,
        })
    }
}

/// A request (by the patient) or an invitation (by the provider).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    pub patient_id: Uuid,
    /// The provider's account; it must hold a role in the facility.
    pub provider_id: Uuid,
}

/// A status move: `active` (accept), `ended` or `blocked`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkStatusChange {
    pub status: LinkStatus,
}

/// What re-requesting an existing link does, for the side `by`.
pub enum Reopen {
    /// Already requested or active: nothing to do.
    Unchanged,
    /// Ended, or blocked by this same side: back to requested.
    Reopened,
}

/// Whether `by` may re-request `link`. A blocked link stays blocked for the
/// side that did not block it.
pub fn reopen(link: &Model, by: LinkSide) -> Result<Reopen, ApiError> {
    match link.link_status()? {
        LinkStatus::Requested | LinkStatus::Active => Ok(Reopen::Unchanged),
        LinkStatus::Ended => Ok(Reopen::Reopened),
        LinkStatus::Blocked if link.blocked_side()? == Some(by) => Ok(Reopen::Reopened),
        LinkStatus::Blocked => Err(ApiError::Conflict(
            "this care-team link is blocked by the other side; it cannot be requested again"
                .to_owned(),
        )),
    }
}

/// The link of a pair, whatever its status.
pub async fn of_pair(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    provider_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::PatientId.eq(patient_id))
        .filter(Column::ProviderId.eq(provider_id))
        .one(db)
        .await
}

/// Whether the link is active (what a direct conversation follows); false
/// when there is no such link.
pub async fn is_active(db: &impl ConnectionTrait, link_id: Uuid) -> Result<bool, DbErr> {
    match Entity::find_by_id(link_id).one(db).await? {
        Some(link) => Ok(link.link_status()? == LinkStatus::Active),
        None => Ok(false),
    }
}

/// The patients `provider_id` holds an active link with: the subquery the
/// policy engine filters by for a `CareTeam` reach.
pub fn linked_patients(provider_id: Uuid) -> SelectStatement {
    Query::select()
        .column(Column::PatientId)
        .from(Entity)
        .and_where(Column::ProviderId.eq(provider_id))
        .and_where(Column::Status.eq(LinkStatus::Active.as_str()))
        .to_owned()
}

/// Moves a link to `to` at `now`, recording who blocked it and when it
/// ended. The update is a compare-and-set on the status it was read with.
pub async fn move_to(
    db: &impl ConnectionTrait,
    link: &Model,
    to: LinkStatus,
    by: LinkSide,
    now: Timestamp,
) -> Result<Model, ApiError> {
    link.link_status()?.transition(to)?;
    let mut active = ActiveModel {
        id: ActiveValue::Unchanged(link.id),
        status: ActiveValue::Set(to.as_str().to_owned()),
        updated_at: ActiveValue::Set(now),
        ..Default::default()
    };
    match to {
        LinkStatus::Active => active.accepted_at = ActiveValue::Set(Some(now)),
        LinkStatus::Ended => active.ended_at = ActiveValue::Set(Some(now)),
        LinkStatus::Blocked => {
            active.ended_at = ActiveValue::Set(Some(now));
            active.blocked_by = ActiveValue::Set(Some(by.as_str().to_owned()));
        }
        LinkStatus::Requested => {}
    }
    compare_and_set(db, link, active).await
}

/// Reopens an ended link, or one blocked by `by`, as a new request by `by`.
pub async fn reopen_as_request(
    db: &impl ConnectionTrait,
    link: &Model,
    by: LinkSide,
    now: Timestamp,
) -> Result<Model, ApiError> {
    let active = ActiveModel {
        id: ActiveValue::Unchanged(link.id),
        status: ActiveValue::Set(LinkStatus::Requested.as_str().to_owned()),
        requested_by: ActiveValue::Set(by.as_str().to_owned()),
        blocked_by: ActiveValue::Set(None),
        accepted_at: ActiveValue::Set(None),
        updated_at: ActiveValue::Set(now),
        ..Default::default()
    };
    compare_and_set(db, link, active).await
}

async fn compare_and_set(
    db: &impl ConnectionTrait,
    link: &Model,
    changes: ActiveModel,
) -> Result<Model, ApiError> {
    let updated = Entity::update_many()
        .set(changes)
        .filter(Column::Id.eq(link.id))
        .filter(Column::Status.eq(link.status.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the care-team link changed meanwhile; read it again".to_owned(),
        ));
    }
    Entity::find_by_id(link.id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_status_or_side_outside_the_lists_is_an_error() {
        let good = link(LinkStatus::Blocked, Some(LinkSide::Provider));
        assert_eq!(good.link_status(), Ok(LinkStatus::Blocked));
        assert_eq!(good.blocked_side(), Ok(Some(LinkSide::Provider)));
        for bad in [
            Model {
                status: "blokked".to_owned(),
                ..good.clone()
            },
            Model {
                requested_by: "nobody".to_owned(),
                ..good.clone()
            },
            Model {
                blocked_by: Some("nobody".to_owned()),
                ..good.clone()
            },
        ] {
            let error = CareTeamLink::try_from(&bad).unwrap_err();
            assert_eq!((error.table, error.row), (TABLE, bad.id));
        }
    }

    fn link(status: LinkStatus, blocked_by: Option<LinkSide>) -> Model {
        let now = Timestamp::now();
        Model {
            id: Uuid::now_v7(),
            facility_id: Uuid::now_v7(),
            patient_id: Uuid::now_v7(),
            provider_id: Uuid::now_v7(),
            status: status.as_str().to_owned(),
            requested_by: "patient".to_owned(),
            blocked_by: blocked_by.map(|s| s.as_str().to_owned()),
            created_by: Uuid::now_v7(),
            created_at: now,
            updated_at: now,
            accepted_at: None,
            ended_at: None,
        }
    }

    #[test]
    fn the_machine_is_domains() {
        use LinkStatus::*;
        assert!(Requested.transition(Active).is_ok());
        assert!(Requested.transition(Blocked).is_ok());
        assert!(Active.transition(Ended).is_ok());
        assert!(Active.transition(Blocked).is_ok());
        assert!(Requested.transition(Ended).is_err());
        assert!(Ended.transition(Active).is_err());
        assert!(Blocked.transition(Active).is_err());
    }

    #[test]
    fn only_the_blocking_side_reopens_a_blocked_link() {
        let blocked = link(LinkStatus::Blocked, Some(LinkSide::Provider));
        assert!(matches!(
            reopen(&blocked, LinkSide::Provider),
            Ok(Reopen::Reopened)
        ));
        assert!(reopen(&blocked, LinkSide::Patient).is_err());
        let ended = link(LinkStatus::Ended, None);
        assert!(matches!(
            reopen(&ended, LinkSide::Patient),
            Ok(Reopen::Reopened)
        ));
        let active = link(LinkStatus::Active, None);
        assert!(matches!(
            reopen(&active, LinkSide::Patient),
            Ok(Reopen::Unchanged)
        ));
    }
}
