//! Direct conversations follow their care-team link (seed 004): created the
//! first time the link becomes active, with the patient's portal account and
//! the provider as participants; reused when a reopened link becomes active
//! again. When the link ends or is blocked, the provider stops taking part
//! (and loses the conversation) while the patient keeps reading it.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};

use super::conversations::{
    self, ConversationKind, ConversationStatus, ConversationType, Priority,
};
use super::participants::{self, ParticipantRole};
use super::realtime::Notice;
use crate::care::care_team;
use crate::db::new_id;
use crate::time::Timestamp;

/// The direct conversation of `link`, if it has one.
pub async fn of_link(
    db: &impl ConnectionTrait,
    link_id: Uuid,
) -> Result<Option<conversations::Model>, DbErr> {
    conversations::Entity::find()
        .filter(conversations::Column::CareTeamLinkId.eq(link_id))
        .one(db)
        .await
}

/// Opens (or reopens) the link's conversation for both sides. Returns its id.
pub async fn open(
    db: &impl ConnectionTrait,
    link: &care_team::Model,
    patient_account: Option<Uuid>,
    now: Timestamp,
) -> Result<Uuid, DbErr> {
    let conversation_id = match of_link(db, link.id).await? {
        Some(existing) => existing.id,
        None => create(db, link, now).await?,
    };
    participants::join(
        db,
        conversation_id,
        link.provider_id,
        ParticipantRole::Provider,
        now,
    )
    .await?;
    if let Some(account) = patient_account {
        participants::join(db, conversation_id, account, ParticipantRole::Patient, now).await?;
    }
    Ok(conversation_id)
}

async fn create(
    db: &impl ConnectionTrait,
    link: &care_team::Model,
    now: Timestamp,
) -> Result<Uuid, DbErr> {
    let id = new_id();
    conversations::ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(link.facility_id),
        kind: ActiveValue::Set(ConversationKind::Direct.as_str().to_owned()),
        title: ActiveValue::Set(None),
        conversation_type: ActiveValue::Set(ConversationType::PatientSpecific.as_str().to_owned()),
        patient_id: ActiveValue::Set(Some(link.patient_id)),
        provider_id: ActiveValue::Set(Some(link.provider_id)),
        care_team_link_id: ActiveValue::Set(Some(link.id)),
        status: ActiveValue::Set(ConversationStatus::Active.as_str().to_owned()),
        priority: ActiveValue::Set(Priority::Normal.as_str().to_owned()),
        tags: ActiveValue::Set(super::conversations::NO_CLEAR_TAGS.to_owned()),
        sealed_tags: ActiveValue::Set(None),
        metadata: ActiveValue::Set(None),
        created_by: ActiveValue::Set(link.created_by),
        archived_by: ActiveValue::Set(None),
        archived_at: ActiveValue::Set(None),
        last_seq: ActiveValue::Set(0),
        last_message_at: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Takes the provider out of the link's conversation. Returns the notice
/// that stops their sockets, when they were in it.
pub async fn close_for_provider(
    db: &impl ConnectionTrait,
    link: &care_team::Model,
    now: Timestamp,
) -> Result<Option<Notice>, DbErr> {
    let Some(conversation) = of_link(db, link.id).await? else {
        return Ok(None);
    };
    let left = participants::leave(db, conversation.id, link.provider_id, now).await?;
    Ok(left.then_some(Notice::Left {
        conversation_id: conversation.id,
        account_id: link.provider_id,
    }))
}

/// Whether a direct conversation takes messages: only while its link is
/// active.
pub async fn link_is_active(
    db: &impl ConnectionTrait,
    conversation: &conversations::Model,
) -> Result<bool, DbErr> {
    let Some(link_id) = conversation.care_team_link_id else {
        return Ok(true);
    };
    care_team::is_active(db, link_id).await
}
