//! Communications with leads and patients (seed 000's `log_communication`,
//! called from n8n): one row per email, text, call or chat that happened,
//! whichever system carried it, with what it was about sealed and the
//! compliance facts in clear: whether it contained PHI and under which
//! retention category it must be kept. Its audit event is what seed 000's
//! `communication_audit` view shows.
//!
//! Integrations retry. Each communication therefore carries the sender's
//! idempotency key, unique per facility: the same key with the same
//! content is the same communication and is answered with the original
//! record; the same key with other content is refused. Content is compared
//! through a keyed digest of the request, so the check opens nothing.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::crypto::{BlindIndex, DataKey, RowSealer, Sealed};
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::transition::{UnknownStoredValue, string_enum};
use crate::validation::Checks;

pub const TABLE: &str = "communications";
/// The unique index that makes a key usable once per facility.
pub const KEY_CONSTRAINT: &str = "communications_facility_id_idempotency_key_key";
/// The longest summary kept, in characters.
pub const MAX_SUMMARY: usize = 20_000;
/// How far ahead of this server's clock `occurred_at` may be.
const CLOCK_SKEW_SECS: i64 = 300;

string_enum! {
    /// How the communication travelled.
    CommunicationChannel {
        Email => "email",
        Sms => "sms",
        Phone => "phone",
        WebChat => "web_chat",
        InPerson => "in_person",
        Portal => "portal",
        Other => "other",
    }
}

string_enum! {
    /// From the lead or patient to the facility (`inbound`), or back.
    CommunicationDirection {
        Inbound => "inbound",
        Outbound => "outbound",
    }
}

string_enum! {
    /// The retention policy the record falls under (seed 000): clinical
    /// records are kept as medical records, marketing as consent allows,
    /// operational for running the clinic, legal under a hold.
    RetentionCategory {
        Clinical => "clinical",
        Marketing => "marketing",
        Operational => "operational",
        Legal => "legal",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "communications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub idempotency_key: String,
    /// A keyed digest of the request, to tell a retry from a reused key.
    pub request_digest: BlindIndex,
    pub lead_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub channel: String,
    pub direction: String,
    pub summary: Sealed,
    pub contains_phi: bool,
    pub retention_category: String,
    pub occurred_at: Timestamp,
    pub created_by: Uuid,
    /// The API key it came through, if any.
    pub api_key_id: Option<Uuid>,
    pub created_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A communication to log: with a lead or with a patient, never both.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommunication {
    /// The sender's id for this communication, 1 to 200 characters; sending
    /// it again returns the communication logged the first time.
    pub idempotency_key: String,
    pub lead_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub channel: CommunicationChannel,
    pub direction: CommunicationDirection,
    /// What was said, in short. Sealed; never in the audit log.
    pub summary: String,
    /// Whether the communication itself carried PHI.
    pub contains_phi: bool,
    pub retention_category: RetentionCategory,
    /// When it happened; now when absent.
    pub occurred_at: Option<Timestamp>,
}

/// The lead or patient a communication was with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counterpart {
    Lead(Uuid),
    Patient(Uuid),
}

impl NewCommunication {
    pub fn validate(&self, now: Timestamp) -> Result<Counterpart, ApiError> {
        let mut c = Checks::default();
        c.text("idempotency_key", &self.idempotency_key, 200);
        let counterpart = match (self.lead_id, self.patient_id) {
            (Some(lead), None) => Some(Counterpart::Lead(lead)),
            (None, Some(patient)) => Some(Counterpart::Patient(patient)),
            (None, None) => {
                c.fail("lead_id", "give the lead_id or the patient_id");
                None
            }
            (Some(_), Some(_)) => {
                c.fail("patient_id", "give the lead_id or the patient_id, not both");
                None
            }
        };
        c.text("summary", &self.summary, MAX_SUMMARY);
        if self
            .occurred_at
            .is_some_and(|at| at > now.plus_secs(CLOCK_SKEW_SECS))
        {
            c.fail("occurred_at", "must not be in the future");
        }
        c.done()?;
        counterpart
            .ok_or_else(|| ApiError::invalid("lead_id", "give the lead_id or the patient_id"))
    }

    /// A keyed digest of the request as sent: equal for a retry, different
    /// for any other content under the same key.
    pub fn digest(&self, key: &DataKey) -> BlindIndex {
        // Serializing a struct of strings, ids and flags cannot fail.
        let canonical = serde_json::to_string(self).unwrap_or_default();
        key.blind_index("communication-request", &canonical)
    }
}

/// A communication as the API shows it, opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Communication {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub idempotency_key: String,
    pub lead_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub channel: CommunicationChannel,
    pub direction: CommunicationDirection,
    pub summary: String,
    pub contains_phi: bool,
    pub retention_category: RetentionCategory,
    pub occurred_at: Timestamp,
    /// The account that logged it (an API key's creator for a key).
    pub created_by: Uuid,
    pub api_key_id: Option<Uuid>,
    pub created_at: Timestamp,
}

/// Who is logging, as the row records it.
pub struct LoggedBy {
    pub account_id: Uuid,
    pub api_key_id: Option<Uuid>,
}

