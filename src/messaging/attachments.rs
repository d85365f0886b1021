//! Message attachments (seed 004's `message_attachments`): a file sealed in
//! the kernel's object store (`storage`), its sealed name, type, size and
//! checksum, and the message it belongs to. A file arrives with its message
//! (multipart), or first by a pre-authorised upload (`pending` until its
//! bytes arrive, then `stored`) and is attached to a message afterwards.

use std::collections::HashMap;

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{BlindIndex, CryptoError, DataKey, RowSealer, Sealed};
use crate::policy::FacilityScope;
use crate::storage::{AcceptedFile, ObjectKind, StoredFile};
use crate::time::Timestamp;
use crate::transition::string_enum;

pub const TABLE: &str = "message_attachments";
/// Where attachments' files go in the object store, and what their seal is
/// bound to: `facilities/<facility id>/attachments/<attachment id>`, sealed
/// for the row's `content`. Both are fixed by the files already stored, which
/// would not open, or not be found, under any other.
pub const OBJECTS: ObjectKind = ObjectKind {
    table: TABLE,
    column: "content",
    folder: "attachments",
};
/// Most files on one message.
pub const MAX_PER_MESSAGE: usize = 10;
/// How long a pre-authorised upload stays open.
pub const UPLOAD_WINDOW_SECS: i64 = 15 * 60;

string_enum! {
    /// Whether an attachment's bytes have arrived.
    AttachmentStatus {
        Pending => "pending",
        Stored => "stored",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub conversation_id: Uuid,
    pub message_id: Option<Uuid>,
    /// `local`, or the S3 bucket's name.
    pub bucket: String,
    pub object_path: String,
    pub file_name: Option<Sealed>,
    pub mime_type: Option<String>,
    pub file_size: Option<i64>,
    /// Written before checksums were sealed; empty once they are.
    pub sha256: Option<String>,
    pub status: String,
    /// The pre-authorised upload's token, hashed, until the bytes arrive.
    pub upload_token_hash: Option<String>,
    pub upload_expires_at: Option<Timestamp>,
    pub uploaded_by: Uuid,
    pub created_at: Timestamp,
    /// The file's SHA-256 (hex), sealed: in clear it would confirm that a
    /// file someone holds is the one stored.
    pub sealed_sha256: Option<Sealed>,
    /// The file's keyed digest (`storage::file_digest`), checked on reads.
    pub content_digest: Option<BlindIndex>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn is_stored(&self) -> bool {
        self.status == AttachmentStatus::Stored.as_str()
    }
}

/// An attachment as the API shows it on its message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: Uuid,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<i64>,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: Option<String>,
    pub created_at: Timestamp,
}

impl Attachment {
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, CryptoError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        let sha256 = match &row.sealed_sha256 {
            Some(sealed) => Some(seal.open_text("sha256", sealed)?),
            None => row.sha256.clone(),
        };
        Ok(Self {
            id: row.id,
            file_name: seal.open_optional_text("file_name", &row.file_name)?,
            mime_type: row.mime_type.clone(),
            file_size: row.file_size,
            sha256,
            created_at: row.created_at,
        })
    }
}

/// What a new attachment row holds besides its facility and uploader,
/// which are the scope's.
pub struct NewAttachment<'a> {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub message_id: Option<Uuid>,
    pub bucket: &'a str,
    pub object_path: String,
    pub file: &'a AcceptedFile,
    pub stored: Option<&'a StoredFile>,
    /// For a pre-authorised upload: its token's hash and deadline.
    pub upload: Option<(String, Timestamp)>,
    pub now: Timestamp,
}

fn seal_new(key: &DataKey, scope: &FacilityScope, new: NewAttachment<'_>) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, new.id);
    let status = if new.stored.is_some() {
        AttachmentStatus::Stored
    } else {
        AttachmentStatus::Pending
    };
    let (token, expires) = new.upload.unzip();
    ActiveModel {
        id: ActiveValue::Set(new.id),
        facility_id: ActiveValue::Set(scope.facility_id()),
        conversation_id: ActiveValue::Set(new.conversation_id),
        message_id: ActiveValue::Set(new.message_id),
        bucket: ActiveValue::Set(new.bucket.to_owned()),
        object_path: ActiveValue::Set(new.object_path),
        file_name: ActiveValue::Set(Some(seal.text("file_name", &new.file.file_name))),
        mime_type: ActiveValue::Set(Some(new.file.mime_type.clone())),
        file_size: ActiveValue::Set(i64::try_from(new.file.size).ok()),
        sha256: ActiveValue::Set(None),
        sealed_sha256: ActiveValue::Set(new.stored.map(|s| seal.text("sha256", &s.sha256))),
        content_digest: ActiveValue::Set(new.stored.map(|s| s.digest.clone())),
        status: ActiveValue::Set(status.as_str().to_owned()),
        upload_token_hash: ActiveValue::Set(token),
        upload_expires_at: ActiveValue::Set(expires),
        uploaded_by: ActiveValue::Set(scope.account_id()),
        created_at: ActiveValue::Set(new.now),
    }
}

