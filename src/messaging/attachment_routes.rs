//! Attachments: a file posted with its message as `multipart/form-data`
//! (`…/attachments`), or a pre-authorised upload (`…/attachments/uploads`
//! gives a single-use URL, `PUT /uploads/{token}` takes the bytes, and a
//! message names the file in `attachment_ids`), and the download, for the
//! conversation's participants and administrators, each one audited.
//!
//! The bytes are checked against the upload policy (size, accepted types,
//! content matching its type), sealed with the facility's key and written
//! to the store before the transaction; a transaction that fails deletes
//! them again.

use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::attachments::{self, Attachment, NewAttachment, UPLOAD_WINDOW_SECS};
use super::conversations;
use super::message_routes::{check_open, post};
use super::messages::{self, Message, NewMessage};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::db::new_id;
use crate::error::{ApiError, FieldError};
use crate::http::api_docs::Problems;
use crate::http::json::is_over_limit;
use crate::http::{ApiJson, ApiPath};
use crate::identity::secrets;
use crate::policy::{Actor, Permission};
use crate::storage::{FileStoreError, UploadRefusal};
use crate::time::Timestamp;
use crate::validation::Checks;

const RESOURCE: &str = "message_attachment";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_with_file))
        .routes(routes!(authorise_upload))
        .routes(routes!(upload_file))
        .routes(routes!(download_attachment))
}

fn refused(refusal: UploadRefusal) -> ApiError {
    let error = FieldError::new(refusal.field, refusal.reason);
    if refusal.over_limit {
        ApiError::FileTooLarge(error)
    } else {
        ApiError::Validation(vec![error])
    }
}

fn storage_failed(error: FileStoreError) -> ApiError {
    tracing::error!(%error, "attachment storage failed");
    ApiError::Unavailable("the file store did not answer; try again".to_owned())
}

/// Where the store keeps files, as `message_attachments.bucket` says it.
fn bucket(state: &AppState) -> String {
    state
        .config
        .files_s3_bucket
        .clone()
        .unwrap_or_else(|| "local".to_owned())
}

/// The parts of a message posted with its file.
struct Posted {
    file: Option<(String, Option<String>, Bytes)>,
    body: Option<String>,
    is_sensitive: bool,
}

async fn read_form(mut form: Multipart) -> Result<Posted, ApiError> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE || is_over_limit(&e) {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedRequest(format!("the multipart body could not be read: {e}"))
        }
    };
    let mut posted = Posted {
        file: None,
        body: None,
        is_sensitive: false,
    };
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        match field.name().unwrap_or_default() {
            "file" if posted.file.is_some() => {
                return Err(ApiError::invalid("file", "one file per message"));
            }
            "file" => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let declared = field.content_type().map(str::to_owned);
                posted.file = Some((name, declared, field.bytes().await.map_err(malformed)?));
            }
            "body" => posted.body = Some(field.text().await.map_err(malformed)?),
            "is_sensitive" => {
                posted.is_sensitive = match field.text().await.map_err(malformed)?.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::invalid("is_sensitive", "must be true or false")),
                }
            }
            other => {
                return Err(ApiError::invalid(
                    other.to_owned(),
                    "is not a field of this form (file, body, is_sensitive)",
                ));
            }
        }
    }
    Ok(posted)
}

// Documents the form `read_form` reads; the handler reads the parts itself.
/// A message with its file.
#[derive(ToSchema)]
#[allow(dead_code)]
struct MessageWithFile {
    /// The file; its name and type come from the part's headers.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// A caption: the message is then `mixed`, otherwise `file`.
    body: Option<String>,
    /// `false` when absent.
    is_sensitive: Option<bool>,
}

/// The bytes of a file, as they are.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct FileBytes(Vec<u8>);

