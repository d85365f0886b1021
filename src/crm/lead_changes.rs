//! What a caller gives to create or change a lead, and the rules it must
//! follow, field by field.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::lead_status::Readiness;
use super::leads::Interest;
use crate::error::ApiError;
use crate::validation::Checks;

/// A new lead.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLead {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// An entry of the facility's `lead_source` catalogue, matched ignoring
    /// case and spacing and stored in its spelling; another label only if
    /// the facility accepts free sources (`crm.allow_free_lead_sources`,
    /// on by default), sealed. `None` when absent.
    pub source: Option<String>,
    pub readiness: Option<Readiness>,
    pub outcome: Option<String>,
    pub lead_type: Option<String>,
    /// Defaults to the creator.
    pub owner_id: Option<Uuid>,
    pub health_coach_id: Option<Uuid>,
    pub notes: Option<String>,
    #[serde(default)]
    pub interests: Vec<Interest>,
    /// A lead pipeline of the facility; the default one when absent.
    pub pipeline_id: Option<Uuid>,
    /// A stage of that pipeline; its first stage when absent.
    pub stage_id: Option<Uuid>,
}

/// Changes to a lead: an absent field stays, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// As for a new lead: matched to the facility's `lead_source` catalogue.
    pub source: Option<String>,
    pub readiness: Option<Readiness>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub outcome: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub lead_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub owner_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub health_coach_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// Replaces the whole list.
    pub interests: Option<Vec<Interest>>,
}

/// Most interests one lead lists.
pub const MAX_INTERESTS: usize = 20;

fn check_interests(c: &mut Checks, interests: &[Interest]) {
    if interests.len() > MAX_INTERESTS {
        c.fail(
            "interests",
            &format!("must list at most {MAX_INTERESTS} procedures"),
        );
    }
    for (i, interest) in interests.iter().enumerate() {
        c.text(
            &format!("interests[{i}].procedure"),
            &interest.procedure,
            200,
        );
        c.optional_text(
            &format!("interests[{i}].notes"),
            interest.notes.as_deref(),
            2000,
        );
    }
}

fn check_label(c: &mut Checks, field: &str, value: Option<&str>) {
    c.optional_text(field, value, 100);
}

impl NewLead {
    pub fn validate(&self) -> Result<(), ApiError> {
        self.checks().done()
    }

    /// Every invalid field, for the API and for a CSV row's report.
    pub fn checks(&self) -> Checks {
        let mut c = Checks::default();
        c.text("first_name", &self.first_name, 100);
        c.text("last_name", &self.last_name, 100);
        if let Some(email) = &self.email {
            c.email("email", email);
        }
        if let Some(phone) = &self.phone {
            c.phone("phone", phone);
        }
        if self.email.is_none() && self.phone.is_none() {
            c.fail(
                "email",
                "give an email or a phone, so the lead can be reached",
            );
        }
        check_label(&mut c, "source", self.source.as_deref());
        check_label(&mut c, "outcome", self.outcome.as_deref());
        check_label(&mut c, "lead_type", self.lead_type.as_deref());
        c.optional_text("notes", self.notes.as_deref(), 10_000);
        check_interests(&mut c, &self.interests);
        c
    }
}

impl LeadChanges {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.optional_text("first_name", self.first_name.as_deref(), 100);
        c.optional_text("last_name", self.last_name.as_deref(), 100);
        if let Some(Some(email)) = &self.email {
            c.email("email", email);
        }
        if let Some(Some(phone)) = &self.phone {
            c.phone("phone", phone);
        }
        check_label(&mut c, "source", self.source.as_deref());
        check_label(
            &mut c,
            "outcome",
            self.outcome.as_ref().and_then(|v| v.as_deref()),
        );
        check_label(
            &mut c,
            "lead_type",
            self.lead_type.as_ref().and_then(|v| v.as_deref()),
        );
        if let Some(Some(notes)) = &self.notes {
            c.text("notes", notes, 10_000);
        }
        if let Some(interests) = &self.interests {
            check_interests(&mut c, interests);
        }
        c.done()
    }

    /// The names of the fields this change touches, for the audit log.
    pub fn touched(&self) -> Vec<&'static str> {
        let present = [
            (self.first_name.is_some(), "first_name"),
            (self.last_name.is_some(), "last_name"),
            (self.email.is_some(), "email"),
            (self.phone.is_some(), "phone"),
            (self.source.is_some(), "source"),
            (self.readiness.is_some(), "readiness"),
            (self.outcome.is_some(), "outcome"),
            (self.lead_type.is_some(), "lead_type"),
            (self.owner_id.is_some(), "owner_id"),
            (self.health_coach_id.is_some(), "health_coach_id"),
            (self.notes.is_some(), "notes"),
            (self.interests.is_some(), "interests"),
        ];
        present
            .into_iter()
            .filter_map(|(given, name)| given.then_some(name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::lead_status::InterestPriority;

    #[test]
    fn a_lead_needs_a_way_to_reach_it_and_names_every_bad_field() {
        let lead = NewLead {
            first_name: "Ada".into(),
            last_name: " ".into(),
            interests: vec![Interest {
                procedure: String::new(),
                notes: None,
                priority: InterestPriority::High,
            }],
            ..Default::default()
        };
        let fields: Vec<String> = lead
            .checks()
            .into_errors()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["last_name", "email", "interests[0].procedure"]);
    }
}