/// The sealed row for a new communication.
fn seal_new(
    key: &DataKey,
    id: Uuid,
    scope: &FacilityScope,
    new: &NewCommunication,
    by: LoggedBy,
    now: Timestamp,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, id);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(scope.facility_id()),
        idempotency_key: ActiveValue::Set(new.idempotency_key.clone()),
        request_digest: ActiveValue::Set(new.digest(key)),
        lead_id: ActiveValue::Set(new.lead_id),
        patient_id: ActiveValue::Set(new.patient_id),
        channel: ActiveValue::Set(new.channel.as_str().to_owned()),
        direction: ActiveValue::Set(new.direction.as_str().to_owned()),
        summary: ActiveValue::Set(seal.text("summary", new.summary.trim())),
        contains_phi: ActiveValue::Set(new.contains_phi),
        retention_category: ActiveValue::Set(new.retention_category.as_str().to_owned()),
        occurred_at: ActiveValue::Set(new.occurred_at.unwrap_or(now)),
        created_by: ActiveValue::Set(by.account_id),
        api_key_id: ActiveValue::Set(by.api_key_id),
        created_at: ActiveValue::Set(now),
    }
}

impl Model {
    pub fn channel(&self) -> Result<CommunicationChannel, UnknownStoredValue> {
        CommunicationChannel::from_stored(&self.channel, TABLE, "channel", self.id)
    }

    pub fn direction(&self) -> Result<CommunicationDirection, UnknownStoredValue> {
        CommunicationDirection::from_stored(&self.direction, TABLE, "direction", self.id)
    }

    pub fn retention_category(&self) -> Result<RetentionCategory, UnknownStoredValue> {
        RetentionCategory::from_stored(
            &self.retention_category,
            TABLE,
            "retention_category",
            self.id,
        )
    }
}

impl Communication {
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            idempotency_key: row.idempotency_key.clone(),
            lead_id: row.lead_id,
            patient_id: row.patient_id,
            channel: row.channel()?,
            direction: row.direction()?,
            summary: seal.open_text("summary", &row.summary)?,
            contains_phi: row.contains_phi,
            retention_category: row.retention_category()?,
            occurred_at: row.occurred_at,
            created_by: row.created_by,
            api_key_id: row.api_key_id,
            created_at: row.created_at,
        })
    }
}

/// Which communications to list.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CommunicationFilter {
    /// Only those with this lead.
    pub lead_id: Option<Uuid>,
    /// Only those with this patient (needs `patient:read` for the patient).
    pub patient_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// Which of a facility's communications a list may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Those with one lead.
    Lead(Uuid),
    /// Those with one patient.
    Patient(Uuid),
    /// Every lead's, and every patient's.
    All,
    /// Every lead's, none of any patient.
    LeadsOnly,
}

/// Logs a communication in the scope's facility. A key already used there
/// fails on [`KEY_CONSTRAINT`].
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    id: Uuid,
    new: &NewCommunication,
    by: LoggedBy,
    now: Timestamp,
) -> Result<Model, DbErr> {
    seal_new(key, id, scope, new, by, now).insert(txn).await
}

/// The communication logged in the facility under `idempotency_key`.
pub async fn find_by_key(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    idempotency_key: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::IdempotencyKey.eq(idempotency_key))
        .one(db)
        .await
}

/// A page of the facility's communications within `reach`, oldest first.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    reach: Reach,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let within = match reach {
        Reach::Lead(lead) => Condition::all().add(Column::LeadId.eq(lead)),
        Reach::Patient(patient) => Condition::all().add(Column::PatientId.eq(patient)),
        Reach::All => Condition::all(),
        Reach::LeadsOnly => Condition::all().add(Column::LeadId.is_not_null()),
    };
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(within)
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

    fn new(lead: Option<Uuid>, patient: Option<Uuid>) -> NewCommunication {
        NewCommunication {
            idempotency_key: "n8n-1".into(),
            lead_id: lead,
            patient_id: patient,
            channel: CommunicationChannel::Sms,
            direction: CommunicationDirection::Outbound,
            summary: "Reminder sent".into(),
            contains_phi: false,
            retention_category: RetentionCategory::Operational,
            occurred_at: None,
        }
    }

    fn fields(result: Result<Counterpart, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exactly_one_counterpart() {
        let now = Timestamp::now();
        let (lead, patient) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            new(Some(lead), None).validate(now).unwrap(),
            Counterpart::Lead(lead)
        );
        assert_eq!(
            new(None, Some(patient)).validate(now).unwrap(),
            Counterpart::Patient(patient)
        );
        assert_eq!(fields(new(None, None).validate(now)), ["lead_id"]);
        assert_eq!(
            fields(new(Some(lead), Some(patient)).validate(now)),
            ["patient_id"]
        );
        let mut bad = new(Some(lead), None);
        bad.idempotency_key = "k".repeat(201);
        bad.summary = " ".into();
        bad.occurred_at = Some(now.plus_secs(3600));
        assert_eq!(
            fields(bad.validate(now)),
            ["idempotency_key", "summary", "occurred_at"]
        );
    }

    #[test]
    fn a_retry_has_the_same_digest_and_other_content_does_not() {
        let key = DataKey::new(Uuid::now_v7(), &[9u8; 32]);
        let lead = Some(Uuid::now_v7());
        assert_eq!(new(lead, None).digest(&key), new(lead, None).digest(&key));
        let mut changed = new(lead, None);
        changed.summary = "Reminder sent twice".into();
        assert_ne!(changed.digest(&key), new(lead, None).digest(&key));
        let mut flagged = new(lead, None);
        flagged.contains_phi = true;
        assert_ne!(flagged.digest(&key), new(lead, None).digest(&key));
    }
}
