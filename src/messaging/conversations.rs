//! Conversations: direct ones, one per care-team link (seed 004), and the
//! facility's group conversations (seed 002) with a title, a type, an
//! optional patient, a status, a priority, tags and participants.
//!
//! Who sees a conversation: its current participants, and the facility's
//! administrators (oversight and edit history). Only current participants
//! post, and of them observers only read. A direct conversation takes
//! posts only while its link is active; the provider stops being a
//! participant when the link ends or is blocked.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::participants::{self, NewParticipant, Participant, ParticipantRole};
use crate::crypto::{DataKey, RowSealer, Sealed};
use crate::db::new_id;
use crate::error::ApiError;
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;
use crate::transition::{StateMachine, UnknownStoredValue, string_enum};
use crate::validation::Checks;

pub const TABLE: &str = "conversations";
pub const PHI_FIELDS: &[&str] = &["title", "metadata", "tags"];
/// Most tags on a conversation, and the longest tag.
const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 50;
/// Most participants named when creating a conversation.
pub const MAX_PARTICIPANTS: usize = 100;

string_enum! {
    /// A direct patient–provider conversation or a group one.
    ConversationKind {
        Direct => "direct",
        Group => "group",
    }
}

string_enum! {
    /// Seed 002's conversation types.
    ConversationType {
        General => "general",
        PatientSpecific => "patient_specific",
        Administrative => "administrative",
    }
}

string_enum! {
    /// Seed 002's `conversation_status`.
    ConversationStatus {
        Active => "active",
        Escalated => "escalated",
        Completed => "completed",
        Archived => "archived",
    }
}

impl StateMachine for ConversationStatus {
    const ENTITY: &'static str = "conversation";

    /// DOMAIN.md: active → escalated → active; active/escalated →
    /// completed → archived.
    fn next(self) -> &'static [Self] {
        use ConversationStatus::*;
        match self {
            Active => &[Escalated, Completed],
            Escalated => &[Active, Completed],
            Completed => &[Archived],
            Archived => &[],
        }
    }
}

impl ConversationStatus {
    /// Whether new messages are taken.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ConversationStatus::Active | ConversationStatus::Escalated
        )
    }
}

string_enum! {
    /// A conversation's priority.
    Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub kind: String,
    pub title: Option<Sealed>,
    pub conversation_type: String,
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub care_team_link_id: Option<Uuid>,
    pub status: String,
    pub priority: String,
    /// Written before tags were sealed: a JSON array, `[]` once sealed.
    pub tags: String,
    pub metadata: Option<Sealed>,
    /// The tags as a sealed JSON array (they may name the patient's matter);
    /// absent when there are none.
    pub sealed_tags: Option<Sealed>,
    pub created_by: Uuid,
    pub archived_by: Option<Uuid>,
    pub archived_at: Option<Timestamp>,
    pub last_seq: i64,
    pub last_message_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn conversation_status(&self) -> Result<ConversationStatus, UnknownStoredValue> {
        ConversationStatus::from_stored(&self.status, TABLE, "status", self.id)
    }

    pub fn conversation_kind(&self) -> Result<ConversationKind, UnknownStoredValue> {
        ConversationKind::from_stored(&self.kind, TABLE, "kind", self.id)
    }
}