/// Writes a new attachment of the scope's facility, uploaded by the
/// scope's account.
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    new: NewAttachment<'_>,
) -> Result<Model, DbErr> {
    seal_new(key, scope, new).insert(txn).await
}

/// An attachment of the conversation.
pub async fn find(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    attachment_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(attachment_id)
        .filter(Column::ConversationId.eq(conversation_id))
        .one(db)
        .await
}

/// Marks a pending attachment stored where `stored` says, and spends its
/// upload token. False when it is no longer pending: another upload got
/// there first.
pub async fn mark_stored(
    db: &impl ConnectionTrait,
    key: &DataKey,
    attachment_id: Uuid,
    stored: &StoredFile,
) -> Result<bool, DbErr> {
    let sealed_sha256 = RowSealer::new(key, TABLE, attachment_id).text("sha256", &stored.sha256);
    let updated = Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(AttachmentStatus::Stored.as_str()),
        )
        .col_expr(Column::ObjectPath, Expr::value(stored.object_path.clone()))
        .col_expr(Column::SealedSha256, Expr::value(sealed_sha256))
        .col_expr(Column::ContentDigest, Expr::value(stored.digest.clone()))
        .col_expr(Column::UploadTokenHash, Expr::value(None::<String>))
        .filter(Column::Id.eq(attachment_id))
        .filter(Column::Status.eq(AttachmentStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Puts the files `ids` (checked with [`unattached`]) on the message.
pub async fn attach(
    db: &impl ConnectionTrait,
    message_id: Uuid,
    ids: &[Uuid],
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::MessageId, Expr::value(message_id))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// The attachments of `message_ids`, opened, by message.
pub async fn of_messages(
    db: &impl ConnectionTrait,
    key: &DataKey,
    message_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Attachment>>, crate::error::ApiError> {
    let mut by_message: HashMap<Uuid, Vec<Attachment>> = HashMap::new();
    if message_ids.is_empty() {
        return Ok(by_message);
    }
    let rows = Entity::find()
        .filter(Column::MessageId.is_in(message_ids.iter().copied()))
        .filter(Column::Status.eq(AttachmentStatus::Stored.as_str()))
        .all(db)
        .await?;
    for row in &rows {
        if let Some(message_id) = row.message_id {
            by_message
                .entry(message_id)
                .or_default()
                .push(Attachment::open(key, row)?);
        }
    }
    for files in by_message.values_mut() {
        files.sort_by_key(|a| a.id);
    }
    Ok(by_message)
}

/// The pending upload a token opens, while it is open.
pub async fn pending_upload(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::UploadTokenHash.eq(token_hash))
        .filter(Column::Status.eq(AttachmentStatus::Pending.as_str()))
        .filter(Column::UploadExpiresAt.gt(now))
        .one(db)
        .await
}

/// Uploaded files of `uploaded_by` in the conversation, stored and not yet
/// on a message, among `ids`.
pub async fn unattached(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    uploaded_by: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::ConversationId.eq(conversation_id))
        .filter(Column::UploadedBy.eq(uploaded_by))
        .filter(Column::Status.eq(AttachmentStatus::Stored.as_str()))
        .filter(Column::MessageId.is_null())
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::FieldRef;
    use crate::storage::FileStore;

    /// The layout and seal of the attachments stored before `storage` was
    /// shared: the path an operator finds them at, and the row they open for.
    #[tokio::test]
    async fn attachments_keep_their_object_path_and_seal() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::local(dir.path()).unwrap();
        let key = DataKey::new(Uuid::now_v7(), &[7u8; 32]);
        let (facility, id) = (Uuid::now_v7(), Uuid::now_v7());
        let stored = store.put(OBJECTS, &key, facility, id, b"x").await.unwrap();
        assert_eq!(
            stored.object_path,
            format!("facilities/{facility}/attachments/{id}")
        );
        let on_disk = std::fs::read(dir.path().join(&stored.object_path)).unwrap();
        let field = FieldRef::new("message_attachments", "content", id);
        let opened = key.open(field, &Sealed::from_bytes(on_disk)).unwrap();
        assert_eq!(opened.as_slice(), b"x");
    }
}
