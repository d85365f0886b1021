//! The lead (seeds 000 and 001): a prospective patient's contact details,
//! sealed under the facility's data key with blind indexes for finding
//! duplicates, where it came from, how ready it is, who works it, and where
//! it stands in its lifecycle and in its pipeline.

use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::lead_changes::{LeadChanges, MAX_INTERESTS, NewLead};
pub use super::lead_sources::SourceChoice;
pub use super::lead_status::{InterestPriority, LeadStatus, Readiness, ReviewStatus};
use super::score::{ScoreFactor, ScoreInputs};
use crate::crypto::{BlindIndex, DataKey, OTHER_LABEL, RowSealer, Sealed};
use crate::error::ApiError;
use crate::time::Timestamp;
use crate::transition::UnknownStoredValue;

pub const TABLE: &str = "leads";
pub const INTERESTS_TABLE: &str = "lead_interests";

/// The fields whose values the audit log never records.
pub const PHI_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "notes",
    "reason",
    "procedure",
    "interests",
    "outcome",
    "lead_type",
];

/// Seed 001's `lead_source` values.
pub const SEED_SOURCES: [&str; 8] = [
    "HHQ Complete",
    "HHQ Started",
    "Lab Purchase",
    "Marek Health Discovery Call",
    "Newsletter Discovery Call",
    "Social Media Discovery Call",
    "Newsletter",
    "None",
];

/// The sources every facility's catalogue starts with
/// ([`super::lead_sources`]): seed 001's and the labels carebase itself
/// scores. A catalogue source is kept in clear, where lists filter and
/// statistics count on it; any other source is free text that may name a
/// person (a referrer, a clinic) and is sealed, its clear column
/// [`OTHER_LABEL`].
pub const LEAD_SOURCES: [&str; 10] = [
    SEED_SOURCES[0],
    SEED_SOURCES[1],
    SEED_SOURCES[2],
    SEED_SOURCES[3],
    SEED_SOURCES[4],
    SEED_SOURCES[5],
    SEED_SOURCES[6],
    SEED_SOURCES[7],
    "Referral",
    "Web Chat",
];

/// What a source shows where only clear values may go (the audit log, a
/// statistic): itself if it is in the catalogue, else [`OTHER_LABEL`].
pub fn source_label(source: &str) -> &str {
    let source = source.trim();
    if LEAD_SOURCES.contains(&source) {
        source
    } else {
        OTHER_LABEL
    }
}

/// The blind index free-text sources had before the catalogue (the text
/// trimmed), so `source=` filters still find rows not yet canonicalised.
pub fn source_index(key: &DataKey, source: &str) -> BlindIndex {
    key.blind_index("lead-source", source.trim())
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub first_name: Sealed,
    pub last_name: Sealed,
    pub email: Option<Sealed>,
    pub email_index: Option<BlindIndex>,
    pub phone: Option<Sealed>,
    pub phone_index: Option<BlindIndex>,
    /// A source of the facility's catalogue, or `Other` (free text, sealed).
    pub source: String,
    pub readiness: String,
    pub status: String,
    /// Written before outcomes and types were sealed; empty once they are.
    pub outcome: Option<String>,
    pub lead_type: Option<String>,
    pub number_of_calls: i32,
    /// Inbound communications from the lead.
    pub replies: i32,
    /// Messages in the lead's web chat sessions.
    pub chat_messages: i32,
    pub first_contacted_at: Option<Timestamp>,
    pub last_contacted_at: Option<Timestamp>,
    /// The lead's own latest activity: a reply or a chat message.
    pub last_activity_at: Option<Timestamp>,
    pub owner_id: Option<Uuid>,
    pub health_coach_id: Option<Uuid>,
    pub notes: Option<Sealed>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub score: i32,
    /// JSON array of [`ScoreFactor`].
    pub score_factors: String,
    pub review_status: String,
    pub review_reason: Option<Sealed>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<Timestamp>,
    pub portal_account_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub converted_at: Option<Timestamp>,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// A free-text source, sealed, and the blind index it had before the
    /// catalogue (see `source_key`).
    pub sealed_source: Option<Sealed>,
    pub source_index: Option<BlindIndex>,
    /// Free-text labels, sealed: a call's outcome may say what the lead told.
    pub sealed_outcome: Option<Sealed>,
    pub sealed_lead_type: Option<Sealed>,
    /// The blind index of a free source's canonical form
    /// ([`super::lead_sources::free_key`]); `source_index` is the form
    /// written before the catalogue, kept until [`super::lead_sources::canonicalise_stored`].
    pub source_key: Option<BlindIndex>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn lead_status(&self) -> Result<LeadStatus, UnknownStoredValue> {
        LeadStatus::from_stored(&self.status, TABLE, "status", self.id)
    }

    pub fn lead_readiness(&self) -> Result<Readiness, UnknownStoredValue> {
        Readiness::from_stored(&self.readiness, TABLE, "readiness", self.id)
    }

    /// Whom the lead is assigned to: its owner and its booked coach.
    pub fn assignees(&self) -> [Option<Uuid>; 2] {
        [self.owner_id, self.health_coach_id]
    }
}

