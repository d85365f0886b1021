//! Facilities, memberships, API keys and emergency access over HTTP.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::emergency::{self, EmergencyRequest, Grant};
use super::facilities::{self, Facility, FacilityCreated, FacilityFields};
use super::memberships::{self, MembershipView, NewMembership};
use super::roles::RoleScope;
use super::{Actor, Permission, Principal, Role};
use crate::app::AppState;
use crate::audit::{self, AuditAction, ComplianceFlag, redact};
use crate::context;
use crate::care::store as patients;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::identity::accounts;
use crate::identity::api_keys::{self, ApiKeyView, NewApiKey};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_facility, list_facilities))
        .routes(routes!(get_facility, update_facility))
        .routes(routes!(list_memberships, grant_membership))
        .routes(routes!(revoke_membership))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(request_emergency_access))
        .routes(routes!(list_emergency_access))
        .routes(routes!(review_emergency_access))
}

/// Creates a facility (installation administrators).
#[utoipa::path(
    post,
    path = "/facilities",
    tag = "facilities",
    request_body = FacilityFields,
    responses((status = 201, description = "Created", body = Facility), Problems),
    security(("bearer" = []))
)]
async fn create_facility(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(fields): ApiJson<FacilityFields>,
) -> Result<(StatusCode, ApiJson<Facility>), ApiError> {
    actor.require_installation(Permission::FACILITY_CREATE)?;
    fields.validate(true)?;
    let txn = state.db.begin().await?;
    let facility = facilities::create(&txn, fields).await?;
    let after_commit = context::publish(
        &state,
        &txn,
        Timestamp::now(),
        &FacilityCreated {
            facility_id: facility.id,
        },
    )
    .await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Create, "facility")
                .resource(facility.id)
                .facility(facility.id)
                .changes(redact(json!({ "name": facility.name }), &[])),
        ],
    )
    .await?;
    after_commit.run().await;
    Ok((StatusCode::CREATED, ApiJson(facility.into())))
}

/// Lists the facilities the caller can see.
#[utoipa::path(
    get,
    path = "/facilities",
    tag = "facilities",
    params(PageQuery),
    responses((status = 200, description = "A page of facilities", body = Page<Facility>), Problems),
    security(("bearer" = []))
)]
async fn list_facilities(
    State(state): State<AppState>,
    actor: Actor,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<Facility>>, ApiError> {
    let limit = page.limit()?;
    let only = actor.facilities_with(Permission::FACILITY_READ);
    let rows = facilities::page(state.db.conn(), only, page.after, limit).await?;
    let items = rows.into_iter().map(Facility::from).collect();
    Ok(ApiJson(Page::new(items, limit, |f: &Facility| f.id)))
}

/// Reads a facility.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    responses((status = 200, description = "The facility", body = Facility), Problems),
    security(("bearer" = []))
)]
async fn get_facility(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
) -> Result<ApiJson<Facility>, ApiError> {
    actor.facility(facility_id, Permission::FACILITY_READ)?;
    let facility = facilities::find(state.db.conn(), facility_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiJson(facility.into()))
}

/// Changes a facility.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = FacilityFields,
    responses((status = 200, description = "The changed facility", body = Facility), Problems),
    security(("bearer" = []))
)]
async fn update_facility(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(fields): ApiJson<FacilityFields>,
) -> Result<ApiJson<Facility>, ApiError> {
    actor.facility(facility_id, Permission::FACILITY_MANAGE)?;
    fields.validate(false)?;
    let txn = state.db.begin().await?;
    let facility = facilities::find(&txn, facility_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let changed = serde_json::to_value(FieldNames::of(&fields)).unwrap_or_default();
    let facility = facilities::update(&txn, facility, fields).await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "facility")
                .resource(facility_id)
                .facility(facility_id)
                .changes(redact(changed, &[])),
        ],
    )
    .await?;
    Ok(ApiJson(facility.into()))
}

/// The names of the fields a change sets, for the audit log.
#[derive(Serialize)]
struct FieldNames {
    fields: Vec<&'static str>,
}