/// Posts a message with one file, as `multipart/form-data` with the fields
/// `file` (its name and type from the part's headers), and optionally
/// `body` (a caption: the message is then `mixed`, otherwise `file`) and
/// `is_sensitive`.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/attachments",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body(content = MessageWithFile, content_type = "multipart/form-data"),
    responses((status = 201, description = "Posted, with its file", body = Message), Problems),
    security(("bearer" = []))
)]
async fn post_with_file(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, ApiJson<Message>), ApiError> {
    let scope = actor.facility(facility_id, Permission::MESSAGE_SEND)?;
    let form = form.map_err(|_| {
        ApiError::UnsupportedMediaType(
            "send the file as `multipart/form-data` with a boundary".to_owned(),
        )
    })?;
    // Refused before a byte is stored when the caller may not post here.
    let access = conversations::reach(state.db.conn(), &actor, &scope, conversation_id).await?;
    access.require_speaker()?;
    check_open(state.db.conn(), &access).await?;
    let posted = read_form(form).await?;
    let Some((name, declared, bytes)) = posted.file else {
        return Err(ApiError::invalid("file", "is required"));
    };
    let accepted = state
        .config
        .upload_policy()
        .check(&name, declared.as_deref(), &bytes)
        .map_err(refused)?;
    let mut checks = Checks::default();
    checks.optional_text("body", posted.body.as_deref(), messages::MAX_BODY);
    checks.done()?;
    let key = state.keyring.facility(facility_id).await?;
    let id = new_id();
    let stored = super::state_of(&state)
        .files
        .put(attachments::OBJECTS, &key, facility_id, id, &bytes)
        .await
        .map_err(storage_failed)?;
    let new = NewMessage {
        body: posted.body,
        message_type: None,
        parent_message_id: None,
        is_sensitive: posted.is_sensitive,
        metadata: None,
        ai_model: None,
        ai_confidence: None,
        attachment_ids: vec![id],
    };
    // The file's row goes in the message's transaction, then on the message.
    let file = NewAttachment {
        id,
        conversation_id,
        message_id: None,
        bucket: &bucket(&state),
        object_path: stored.object_path.clone(),
        file: &accepted,
        stored: Some(&stored),
        upload: None,
        now: Timestamp::now(),
    };
    match post(&state, &actor, &scope, conversation_id, &new, Some(file)).await {
        Ok(shown) => Ok((StatusCode::CREATED, ApiJson(shown))),
        Err(error) => {
            if let Err(cleanup) = super::state_of(&state)
                .files
                .delete(&stored.object_path)
                .await
            {
                tracing::warn!(error = %cleanup, "could not delete the file of a message not written");
            }
            Err(error)
        }
    }
}

/// A file to upload by a pre-authorised URL.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub file_name: String,
    pub content_type: String,
    /// Its exact size in bytes.
    pub size: u64,
}

/// Where to send the bytes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadGrant {
    /// Name it in a message's `attachment_ids` once uploaded.
    pub attachment_id: Uuid,
    /// `PUT` the bytes here, with the declared `Content-Type`; no bearer
    /// token needed, once, before `expires_at`.
    pub upload_url: String,
    pub expires_at: Timestamp,
}

/// Authorises one upload into the conversation: the name, type and size
/// are checked now, the bytes when they arrive.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/attachments/uploads",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
    ),
    request_body = UploadRequest,
    responses((status = 201, description = "Authorised", body = UploadGrant), Problems),
    security(("bearer" = []))
)]
async fn authorise_upload(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<UploadRequest>,
) -> Result<(StatusCode, ApiJson<UploadGrant>), ApiError> {
    let scope = actor.facility(facility_id, Permission::MESSAGE_SEND)?;
    let accepted = state
        .config
        .upload_policy()
        .check_declared(&request.file_name, &request.content_type, request.size)
        .map_err(refused)?;
    let key = state.keyring.facility(facility_id).await?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let access = conversations::reach(&*txn, &actor, &scope, conversation_id).await?;
    access.require_speaker()?;
    check_open(&*txn, &access).await?;
    let (token, hash) = secrets::new_secret();
    let expires_at = now.plus_secs(UPLOAD_WINDOW_SECS);
    let id = new_id();
    let upload = NewAttachment {
        id,
        conversation_id,
        message_id: None,
        bucket: &bucket(&state),
        object_path: String::new(),
        file: &accepted,
        stored: None,
        upload: Some((crate::audit::chain::hex(&hash), expires_at)),
        now,
    };
    attachments::insert(&*txn, &scope, &key, upload).await?;
    let event = actor
        .event(AuditAction::Create, RESOURCE)
        .resource(id)
        .facility(facility_id)
        .concerning(access.conversation.patient_id, None)
        .changes(redact(
            json!({ "status": "pending", "mime_type": accepted.mime_type, "size": accepted.size }),
            &[],
        ));
    audit::commit(txn, vec![event]).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(UploadGrant {
            attachment_id: id,
            upload_url: format!("/uploads/{token}"),
            expires_at,
        }),
    ))
}

/// What an upload stored.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadedFile {
    pub attachment_id: Uuid,
    pub size: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
}