/// Seed 000's `clinical_interests`: a procedure the lead asked about.
pub mod interest {
    use sea_orm::entity::prelude::*;

    use crate::crypto::Sealed;
    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead_interests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub lead_id: Uuid,
        pub procedure: Sealed,
        pub notes: Option<Sealed>,
        pub priority: String,
        pub created_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A procedure of interest, as given and as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Interest {
    pub procedure: String,
    pub notes: Option<String>,
    #[serde(default = "medium")]
    pub priority: InterestPriority,
}

fn medium() -> InterestPriority {
    InterestPriority::Medium
}

/// The clinical review of a lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Review {
    pub status: ReviewStatus,
    /// Why it was declined.
    pub reason: Option<String>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<Timestamp>,
}

/// A lead as the API shows it, opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lead {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub source: String,
    pub readiness: Readiness,
    pub status: LeadStatus,
    pub outcome: Option<String>,
    pub lead_type: Option<String>,
    pub number_of_calls: i32,
    pub replies: i32,
    pub chat_messages: i32,
    pub first_contacted_at: Option<Timestamp>,
    pub last_contacted_at: Option<Timestamp>,
    pub owner_id: Option<Uuid>,
    /// Seed 001's `health_coach_booked_with`.
    pub health_coach_id: Option<Uuid>,
    pub notes: Option<String>,
    pub interests: Vec<Interest>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    /// The stage's name.
    pub stage: String,
    /// 0 to 100; see `score_factors` for how it was reached.
    pub score: i32,
    pub score_factors: Vec<ScoreFactor>,
    pub review: Review,
    /// Seed 001's `portal_access`: whether the lead was invited to the portal.
    pub portal_access: bool,
    pub portal_account_id: Option<Uuid>,
    /// Seed 001's `last_portal_login`: when the portal account last signed in.
    pub last_portal_login: Option<Timestamp>,
    /// The patient the lead became.
    pub patient_id: Option<Uuid>,
    pub converted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The email as compared for duplicates: trimmed and lower-case.
pub fn email_index(key: &DataKey, email: &str) -> BlindIndex {
    key.blind_index("lead-email", &email.trim().to_lowercase())
}

/// The phone as compared for duplicates: its digits, a leading `+` kept.
pub fn phone_index(key: &DataKey, phone: &str) -> BlindIndex {
    key.blind_index("lead-phone", &crate::types::normalize_phone(phone))
}

/// Where a new lead starts: its pipeline and stage, who owns it, and its
/// source as matched to the facility's catalogue.
pub struct Placement {
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub owner_id: Option<Uuid>,
    pub source: SourceChoice,
}

