//! `/facilities/{facility_id}/api-keys`: keys for integrations such as
//! n8n, each scoped to permissions its creator holds in the facility. A
//! key's token is shown once, when it is created; creating and revoking
//! are audited.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::identity::api_keys::{self, ApiKeyView, NewApiKey};
use crate::policy::{Actor, Permission, Principal};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

/// Lists the facility's API keys (never their secrets).
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/api-keys",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility"), PageQuery),
    responses((status = 200, description = "A page of API keys", body = Page<ApiKeyView>), Problems),
    security(("bearer" = []))
)]
async fn list_api_keys(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<ApiKeyView>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::API_KEY_MANAGE)?;
    let limit = page.limit()?;
    let keys = api_keys::page(state.db.conn(), &scope, page.after, limit).await?;
    let items = keys.iter().map(ApiKeyView::from).collect();
    Ok(ApiJson(Page::new(items, limit, |k: &ApiKeyView| k.id)))
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    pub name: String,
    /// What the key may do; each must be a permission the creator holds here.
    pub scopes: Vec<Permission>,
    pub expires_at: Option<Timestamp>,
}

/// An API key as created: the only time its token is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Send as `Authorization: Bearer <token>`. Shown once; store it now.
    pub token: String,
}

/// Creates an API key for the facility.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/api-keys",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = ApiKeyRequest,
    responses((status = 201, description = "Created; the token is shown once", body = CreatedApiKey), Problems),
    security(("bearer" = []))
)]
async fn create_api_key(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ApiKeyRequest>,
) -> Result<(StatusCode, ApiJson<CreatedApiKey>), ApiError> {
    let scope = actor.facility(facility_id, Permission::API_KEY_MANAGE)?;
    let facility_id = scope.facility_id();
    if matches!(actor.principal, Principal::ApiKey { .. }) {
        return Err(ApiError::Forbidden(
            "an API key cannot create API keys".to_owned(),
        ));
    }
    let name = request.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    if request.scopes.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "must name at least one permission",
        ));
    }
    if let Some(personal) = request.scopes.iter().find(|p| p.for_people_only()) {
        return Err(ApiError::invalid(
            "scopes",
            format!(
                "`{}` is for people: an API key cannot grant roles, invite, manage keys or break the glass",
                personal.as_str()
            ),
        ));
    }
    let held = actor.permissions_in(facility_id);
    if let Some(beyond) = request.scopes.iter().find(|p| !held.contains(p)) {
        return Err(ApiError::invalid(
            "scopes",
            format!(
                "`{}` is not a permission you hold in this facility",
                beyond.as_str()
            ),
        ));
    }
    if request.expires_at.is_some_and(|t| t <= Timestamp::now()) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let txn = state.db.begin().await?;
    let (key, token) = api_keys::create(
        &txn,
        NewApiKey {
            facility_id,
            name: name.to_owned(),
            scopes: request.scopes,
            expires_at: request.expires_at,
            created_by: actor.account_id(),
        },
    )
    .await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Create, "api_key")
                .resource(key.id)
                .facility(facility_id)
                .changes(redact(
                    json!({ "name": key.name, "scopes": key.scopes() }),
                    &[],
                )),
        ],
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedApiKey {
            key: ApiKeyView::from(&key),
            token,
        }),
    ))
}

/// Revokes an API key at once.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/api-keys/{key_id}",
    tag = "facilities",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("key_id" = Uuid, Path, description = "The API key"),
    ),
    responses((status = 204, description = "Revoked"), Problems),
    security(("bearer" = []))
)]
async fn revoke_api_key(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, key_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = actor.facility(facility_id, Permission::API_KEY_MANAGE)?;
    let facility_id = scope.facility_id();
    let txn = state.db.begin().await?;
    let key = api_keys::find(&txn, key_id)
        .await?
        .filter(|key| key.facility_id == facility_id)
        .ok_or(ApiError::NotFound)?;
    // A developer manages their own keys; someone else's key (an
    // administrator's, say) is for those who administer the facility.
    if key.created_by != actor.account_id()
        && !actor
            .permissions_in(facility_id)
            .contains(&Permission::FACILITY_MANAGE)
    {
        return Err(ApiError::Forbidden(
            "only the facility's administrators revoke a key someone else created".to_owned(),
        ));
    }
    if !api_keys::revoke(&txn, &scope, key_id).await? {
        return Err(ApiError::NotFound);
    }
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Delete, "api_key")
                .resource(key_id)
                .facility(facility_id),
        ],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
