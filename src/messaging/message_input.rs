//! What a sender gives: a new message or a new body for one, and the
//! rules each must follow.

use serde::Deserialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use uuid::Uuid;

use super::messages::{MAX_BODY, MessageType};
use crate::error::ApiError;
use crate::validation::Checks;

/// A message to post.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub body: Option<String>,
    /// `text` when absent. `ai_response` and `query_result` are posted by
    /// the AI assistant (`message:assist`), with no sender.
    #[schema(schema_with = postable_message_type)]
    pub message_type: Option<MessageType>,
    /// A reply: the message answered, in the same conversation. The reply
    /// joins its thread (or starts one at the parent).
    pub parent_message_id: Option<Uuid>,
    #[serde(default)]
    pub is_sensitive: bool,
    pub metadata: Option<serde_json::Value>,
    /// For the assistant's messages: the model that wrote it.
    pub ai_model: Option<String>,
    /// For the assistant's messages: 0.00 to 1.00.
    pub ai_confidence: Option<f64>,
    /// Files uploaded beforehand (`…/attachments/uploads`) by the sender
    /// into this conversation, to put on this message.
    #[serde(default)]
    pub attachment_ids: Vec<Uuid>,
}

/// The types a sender may post, or null: not the ones carebase writes
/// itself, which `validate` refuses.
fn postable_message_type() -> Object {
    let mut values: Vec<serde_json::Value> = MessageType::ALL
        .into_iter()
        .filter(|kind| !kind.is_system())
        .map(|kind| kind.as_str().into())
        .collect();
    values.push(serde_json::Value::Null);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "`text` when absent. `ai_response` and `query_result` are posted by the AI \
             assistant (`message:assist`), with no sender.",
        ))
        .enum_values(Some(values))
        .build()
}

impl NewMessage {
    /// `text`; with files, `file` (no body) or `mixed` (a body too).
    pub fn kind(&self) -> MessageType {
        match (
            self.message_type,
            self.attachment_ids.is_empty(),
            &self.body,
        ) {
            (Some(kind), _, _) => kind,
            (None, true, _) => MessageType::Text,
            (None, false, None) => MessageType::File,
            (None, false, Some(_)) => MessageType::Mixed,
        }
    }

    pub fn validate(&self) -> Result<(), ApiError> {
        let mut checks = Checks::default();
        let kind = self.kind();
        if kind.is_system() {
            checks.fail("message_type", "is written by carebase itself");
        }
        let with_files = matches!(
            kind,
            MessageType::File | MessageType::Mixed | MessageType::DocumentUpload
        );
        if with_files && self.attachment_ids.is_empty() {
            checks.fail(
                "attachment_ids",
                "a message with files names them (upload them first, or post to …/attachments)",
            );
        }
        if !with_files && !self.attachment_ids.is_empty() {
            checks.fail(
                "message_type",
                "a message with files is `file`, `mixed` or `document_upload`",
            );
        }
        if self.attachment_ids.len() > super::attachments::MAX_PER_MESSAGE {
            checks.fail(
                "attachment_ids",
                &format!(
                    "at most {} files on a message",
                    super::attachments::MAX_PER_MESSAGE
                ),
            );
        }
        match &self.body {
            Some(body) => checks.text("body", body, MAX_BODY),
            None if with_files => {}
            None => checks.fail("body", "is required"),
        }
        if kind.is_assistant() {
            checks.optional_text("ai_model", self.ai_model.as_deref(), 100);
            if let Some(confidence) = self.ai_confidence
                && !(0.0..=1.0).contains(&confidence)
            {
                checks.fail("ai_confidence", "must be between 0.00 and 1.00");
            }
        } else {
            for (field, given) in [
                ("ai_model", self.ai_model.is_some()),
                ("ai_confidence", self.ai_confidence.is_some()),
            ] {
                if given {
                    checks.fail(field, "only the assistant's messages carry it");
                }
            }
        }
        checks.done()
    }
}

/// A new body for a message.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageEdit {
    pub body: String,
}

impl MessageEdit {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut checks = Checks::default();
        checks.text("body", &self.body, MAX_BODY);
        checks.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(kind: MessageType, body: Option<&str>) -> NewMessage {
        NewMessage {
            body: body.map(str::to_owned),
            message_type: Some(kind),
            parent_message_id: None,
            is_sensitive: false,
            metadata: None,
            ai_model: None,
            ai_confidence: None,
            attachment_ids: Vec::new(),
        }
    }

    #[test]
    fn people_write_text_and_the_assistant_writes_answers() {
        assert!(new(MessageType::Text, Some("hello")).validate().is_ok());
        assert!(new(MessageType::System, Some("x")).validate().is_err());
        assert!(new(MessageType::Text, None).validate().is_err());
        assert!(new(MessageType::Text, Some("")).validate().is_err());
        let mut answer = new(MessageType::AiResponse, Some("likely viral"));
        answer.ai_confidence = Some(0.87);
        answer.ai_model = Some("clinic-llm-1".to_owned());
        assert!(answer.validate().is_ok());
        answer.ai_confidence = Some(1.5);
        assert!(answer.validate().is_err());
        let mut person = new(MessageType::Text, Some("hi"));
        person.ai_model = Some("gpt".to_owned());
        assert!(person.validate().is_err());
    }
}