/// The sealed row for a new lead, scored.
pub fn seal_new(
    key: &DataKey,
    id: Uuid,
    facility_id: Uuid,
    new: &NewLead,
    placement: Placement,
    created_by: Uuid,
    now: Timestamp,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, id);
    let readiness = new.readiness.unwrap_or(Readiness::Cold);
    let (source, sealed_source, source_key) = placement.source.seal(key, id);
    // Scored on the clear label, as a rescore sees it.
    let scored = ScoreInputs {
        readiness,
        source: &source,
        interests: &new.interests.iter().map(|i| i.priority).collect::<Vec<_>>(),
        calls: 0,
        replies: 0,
        chat_messages: 0,
        last_activity: Some(now),
    }
    .score(now);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(facility_id),
        first_name: ActiveValue::Set(seal.text("first_name", new.first_name.trim())),
        last_name: ActiveValue::Set(seal.text("last_name", new.last_name.trim())),
        email: ActiveValue::Set(new.email.as_deref().map(|v| seal.text("email", v.trim()))),
        email_index: ActiveValue::Set(new.email.as_deref().map(|v| email_index(key, v))),
        phone: ActiveValue::Set(new.phone.as_deref().map(|v| seal.text("phone", v.trim()))),
        phone_index: ActiveValue::Set(new.phone.as_deref().map(|v| phone_index(key, v))),
        source: ActiveValue::Set(source),
        sealed_source: ActiveValue::Set(sealed_source),
        source_index: ActiveValue::Set(None),
        source_key: ActiveValue::Set(source_key),
        readiness: ActiveValue::Set(readiness.as_str().to_owned()),
        status: ActiveValue::Set(LeadStatus::New.as_str().to_owned()),
        outcome: ActiveValue::Set(None),
        lead_type: ActiveValue::Set(None),
        sealed_outcome: ActiveValue::Set(seal_label(&seal, "outcome", new.outcome.as_deref())),
        sealed_lead_type: ActiveValue::Set(seal_label(
            &seal,
            "lead_type",
            new.lead_type.as_deref(),
        )),
        number_of_calls: ActiveValue::Set(0),
        replies: ActiveValue::Set(0),
        chat_messages: ActiveValue::Set(0),
        first_contacted_at: ActiveValue::Set(None),
        last_contacted_at: ActiveValue::Set(None),
        last_activity_at: ActiveValue::Set(Some(now)),
        owner_id: ActiveValue::Set(placement.owner_id),
        health_coach_id: ActiveValue::Set(new.health_coach_id),
        notes: ActiveValue::Set(seal.optional_text("notes", new.notes.as_deref())),
        pipeline_id: ActiveValue::Set(placement.pipeline_id),
        stage_id: ActiveValue::Set(placement.stage_id),
        score: ActiveValue::Set(scored.total),
        score_factors: ActiveValue::Set(scored.factors_json()),
        review_status: ActiveValue::Set(ReviewStatus::NotRequired.as_str().to_owned()),
        review_reason: ActiveValue::Set(None),
        reviewed_by: ActiveValue::Set(None),
        reviewed_at: ActiveValue::Set(None),
        portal_account_id: ActiveValue::Set(None),
        patient_id: ActiveValue::Set(None),
        converted_at: ActiveValue::Set(None),
        created_by: ActiveValue::Set(Some(created_by)),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
}

fn seal_label(seal: &RowSealer<'_>, column: &str, value: Option<&str>) -> Option<Sealed> {
    value.map(|v| seal.text(column, v.trim()))
}

/// The sealed outcome of lead `lead_id`, as a move or a call records it.
pub fn seal_outcome(key: &DataKey, lead_id: Uuid, outcome: &str) -> Sealed {
    RowSealer::new(key, TABLE, lead_id).text("outcome", outcome.trim())
}

/// Opens a free-text label, or takes it as written in clear before labels
/// were sealed.
fn open_label(
    seal: &RowSealer<'_>,
    column: &str,
    sealed: &Option<Sealed>,
    legacy: &Option<String>,
) -> Result<Option<String>, ApiError> {
    match sealed {
        Some(_) => Ok(seal.open_optional_text(column, sealed)?),
        None => Ok(legacy.clone()),
    }
}

/// Applies sealed changes to a row (the score is refreshed by the caller);
/// `source` is `changes.source` matched to the facility's catalogue.
pub fn seal_changes(
    key: &DataKey,
    row: Model,
    changes: &LeadChanges,
    source: Option<&SourceChoice>,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, row.id);
    let lead_id = row.id;
    let mut active: ActiveModel = row.into();
    if let Some(v) = &changes.first_name {
        active.first_name = ActiveValue::Set(seal.text("first_name", v.trim()));
    }
    if let Some(v) = &changes.last_name {
        active.last_name = ActiveValue::Set(seal.text("last_name", v.trim()));
    }
    if let Some(v) = &changes.email {
        active.email = ActiveValue::Set(v.as_deref().map(|v| seal.text("email", v.trim())));
        active.email_index = ActiveValue::Set(v.as_deref().map(|v| email_index(key, v)));
    }
    if let Some(v) = &changes.phone {
        active.phone = ActiveValue::Set(v.as_deref().map(|v| seal.text("phone", v.trim())));
        active.phone_index = ActiveValue::Set(v.as_deref().map(|v| phone_index(key, v)));
    }
    if let Some(choice) = source {
        let (source, sealed, source_key) = choice.seal(key, lead_id);
        active.source_index = ActiveValue::Set(None);
        active.source_key = ActiveValue::Set(source_key);
        active.source = ActiveValue::Set(source);
        active.sealed_source = ActiveValue::Set(sealed);
    }
    if let Some(v) = changes.readiness {
        active.readiness = ActiveValue::Set(v.as_str().to_owned());
    }
    if let Some(v) = &changes.outcome {
        active.outcome = ActiveValue::Set(None);
        active.sealed_outcome = ActiveValue::Set(seal_label(&seal, "outcome", v.as_deref()));
    }
    if let Some(v) = &changes.lead_type {
        active.lead_type = ActiveValue::Set(None);
        active.sealed_lead_type = ActiveValue::Set(seal_label(&seal, "lead_type", v.as_deref()));
    }
    if let Some(v) = changes.owner_id {
        active.owner_id = ActiveValue::Set(v);
    }
    if let Some(v) = changes.health_coach_id {
        active.health_coach_id = ActiveValue::Set(v);
    }
    if let Some(v) = &changes.notes {
        active.notes = ActiveValue::Set(seal.optional_text("notes", v.as_deref()));
    }
    active
}