/// Takes the bytes of a pre-authorised upload. The token in the path is
/// the authorisation: single use, for a quarter of an hour, for exactly
/// the declared type and size.
#[utoipa::path(
    put,
    path = "/uploads/{token}",
    tag = "messaging",
    params(("token" = String, Path, description = "The upload's token, from its `upload_url`")),
    request_body(content = FileBytes, content_type = "*/*",
        description = "The file's bytes, sent with the `Content-Type` the upload was authorised for"),
    responses((status = 200, description = "Stored", body = UploadedFile), Problems)
)]
async fn upload_file(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<ApiJson<UploadedFile>, ApiError> {
    let now = Timestamp::now();
    let hash = crate::audit::chain::hex(&secrets::hash(&token));
    let pending = attachments::pending_upload(state.db.conn(), &hash, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(pending.facility_id).await?;
    let file_name = attachments::Attachment::open(&key, &pending)?
        .file_name
        .unwrap_or_default();
    let policy = state.config.upload_policy();
    // More bytes than the limit is a 413 before it is a size mismatch.
    policy.check_size(&bytes).map_err(refused)?;
    let declared = sent_as_authorised(&pending, &headers, bytes.len())?;
    let accepted = policy
        .check(&file_name, Some(&declared), &bytes)
        .map_err(refused)?;
    let stored = super::state_of(&state)
        .files
        .put(
            attachments::OBJECTS,
            &key,
            pending.facility_id,
            pending.id,
            &bytes,
        )
        .await
        .map_err(storage_failed)?;
    let txn = state.db.begin().await?;
    if !attachments::mark_stored(&*txn, &key, pending.id, &stored).await? {
        return Err(ApiError::NotFound);
    }
    let event = AuditEvent::new(
        AuditActor::Account {
            id: pending.uploaded_by,
            session_id: None,
        },
        AuditAction::Update,
        RESOURCE,
    )
    .resource(pending.id)
    .facility(pending.facility_id)
    .changes(redact(
        json!({ "status": { "from": "pending", "to": "stored" }, "size": accepted.size }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(UploadedFile {
        attachment_id: pending.id,
        size: stored.size,
        sha256: stored.sha256,
    }))
}

/// Checks that an upload's bytes are what was authorised: its declared
/// type (answered) and its declared size.
fn sent_as_authorised(
    pending: &attachments::Model,
    headers: &HeaderMap,
    size: usize,
) -> Result<String, ApiError> {
    let declared = pending.mime_type.clone().unwrap_or_default();
    let sent_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !sent_type.to_ascii_lowercase().starts_with(&declared) {
        return Err(ApiError::invalid(
            "content_type",
            format!("the upload was authorised for {declared}"),
        ));
    }
    if i64::try_from(size).ok() != pending.file_size {
        return Err(ApiError::invalid(
            "file",
            format!(
                "is {size} bytes; the upload was authorised for {}",
                pending.file_size.unwrap_or_default()
            ),
        ));
    }
    Ok(declared)
}

/// Downloads an attachment of a message that is still there: the
/// conversation's participants and the facility's administrators only,
/// every download audited.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/conversations/{conversation_id}/attachments/{attachment_id}",
    tag = "messaging",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("attachment_id" = Uuid, Path, description = "The attachment"),
    ),
    responses(
        (status = 200, description = "The file, with the type it was stored as",
            body = FileBytes, content_type = "*/*",
            headers(("content-disposition" = String, description = "`attachment`, with the file's name"))),
        Problems
    ),
    security(("bearer" = []))
)]
async fn download_attachment(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, conversation_id, attachment_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    let scope = actor.facility(facility_id, Permission::CONVERSATION_READ)?;
    let db = state.db.conn();
    let access = conversations::reach(db, &actor, &scope, conversation_id).await?;
    let row = downloadable(db, conversation_id, attachment_id).await?;
    let key = state.keyring.facility(facility_id).await?;
    let digest = row.content_digest.clone().ok_or_else(|| {
        tracing::error!(attachment = %row.id, "a stored attachment has no digest");
        ApiError::Unavailable(
            "the file cannot be read back; the operators have been told".to_owned(),
        )
    })?;
    let bytes = super::state_of(&state)
        .files
        .get(
            attachments::OBJECTS,
            &key,
            row.id,
            &row.object_path,
            &digest,
        )
        .await
        .map_err(|error| match error {
            FileStoreError::Missing(_) | FileStoreError::Corrupt(_) => {
                tracing::error!(%error, attachment = %row.id, "an attachment cannot be read back");
                ApiError::Unavailable(
                    "the file cannot be read back; the operators have been told".to_owned(),
                )
            }
            other => storage_failed(other),
        })?;
    let shown = Attachment::open(&key, &row)?;
    state
        .audit
        .record(vec![
            actor
                .event(AuditAction::DocumentAccess, RESOURCE)
                .resource(row.id)
                .facility(facility_id)
                .flag(ComplianceFlag::Phi)
                .concerning(access.conversation.patient_id, None)
                .changes(redact(
                    json!({ "size": bytes.len(), "digest": crate::audit::chain::hex(digest.as_bytes()) }),
                    &[],
                )),
        ])
        .await?;
    Ok(file_response(bytes, &shown))
}

/// An attachment on a message that is still there.
async fn downloadable(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    attachment_id: Uuid,
) -> Result<attachments::Model, ApiError> {
    let row = attachments::find(db, conversation_id, attachment_id)
        .await?
        .filter(attachments::Model::is_stored)
        .ok_or(ApiError::NotFound)?;
    let Some(message_id) = row.message_id else {
        return Err(ApiError::NotFound);
    };
    let message = messages::find(db, conversation_id, message_id).await?;
    if message.is_none_or(|m| m.deleted_at.is_some()) {
        return Err(ApiError::NotFound);
    }
    Ok(row)
}

/// The file as a download the browser will not render inline or sniff.
fn file_response(bytes: Vec<u8>, shown: &Attachment) -> Response {
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    let content_type = shown
        .mime_type
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    let name: String = shown
        .file_name
        .as_deref()
        .unwrap_or("attachment")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