/// A conversation as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub conversation_type: ConversationType,
    pub patient_id: Option<Uuid>,
    /// Direct conversations: the provider, and their care-team link.
    pub provider_id: Option<Uuid>,
    pub care_team_link_id: Option<Uuid>,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub metadata: Option<serde_json::Value>,
    pub created_by: Uuid,
    pub archived_by: Option<Uuid>,
    pub archived_at: Option<Timestamp>,
    /// The sequence number of the newest message (0: none yet).
    pub last_seq: i64,
    pub last_message_at: Option<Timestamp>,
    /// Messages from others after the caller's read marker; absent for a
    /// caller who is not a participant.
    pub unread_count: Option<i64>,
    pub participants: Vec<Participant>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Conversation {
    pub fn open(
        key: &DataKey,
        row: &Model,
        participants: Vec<Participant>,
        unread_count: Option<i64>,
    ) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        let metadata = seal
            .open_optional_text("metadata", &row.metadata)?
            .and_then(|text| serde_json::from_str(&text).ok());
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            kind: row.conversation_kind()?,
            title: seal.open_optional_text("title", &row.title)?,
            conversation_type: ConversationType::from_stored(
                &row.conversation_type,
                TABLE,
                "conversation_type",
                row.id,
            )?,
            patient_id: row.patient_id,
            provider_id: row.provider_id,
            care_team_link_id: row.care_team_link_id,
            status: row.conversation_status()?,
            priority: Priority::from_stored(&row.priority, TABLE, "priority", row.id)?,
            tags: open_tags(&seal, row)?,
            metadata,
            created_by: row.created_by,
            archived_by: row.archived_by,
            archived_at: row.archived_at,
            last_seq: row.last_seq,
            last_message_at: row.last_message_at,
            unread_count,
            participants,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The tags of `row`: sealed, or as written in clear before they were.
fn open_tags(seal: &RowSealer<'_>, row: &Model) -> Result<Vec<String>, ApiError> {
    match &row.sealed_tags {
        Some(sealed) => Ok(seal.open_json("tags", sealed)?),
        None => Ok(serde_json::from_str(&row.tags).unwrap_or_default()),
    }
}

/// The sealed form of `tags` (none when the list is empty).
pub fn seal_tags(seal: &RowSealer<'_>, tags: &[String]) -> Option<Sealed> {
    (!tags.is_empty()).then(|| seal.json("tags", &tags))
}

/// What the clear `tags` column holds for rows written now.
pub const NO_CLEAR_TAGS: &str = "[]";

/// A facility (group) conversation to start. The creator joins as owner.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub title: String,
    pub conversation_type: ConversationType,
    /// Required for `patient_specific`; a patient the creator can see.
    pub patient_id: Option<Uuid>,
    pub priority: Option<Priority>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form; sealed, as it may mention the patient.
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub participants: Vec<NewParticipant>,
}

impl NewConversation {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut checks = Checks::default();
        checks.text("title", &self.title, 255);
        check_tags(&mut checks, &self.tags);
        if self.conversation_type == ConversationType::PatientSpecific && self.patient_id.is_none()
        {
            checks.fail(
                "patient_id",
                "is required for a `patient_specific` conversation",
            );
        }
        if self.participants.len() > MAX_PARTICIPANTS {
            checks.fail(
                "participants",
                &format!("at most {MAX_PARTICIPANTS} at creation; add more afterwards"),
            );
        }
        if let Some(role) = self
            .participants
            .iter()
            .filter_map(|p| p.role)
            .find(|r| matches!(r, ParticipantRole::Patient | ParticipantRole::Provider))
        {
            checks.fail(
                "participants",
                &format!("`{role}` is the role of a direct conversation's two sides"),
            );
        }
        checks.done()
    }
}

/// Changes to a group conversation; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationUpdate {
    pub title: Option<String>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
}

impl ConversationUpdate {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut checks = Checks::default();
        checks.optional_text("title", self.title.as_deref(), 255);
        if let Some(tags) = &self.tags {
            check_tags(&mut checks, tags);
        }
        checks.done()
    }
}

fn check_tags(checks: &mut Checks, tags: &[String]) {
    if tags.len() > MAX_TAGS {
        checks.fail("tags", &format!("at most {MAX_TAGS} tags"));
    }
    for (i, tag) in tags.iter().enumerate() {
        checks.text(&format!("tags[{i}]"), tag, MAX_TAG_LEN);
    }
}

/// A status move.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationStatusChange {
    pub status: ConversationStatus,
}