impl FieldNames {
    fn of(f: &FacilityFields) -> Self {
        let all = [
            ("name", f.name.is_some()),
            ("npi", f.npi.is_some()),
            ("address_line1", f.address_line1.is_some()),
            ("city", f.city.is_some()),
            ("state", f.state.is_some()),
            ("zip_code", f.zip_code.is_some()),
            ("facility_type", f.facility_type.is_some()),
            ("time_zone", f.time_zone.is_some()),
            ("settings", f.settings.is_some()),
            ("is_active", f.is_active.is_some()),
        ];
        Self {
            fields: all
                .into_iter()
                .filter(|(_, set)| *set)
                .map(|(n, _)| n)
                .collect(),
        }
    }
}

/// Lists the facility's memberships.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/memberships",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility"), PageQuery),
    responses((status = 200, description = "A page of memberships", body = Page<MembershipView>), Problems),
    security(("bearer" = []))
)]
async fn list_memberships(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<MembershipView>>, ApiError> {
    actor.facility(facility_id, Permission::MEMBERSHIP_READ)?;
    let limit = page.limit()?;
    let rows = memberships::of_facility(state.db.conn(), facility_id, page.after, limit).await?;
    let items = rows.iter().filter_map(|m| m.view()).collect();
    Ok(ApiJson(Page::new(items, limit, |m: &MembershipView| m.id)))
}

/// A role to grant an existing account in the facility.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipGrant {
    pub account_id: Uuid,
    pub role: Role,
    pub department: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
}

/// Checks a role and department that will be granted in a facility.
pub fn check_facility_role(role: Role, department: Option<&str>) -> Result<(), ApiError> {
    if role.scope() == RoleScope::Installation {
        return Err(ApiError::invalid(
            "role",
            "is an installation role; it cannot be granted in a facility",
        ));
    }
    if department.is_some_and(|d| d.trim().is_empty() || d.len() > 100) {
        return Err(ApiError::invalid(
            "department",
            "must be 1 to 100 characters",
        ));
    }
    Ok(())
}

/// Grants a role in the facility to an existing account.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/memberships",
    tag = "facilities",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = MembershipGrant,
    responses((status = 201, description = "Granted", body = MembershipView), Problems),
    security(("bearer" = []))
)]
async fn grant_membership(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(grant): ApiJson<MembershipGrant>,
) -> Result<(StatusCode, ApiJson<MembershipView>), ApiError> {
    actor.facility(facility_id, Permission::MEMBERSHIP_MANAGE)?;
    check_facility_role(grant.role, grant.department.as_deref())?;
    let txn = state.db.begin().await?;
    if accounts::find(&txn, grant.account_id).await?.is_none() {
        return Err(ApiError::invalid("account_id", "no such account"));
    }
    let membership = memberships::grant(
        &txn,
        NewMembership {
            account_id: grant.account_id,
            facility_id: Some(facility_id),
            role: grant.role,
            department: grant.department,
            is_primary: grant.is_primary,
            assigned_by: Some(actor.account_id()),
        },
    )
    .await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Create, "membership")
                .resource(membership.id)
                .facility(facility_id)
                .changes(redact(
                    json!({ "account_id": membership.account_id, "role": membership.role }),
                    &[],
                )),
        ],
    )
    .await?;
    let view = membership.view().ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Ends a membership; its holder loses the role at once.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/memberships/{membership_id}",
    tag = "facilities",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("membership_id" = Uuid, Path, description = "The membership"),
    ),
    responses((status = 204, description = "Ended"), Problems),
    security(("bearer" = []))
)]
async fn revoke_membership(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, membership_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    actor.facility(facility_id, Permission::MEMBERSHIP_MANAGE)?;
    let txn = state.db.begin().await?;
    if !memberships::revoke(&txn, facility_id, membership_id).await? {
        return Err(ApiError::NotFound);
    }
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Delete, "membership")
                .resource(membership_id)
                .facility(facility_id),
        ],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
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
    actor.facility(facility_id, Permission::API_KEY_MANAGE)?;
    let limit = page.limit()?;
    let keys = api_keys::page(state.db.conn(), facility_id, page.after, limit).await?;
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
    actor.facility(facility_id, Permission::API_KEY_MANAGE)?;
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
    actor.facility(facility_id, Permission::API_KEY_MANAGE)?;
    let txn = state.db.begin().await?;
    if !api_keys::revoke(&txn, facility_id, key_id).await? {
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

/// Opens a patient outside the caller's facilities, stating why. The grant
/// covers reading that one patient for 60 minutes; it is flagged in the
/// audit log and listed for review by the facility's administrators.
#[utoipa::path(
    post,
    path = "/emergency-access",
    tag = "emergency access",
    request_body = EmergencyRequest,
    responses((status = 201, description = "Granted", body = Grant), Problems),
    security(("bearer" = []))
)]
async fn request_emergency_access(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(request): ApiJson<EmergencyRequest>,
) -> Result<(StatusCode, ApiJson<Grant>), ApiError> {
    emergency::may_request(&actor)?;
    if request.reason.trim().chars().count() < 10 {
        return Err(ApiError::invalid(
            "reason",
            "must say why, in at least 10 characters",
        ));
    }
    if request.reason.len() > 2000 {
        return Err(ApiError::invalid(
            "reason",
            "must be at most 2000 characters",
        ));
    }
    let key = state.keyring.facility(request.facility_id).await?;
    let txn = state.db.begin().await?;
    if !patients::exists(&txn, request.facility_id, request.patient_id).await? {
        return Err(ApiError::NotFound);
    }
    let grant = emergency::grant(&txn, &key, &actor, &request).await?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::EmergencyAccess, "emergency_access")
                .resource(grant.id)
                .facility(request.facility_id)
                .patient(request.patient_id)
                .changes(redact(json!({ "reason": request.reason }), &["reason"]))
                .flag(ComplianceFlag::EmergencyAccess)
                .flag(ComplianceFlag::Phi),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(Grant::open(&key, &grant)?)))
}

