//! What an audit event says: who did what to which resource, for which
//! facility and patient, from where, and under which compliance rules.
//!
//! These are the types handlers build. They carry no sequence number and no
//! hash: those are given when the event joins the chain (see
//! [`super::chain::append`]), so an event cannot claim a place in the log.

use sea_orm::sea_query::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::time::Timestamp;

/// Who acted. Every event has exactly one actor; a job of the server itself
/// is named, so the log never has an anonymous entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditActor {
    /// A person signed in; `session_id` ties the event to the sign-in.
    Account { id: Uuid, session_id: Option<Uuid> },
    /// A partner system using an API key.
    ApiKey { id: Uuid },
    /// carebase itself: a scheduled job, a migration, an operator command.
    System { job: String },
}

impl AuditActor {
    pub fn actor_type(&self) -> ActorType {
        match self {
            AuditActor::Account { .. } => ActorType::Account,
            AuditActor::ApiKey { .. } => ActorType::ApiKey,
            AuditActor::System { .. } => ActorType::System,
        }
    }

    /// The account or API key id; `None` for the system.
    pub fn id(&self) -> Option<Uuid> {
        match self {
            AuditActor::Account { id, .. } | AuditActor::ApiKey { id } => Some(*id),
            AuditActor::System { .. } => None,
        }
    }

    pub fn session_id(&self) -> Option<Uuid> {
        match self {
            AuditActor::Account { session_id, .. } => *session_id,
            _ => None,
        }
    }

    /// The job name of a system actor.
    pub fn job(&self) -> Option<&str> {
        match self {
            AuditActor::System { job } => Some(job),
            _ => None,
        }
    }
}

/// The kind of actor, as stored in `audit_events.actor_type`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    #[sea_orm(string_value = "account")]
    Account,
    #[sea_orm(string_value = "api_key")]
    ApiKey,
    #[sea_orm(string_value = "system")]
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::Account => "account",
            ActorType::ApiKey => "api_key",
            ActorType::System => "system",
        }
    }
}

/// What the actor did. Seed 002's `audit_action_type` plus what the trust
/// core needs to record (failed sign-ins, emergency access, refusals).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    #[sea_orm(string_value = "create")]
    Create,
    #[sea_orm(string_value = "read")]
    Read,
    #[sea_orm(string_value = "update")]
    Update,
    #[sea_orm(string_value = "delete")]
    Delete,
    #[sea_orm(string_value = "login")]
    Login,
    #[sea_orm(string_value = "logout")]
    Logout,
    #[sea_orm(string_value = "login_failed")]
    LoginFailed,
    #[sea_orm(string_value = "document_access")]
    DocumentAccess,
    #[sea_orm(string_value = "patient_access")]
    PatientAccess,
    #[sea_orm(string_value = "export")]
    Export,
    #[sea_orm(string_value = "emergency_access")]
    EmergencyAccess,
    #[sea_orm(string_value = "permission_denied")]
    PermissionDenied,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Read => "read",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Login => "login",
            AuditAction::Logout => "logout",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::DocumentAccess => "document_access",
            AuditAction::PatientAccess => "patient_access",
            AuditAction::Export => "export",
            AuditAction::EmergencyAccess => "emergency_access",
            AuditAction::PermissionDenied => "permission_denied",
        }
    }
}

/// A rule of compliance an event falls under, so reviewers can pull every
/// PHI access or every emergency access without reading every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceFlag {
    /// The event touched protected health information.
    Phi,
    /// Access under an emergency ("break the glass") grant.
    EmergencyAccess,
    /// Data left carebase (an export or download).
    Export,
}

impl ComplianceFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceFlag::Phi => "phi",
            ComplianceFlag::EmergencyAccess => "emergency_access",
            ComplianceFlag::Export => "export",
        }
    }
}

/// Where a request came from, as far as the server can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The value that replaces a PHI field in [`Redacted`] changes.
pub const REDACTED: &str = "[redacted]";

/// Before/after values that have been through [`redact`]. The audit log
/// takes changes only in this form, so PHI cannot reach it in clear text
/// by a handler forgetting to redact.
#[derive(Clone, Debug, PartialEq)]
pub struct Redacted(Value);

impl Redacted {
    pub fn into_inner(self) -> Value {
        self.0
    }

    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

/// Replaces the value of every key named in `phi_fields`, at any depth (so
/// `{"before": {...}, "after": {...}}` is covered), with `"[redacted]"`.
/// The key stays, so the log still says *that* the field changed.
pub fn redact(changes: Value, phi_fields: &[&str]) -> Redacted {
    Redacted(redact_value(changes, phi_fields))
}

fn redact_value(value: Value, phi_fields: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if phi_fields.contains(&key.as_str()) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact_value(value, phi_fields)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| redact_value(item, phi_fields))
                .collect(),
        ),
        other => other,
    }
}

