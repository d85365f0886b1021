//! Seed 000's `ai_qual_logs`: every exchange between the AI qualifier and a
//! lead, kept so a clinician can see what the AI was told and what it
//! concluded before trusting its verdict. The prompt and the response are a
//! prospective patient's own words about their health, so both are sealed
//! under the facility's data key; the model, the outcome and the confidence
//! stay in clear for lists and statistics.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{DataKey, RowSealer, Sealed};
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::transition::string_enum;
use crate::validation::Checks;

pub const TABLE: &str = "ai_qual_logs";

/// The longest prompt or response kept, in characters.
pub const MAX_TEXT: usize = 50_000;

string_enum! {
    /// What the AI concluded about the lead. `needs_review` puts the lead up
    /// for clinical review.
    QualificationOutcome {
        Qualified => "qualified",
        NotQualified => "not_qualified",
        NeedsReview => "needs_review",
        Incomplete => "incomplete",
    }
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_qual_logs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub lead_id: Uuid,
    pub prompt: Sealed,
    pub response: Sealed,
    pub model: String,
    pub outcome: String,
    pub confidence: Option<f64>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// One AI interaction with a lead, as reported by the qualifier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAiQualification {
    /// What the AI was asked, the lead's messages included.
    pub prompt: String,
    /// What the AI answered.
    pub response: String,
    /// The model that answered, e.g. `gpt-4o-2024-08-06`.
    pub model: String,
    pub outcome: QualificationOutcome,
    /// How sure the AI was, from 0 to 1.
    pub confidence: Option<f64>,
}

impl NewAiQualification {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.text("prompt", &self.prompt, MAX_TEXT);
        c.text("response", &self.response, MAX_TEXT);
        c.text("model", &self.model, 100);
        if let Some(confidence) = self.confidence
            && !(0.0..=1.0).contains(&confidence)
        {
            c.fail("confidence", "must be between 0 and 1");
        }
        c.done()
    }
}

/// An AI interaction as the API shows it, opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiQualification {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub lead_id: Uuid,
    pub prompt: String,
    pub response: String,
    pub model: String,
    pub outcome: QualificationOutcome,
    pub confidence: Option<f64>,
    /// The account that recorded it (an API key's creator for a key).
    pub created_by: Uuid,
    pub created_at: Timestamp,
}

/// The sealed row for a new interaction with `lead_id`.
fn seal_new(
    key: &DataKey,
    id: Uuid,
    scope: &FacilityScope,
    lead_id: Uuid,
    new: &NewAiQualification,
    now: Timestamp,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, id);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(scope.facility_id()),
        lead_id: ActiveValue::Set(lead_id),
        prompt: ActiveValue::Set(seal.text("prompt", &new.prompt)),
        response: ActiveValue::Set(seal.text("response", &new.response)),
        model: ActiveValue::Set(new.model.trim().to_owned()),
        outcome: ActiveValue::Set(new.outcome.as_str().to_owned()),
        confidence: ActiveValue::Set(new.confidence),
        created_by: ActiveValue::Set(scope.account_id()),
        created_at: ActiveValue::Set(now),
    }
}

/// Records an interaction with `lead_id`, a lead of the scope's facility,
/// by the scope's account.
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    id: Uuid,
    lead_id: Uuid,
    new: &NewAiQualification,
    now: Timestamp,
) -> Result<Model, DbErr> {
    seal_new(key, id, scope, lead_id, new, now)
        .insert(txn)
        .await
}

impl AiQualification {
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            lead_id: row.lead_id,
            prompt: seal.open_text("prompt", &row.prompt)?,
            response: seal.open_text("response", &row.response)?,
            model: row.model.clone(),
            outcome: QualificationOutcome::from_stored(&row.outcome, TABLE, "outcome", row.id)?,
            confidence: row.confidence,
            created_by: row.created_by,
            created_at: row.created_at,
        })
    }
}

/// A page of a lead's AI interactions in the scope's facility, oldest first.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    lead_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::LeadId.eq(lead_id))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interaction(confidence: Option<f64>) -> NewAiQualification {
        NewAiQualification {
            prompt: "Lead asks about rhinoplasty".into(),
            response: "Likely candidate".into(),
            model: "qualifier-1".into(),
            outcome: QualificationOutcome::Qualified,
            confidence,
        }
    }

    #[test]
    fn confidence_is_a_probability() {
        for ok in [None, Some(0.0), Some(0.42), Some(1.0)] {
            assert!(interaction(ok).validate().is_ok(), "{ok:?}");
        }
        for bad in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            let Err(ApiError::Validation(errors)) = interaction(Some(bad)).validate() else {
                panic!("{bad} was accepted");
            };
            assert_eq!(errors[0].field, "confidence");
        }
    }

    #[test]
    fn seed_outcomes_parse() {
        assert_eq!(
            QualificationOutcome::parse("needs_review"),
            Some(QualificationOutcome::NeedsReview)
        );
        assert_eq!(QualificationOutcome::ALL.len(), 4);
    }
}