/// Seals a new group conversation.
pub fn seal_new(
    key: &DataKey,
    facility_id: Uuid,
    new: &NewConversation,
    created_by: Uuid,
    now: Timestamp,
) -> ActiveModel {
    let id = new_id();
    let seal = RowSealer::new(key, TABLE, id);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(facility_id),
        kind: ActiveValue::Set(ConversationKind::Group.as_str().to_owned()),
        title: ActiveValue::Set(Some(seal.text("title", &new.title))),
        conversation_type: ActiveValue::Set(new.conversation_type.as_str().to_owned()),
        patient_id: ActiveValue::Set(new.patient_id),
        provider_id: ActiveValue::Set(None),
        care_team_link_id: ActiveValue::Set(None),
        status: ActiveValue::Set(ConversationStatus::Active.as_str().to_owned()),
        priority: ActiveValue::Set(new.priority.unwrap_or(Priority::Normal).as_str().to_owned()),
        tags: ActiveValue::Set(NO_CLEAR_TAGS.to_owned()),
        sealed_tags: ActiveValue::Set(seal_tags(&seal, &new.tags)),
        metadata: ActiveValue::Set(
            new.metadata
                .as_ref()
                .map(|m| seal.text("metadata", &m.to_string())),
        ),
        created_by: ActiveValue::Set(created_by),
        archived_by: ActiveValue::Set(None),
        archived_at: ActiveValue::Set(None),
        last_seq: ActiveValue::Set(0),
        last_message_at: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
}

/// How the caller reaches a conversation.
#[derive(Clone, Debug)]
pub struct Access {
    pub conversation: Model,
    /// The caller's own participation, when current.
    pub participant: Option<participants::Model>,
}

impl Access {
    /// Keeping a read marker needs a current participant, observers too.
    pub fn require_participant(&self) -> Result<&participants::Model, ApiError> {
        self.participant.as_ref().ok_or_else(|| {
            ApiError::Forbidden("only the conversation's participants take part in it".to_owned())
        })
    }

    /// Posting, editing, typing, files and calls need a current participant
    /// who is not an observer: an observer reads and does not take part.
    pub fn require_speaker(&self) -> Result<&participants::Model, ApiError> {
        let me = self.require_participant()?;
        if me.role == ParticipantRole::Observer.as_str() {
            return Err(ApiError::Forbidden(
                "an observer reads the conversation but does not take part in it".to_owned(),
            ));
        }
        Ok(me)
    }
}

/// Whether the actor oversees every conversation of the facility.
pub fn oversees(actor: &Actor, facility_id: Uuid) -> bool {
    actor
        .permissions_in(facility_id)
        .contains(&Permission::FACILITY_MANAGE)
}

/// The conversation as `scope`'s actor reaches it: as a current
/// participant, or as a facility administrator. Anyone else gets 404.
pub async fn reach(
    db: &impl ConnectionTrait,
    actor: &Actor,
    scope: &FacilityScope,
    conversation_id: Uuid,
) -> Result<Access, ApiError> {
    let conversation = Entity::find_by_id(conversation_id)
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let participant = participants::current(db, conversation_id, scope.account_id()).await?;
    if participant.is_none() && !oversees(actor, scope.facility_id()) {
        return Err(ApiError::NotFound);
    }
    Ok(Access {
        conversation,
        participant,
    })
}

/// Like [`reach`], locking the conversation row until the transaction ends
/// (PostgreSQL; SQLite's writer already holds the database): status moves
/// and messages of one conversation happen one at a time.
pub async fn reach_for_update(
    db: &impl ConnectionTrait,
    actor: &Actor,
    scope: &FacilityScope,
    conversation_id: Uuid,
) -> Result<Access, ApiError> {
    lock(db, scope.facility_id(), conversation_id).await?;
    reach(db, actor, scope, conversation_id).await
}

/// Takes the conversation's row lock by writing to it (only within the
/// scope's facility: a caller cannot hold up another facility's rows).
async fn lock(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    conversation_id: Uuid,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::LastSeq, Expr::col(Column::LastSeq))
        .filter(Column::Id.eq(conversation_id))
        .filter(Column::FacilityId.eq(facility_id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_domains() {
        use ConversationStatus::*;
        assert!(Active.transition(Escalated).is_ok());
        assert!(Escalated.transition(Active).is_ok());
        assert!(Escalated.transition(Completed).is_ok());
        assert!(Completed.transition(Archived).is_ok());
        assert!(Completed.transition(Active).is_err());
        assert!(Active.transition(Archived).is_err());
        assert!(Archived.transition(Active).is_err());
    }
}