/// One event to be appended to the audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    /// When it happened: when the event was built, which for a read served
    /// through the writer is a little before its commit.
    pub occurred_at: Timestamp,
    pub actor: AuditActor,
    pub action: AuditAction,
    /// The kind of resource: a table or API resource name (`patient`,
    /// `communication`, `session`).
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub facility_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    /// The CRM lead the event concerns (the lead itself, or its task,
    /// interest, communication, …), so the lead's timeline is one index range.
    pub lead_id: Option<Uuid>,
    pub changes: Option<Redacted>,
    pub context: RequestContext,
    pub compliance_flags: Vec<ComplianceFlag>,
}

impl AuditEvent {
    /// An event happening now; add what else is known with the methods below.
    pub fn new(actor: AuditActor, action: AuditAction, resource_type: impl Into<String>) -> Self {
        Self {
            occurred_at: Timestamp::now(),
            actor,
            action,
            resource_type: resource_type.into(),
            resource_id: None,
            facility_id: None,
            patient_id: None,
            lead_id: None,
            changes: None,
            context: RequestContext::default(),
            compliance_flags: Vec::new(),
        }
    }

    pub fn resource(mut self, id: Uuid) -> Self {
        self.resource_id = Some(id);
        self
    }

    pub fn facility(mut self, id: Uuid) -> Self {
        self.facility_id = Some(id);
        self
    }

    pub fn patient(mut self, id: Uuid) -> Self {
        self.patient_id = Some(id);
        self
    }

    pub fn lead(mut self, id: Uuid) -> Self {
        self.lead_id = Some(id);
        self
    }

    /// The patient and the lead the event concerns, when there are any, so
    /// that their timelines show it.
    pub fn concerning(mut self, patient_id: Option<Uuid>, lead_id: Option<Uuid>) -> Self {
        self.patient_id = patient_id.or(self.patient_id);
        self.lead_id = lead_id.or(self.lead_id);
        self
    }

    pub fn changes(mut self, changes: Redacted) -> Self {
        self.changes = Some(changes);
        self
    }

    pub fn context(mut self, context: RequestContext) -> Self {
        self.context = context;
        self
    }

    /// Adds a compliance flag once, however often it is asked for.
    pub fn flag(mut self, flag: ComplianceFlag) -> Self {
        if !self.compliance_flags.contains(&flag) {
            self.compliance_flags.push(flag);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_replaces_phi_values_at_any_depth_and_keeps_the_keys() {
        let changes = json!({
            "before": {"name": "Jane Roe", "status": "active", "dob": "1970-01-01"},
            "after": {"name": "Jane Doe", "status": "active"},
            "contacts": [{"phone": "+1 555 0100", "kind": "mobile"}],
            "mrn": 12345
        });
        let redacted = redact(changes, &["name", "dob", "phone", "mrn"]).into_inner();
        assert_eq!(
            redacted,
            json!({
                "before": {"name": "[redacted]", "status": "active", "dob": "[redacted]"},
                "after": {"name": "[redacted]", "status": "active"},
                "contacts": [{"phone": "[redacted]", "kind": "mobile"}],
                "mrn": "[redacted]"
            })
        );
        let text = redacted.to_string();
        for secret in ["Jane", "1970", "555", "12345"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn redaction_without_phi_fields_changes_nothing() {
        let changes = json!({"status": ["open", "closed"]});
        assert_eq!(redact(changes.clone(), &[]).into_inner(), changes);
    }

    #[test]
    fn stored_serialized_and_shown_names_agree() {
        use sea_orm::{ActiveEnum, Iterable};
        for action in AuditAction::iter() {
            assert_eq!(action.to_value(), action.as_str());
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
        for actor in ActorType::iter() {
            assert_eq!(actor.to_value(), actor.as_str());
            assert_eq!(serde_json::to_value(actor).unwrap(), actor.as_str());
        }
    }

    #[test]
    fn actors_split_into_their_columns() {
        let id = Uuid::now_v7();
        let session = Uuid::now_v7();
        let account = AuditActor::Account {
            id,
            session_id: Some(session),
        };
        assert_eq!(account.actor_type(), ActorType::Account);
        assert_eq!(
            (account.id(), account.session_id(), account.job()),
            (Some(id), Some(session), None)
        );
        let system = AuditActor::System {
            job: "reminders".to_owned(),
        };
        assert_eq!(system.actor_type().as_str(), "system");
        assert_eq!(
            (system.id(), system.session_id(), system.job()),
            (None, None, Some("reminders"))
        );
    }

    #[test]
    fn flags_are_kept_once_and_named_in_snake_case() {
        let event = AuditEvent::new(
            AuditActor::ApiKey { id: Uuid::now_v7() },
            AuditAction::EmergencyAccess,
            "patient",
        )
        .flag(ComplianceFlag::Phi)
        .flag(ComplianceFlag::EmergencyAccess)
        .flag(ComplianceFlag::Phi);
        assert_eq!(
            serde_json::to_string(&event.compliance_flags).unwrap(),
            r#"["phi","emergency_access"]"#
        );
        for flag in &event.compliance_flags {
            assert_eq!(
                serde_json::to_value(flag).unwrap(),
                Value::String(flag.as_str().to_owned())
            );
        }
        assert_eq!(AuditAction::LoginFailed.as_str(), "login_failed");
    }
}