/// The sealed rows of a lead's interests.
pub fn seal_interests(
    key: &DataKey,
    lead_id: Uuid,
    interests: &[Interest],
) -> Vec<interest::ActiveModel> {
    let now = Timestamp::now();
    interests
        .iter()
        .map(|i| {
            let id = crate::db::new_id();
            let seal = RowSealer::new(key, INTERESTS_TABLE, id);
            interest::ActiveModel {
                id: ActiveValue::Set(id),
                lead_id: ActiveValue::Set(lead_id),
                procedure: ActiveValue::Set(seal.text("procedure", i.procedure.trim())),
                notes: ActiveValue::Set(seal.optional_text("notes", i.notes.as_deref())),
                priority: ActiveValue::Set(i.priority.as_str().to_owned()),
                created_at: ActiveValue::Set(now),
            }
        })
        .collect()
}

pub fn open_interest(key: &DataKey, row: &interest::Model) -> Result<Interest, ApiError> {
    let seal = RowSealer::new(key, INTERESTS_TABLE, row.id);
    Ok(Interest {
        procedure: seal.open_text("procedure", &row.procedure)?,
        notes: seal.open_optional_text("notes", &row.notes)?,
        priority: InterestPriority::from_stored(
            &row.priority,
            INTERESTS_TABLE,
            "priority",
            row.id,
        )?,
    })
}

impl Lead {
    /// Opens a row with its interests and the name of its stage. A field
    /// that does not open fails the whole lead.
    pub fn open(
        key: &DataKey,
        row: &Model,
        interests: Vec<Interest>,
        stage: String,
    ) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            first_name: seal.open_text("first_name", &row.first_name)?,
            last_name: seal.open_text("last_name", &row.last_name)?,
            email: seal.open_optional_text("email", &row.email)?,
            phone: seal.open_optional_text("phone", &row.phone)?,
            source: seal.open_label("source", &row.source, &row.sealed_source)?,
            readiness: row.lead_readiness()?,
            status: row.lead_status()?,
            outcome: open_label(&seal, "outcome", &row.sealed_outcome, &row.outcome)?,
            lead_type: open_label(&seal, "lead_type", &row.sealed_lead_type, &row.lead_type)?,
            number_of_calls: row.number_of_calls,
            replies: row.replies,
            chat_messages: row.chat_messages,
            first_contacted_at: row.first_contacted_at,
            last_contacted_at: row.last_contacted_at,
            owner_id: row.owner_id,
            health_coach_id: row.health_coach_id,
            notes: seal.open_optional_text("notes", &row.notes)?,
            interests,
            pipeline_id: row.pipeline_id,
            stage_id: row.stage_id,
            stage,
            score: row.score,
            score_factors: serde_json::from_str(&row.score_factors).unwrap_or_default(),
            review: Review {
                status: ReviewStatus::from_stored(
                    &row.review_status,
                    TABLE,
                    "review_status",
                    row.id,
                )?,
                reason: seal.open_optional_text("review_reason", &row.review_reason)?,
                reviewed_by: row.reviewed_by,
                reviewed_at: row.reviewed_at,
            },
            portal_access: row.portal_account_id.is_some(),
            portal_account_id: row.portal_account_id,
            last_portal_login: None,
            patient_id: row.patient_id,
            converted_at: row.converted_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_indexes_ignore_case_and_punctuation() {
        let key = DataKey::new(Uuid::now_v7(), &[7u8; 32]);
        assert_eq!(
            email_index(&key, " Ada@Example.org"),
            email_index(&key, "ada@example.org")
        );
        assert_eq!(
            phone_index(&key, "+1 (555) 010-4242"),
            phone_index(&key, "+15550104242")
        );
        assert_ne!(
            phone_index(&key, "5550104242"),
            crate::care::patients::phone_index(&key, "5550104242"),
            "leads and patients index under different purposes"
        );
    }
}
