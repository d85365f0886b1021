//! Invitations: a role in a facility (a staff role, or the `patient` role
//! with a patient's portal) offered to an account and held only once its
//! owner accepts, with the code mailed to them or signed in. No one is put
//! into a facility, or given a patient's record, without saying yes.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::memberships::{self, NewMembership};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::context::{self, Reaction};
use crate::db::{Transaction, new_id};
use crate::error::ApiError;
use crate::identity::invitation_routes::InvitationAccepted;
use crate::identity::mail::About;
use crate::identity::routes::{find_or_create_invited, send_invitation};
use crate::policy::Role;
use crate::time::Timestamp;
use crate::types::Email;

/// How long an invitation can be accepted: as long as its code lives.
const LIFETIME_MICROS: i64 = 7 * 24 * 60 * 60 * 1_000_000;

/// The most pending invitations an account is shown at once.
pub const MAX_PENDING: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub facility_id: Uuid,
    pub role: String,
    /// Empty when the role is not tied to a department.
    pub department: String,
    /// The patient whose portal the invitation opens.
    pub patient_id: Option<Uuid>,
    pub invited_by: Uuid,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// An invitation as the API shows it: the same whether the address invited
/// had an account or not.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub role: Role,
    pub department: Option<String>,
    /// Set for an invitation to a patient's portal.
    pub patient_id: Option<Uuid>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// `pending` until the invited person accepts.
    pub status: InvitationStatus,
}

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Expired,
}

impl Model {
    /// The role offered; one this build does not know is a bug, not a 4xx.
    fn role(&self) -> Result<Role, ApiError> {
        self.role
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown stored role")))
    }

    pub fn view(&self) -> Result<InvitationView, ApiError> {
        let status = if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.expires_at <= Timestamp::now() {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        };
        Ok(InvitationView {
            id: self.id,
            facility_id: self.facility_id,
            role: self.role()?,
            department: Some(self.department.clone()).filter(|d| !d.is_empty()),
            patient_id: self.patient_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            status,
        })
    }
}

/// What is offered, to whom, by whom.
pub struct Offer {
    pub email: Email,
    pub full_name: Option<String>,
    pub facility_id: Uuid,
    pub role: Role,
    pub department: Option<String>,
    pub patient_id: Option<Uuid>,
    pub invited_by: Uuid,
}

/// Records the offer and mails its code, in the caller's transaction. The
/// address gets an account if it had none (with no password until it
/// accepts). Returns the invitation.
pub async fn offer(state: &AppState, txn: &Transaction, offer: Offer) -> Result<Model, ApiError> {
    let account =
        find_or_create_invited(state, txn, &offer.email, offer.full_name, offer.invited_by).await?;
    let now = Timestamp::now();
    let invitation = ActiveModel {
        id: ActiveValue::Set(new_id()),
        account_id: ActiveValue::Set(account.id),
        facility_id: ActiveValue::Set(offer.facility_id),
        role: ActiveValue::Set(offer.role.as_str().to_owned()),
        department: ActiveValue::Set(offer.department.unwrap_or_default()),
        patient_id: ActiveValue::Set(offer.patient_id),
        invited_by: ActiveValue::Set(offer.invited_by),
        created_at: ActiveValue::Set(now),
        expires_at: ActiveValue::Set(Timestamp::from_micros(now.as_micros() + LIFETIME_MICROS)),
        accepted_at: ActiveValue::Set(None),
    }
    .insert(&**txn)
    .await?;
    let about = About {
        facility_id: Some(offer.facility_id),
        requested_by: Some(offer.invited_by),
    };
    send_invitation(state, txn, account.id, &offer.email, invitation.id, about).await?;
    Ok(invitation)
}

/// The pending invitations of an account, newest first.
pub async fn pending_of(db: &impl ConnectionTrait, account_id: Uuid) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::AcceptedAt.is_null())
        .filter(Column::ExpiresAt.gt(Timestamp::now()))
        .order_by_desc(Column::CreatedAt)
        .limit(MAX_PENDING)
        .all(db)
        .await
}

/// A patient's portal was opened to an account by its accepting an
/// invitation: care links the record, the CRM the lead it came from.
#[derive(Clone, Copy, Debug)]
pub struct PortalAccepted {
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    pub account_id: Uuid,
}

/// Accepts `account_id`'s pending invitation `id`: grants its role and
/// returns the accepted invitation with the audit events to append, or
/// `None` when the account has no such pending invitation (a portal to a
/// patient is then opened by the caller publishing [`PortalAccepted`]).
pub async fn accept(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
    actor: AuditActor,
) -> Result<Option<(Model, Vec<AuditEvent>)>, ApiError> {
    let Some(found) = Entity::find_by_id(id)
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::AcceptedAt.is_null())
        .filter(Column::ExpiresAt.gt(Timestamp::now()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let role = found.role()?;
    // An account's first role is its primary one, as it was when invited
    // accounts were given their role at once.
    let first = memberships::of_account(db, account_id).await?.is_empty();
    let membership = memberships::grant(
        db,
        NewMembership {
            account_id,
            facility_id: Some(found.facility_id),
            role,
            department: Some(found.department.clone()).filter(|d| !d.is_empty()),
            is_primary: first,
            assigned_by: Some(found.invited_by),
        },
    )
    .await?;
    let mut active: ActiveModel = found.into();
    active.accepted_at = ActiveValue::Set(Some(Timestamp::now()));
    let accepted = active.update(db).await?;
    let events = vec![
        AuditEvent::new(actor.clone(), AuditAction::Update, "invitation")
            .resource(accepted.id)
            .facility(accepted.facility_id)
            .changes(redact(json!({ "status": "accepted" }), &[])),
        AuditEvent::new(actor, AuditAction::Create, "membership")
            .resource(membership.id)
            .facility(accepted.facility_id)
            .changes(redact(
                json!({ "account_id": account_id, "role": role, "invitation_id": accepted.id }),
                &[],
            )),
    ];
    Ok(Some((accepted, events)))
}

/// Accepts the invitation an invitation code was accepted for, in that
/// change's transaction. Nothing happens when it was accepted meanwhile
/// (signed in) or the code was the first administrator's, which only sets
/// a password.
pub async fn take_up(
    reaction: &mut Reaction<'_>,
    accepted: &InvitationAccepted,
) -> Result<(), ApiError> {
    let Some(invitation_id) = accepted.invitation_id else {
        return Ok(());
    };
    let actor = AuditActor::Account {
        id: accepted.account_id,
        session_id: None,
    };
    let Some((invitation, events)) =
        accept(reaction.txn, accepted.account_id, invitation_id, actor).await?
    else {
        return Ok(());
    };
    audit::append(reaction.txn, events).await?;
    if let Some(patient_id) = invitation.patient_id {
        let portal = PortalAccepted {
            facility_id: invitation.facility_id,
            patient_id,
            account_id: accepted.account_id,
        };
        let after_commit =
            context::publish(reaction.state, reaction.txn, reaction.now, &portal).await?;
        reaction.after_commit(Box::pin(after_commit.run()));
    }
    Ok(())
}