/// Which grants to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Only grants nobody has reviewed yet.
    #[serde(default)]
    pub unreviewed: bool,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    pub limit: Option<u64>,
}

/// Lists the facility's emergency access grants, newest first, for review.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/emergency-access",
    tag = "emergency access",
    params(("facility_id" = Uuid, Path, description = "The facility"), GrantQuery),
    responses((status = 200, description = "A page of grants", body = Page<Grant>), Problems),
    security(("bearer" = []))
)]
async fn list_emergency_access(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<GrantQuery>,
) -> Result<ApiJson<Page<Grant>>, ApiError> {
    actor.facility(facility_id, Permission::EMERGENCY_ACCESS_REVIEW)?;
    let limit = crate::http::extract::page_limit(query.limit)?;
    let rows = emergency::page(
        state.db.conn(),
        facility_id,
        query.unreviewed,
        query.after,
        limit,
    )
    .await?;
    let key = state.keyring.facility(facility_id).await?;
    let grants = rows
        .iter()
        .map(|row| Grant::open(&key, row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiJson(Page::new(grants, limit, |g: &Grant| g.id)))
}

/// Marks a grant reviewed.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/emergency-access/{grant_id}/review",
    tag = "emergency access",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("grant_id" = Uuid, Path, description = "The grant"),
    ),
    responses((status = 200, description = "Reviewed", body = Grant), Problems),
    security(("bearer" = []))
)]
async fn review_emergency_access(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, grant_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Grant>, ApiError> {
    actor.facility(facility_id, Permission::EMERGENCY_ACCESS_REVIEW)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = emergency::review(&txn, facility_id, grant_id, actor.account_id())
        .await?
        .ok_or(ApiError::NotFound)?;
    audit::commit(
        txn,
        vec![
            actor
                .event(AuditAction::Update, "emergency_access")
                .resource(grant_id)
                .facility(facility_id)
                .patient(row.patient_id)
                .changes(redact(json!({ "reviewed": true }), &[])),
        ],
    )
    .await?;
    Ok(ApiJson(Grant::open(&key, &row)?))
}
