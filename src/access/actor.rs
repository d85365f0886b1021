//! The actor: who is calling (from identity) and what they hold (their
//! memberships), established once per request from the bearer token. Every
//! handler that touches a facility's data asks the actor for a scope; stores
//! take that scope, so a query that skipped the check does not compile.

use std::collections::BTreeSet;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use uuid::Uuid;

use super::memberships::{self, Membership};
use super::roles::{PatientReach, Permission, RecordReach, RoleScope};
use super::scope::FacilityScope;
use crate::app::AppState;
use crate::audit::{AuditAction, AuditActor, AuditEvent, RequestContext};
use crate::error::ApiError;
use crate::http::kernel::RequestMeta;
use crate::identity::accounts::{self, Standing};
use crate::identity::{api_keys, sessions};
use crate::time::Timestamp;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Account {
        account_id: Uuid,
        session_id: Uuid,
    },
    ApiKey {
        key_id: Uuid,
        facility_id: Uuid,
        created_by: Uuid,
    },
}

/// Where the request came from, for the audit log and throttling.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub request_id: Option<String>,
    pub client_addr: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestInfo {
    pub fn from_parts(parts: &Parts) -> Self {
        let meta = RequestMeta::current();
        let meta = meta.as_ref();
        Self {
            request_id: meta.and_then(|m| m.request_id.to_str().ok().map(str::to_owned)),
            client_addr: meta.and_then(|m| m.client.map(|a| a.ip())),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(256).collect()),
        }
    }
}

impl RequestInfo {
    /// The request's origin as the audit log records it.
    pub fn audit_context(&self) -> RequestContext {
        RequestContext {
            client_addr: self.client_addr.map(|a| a.to_string()),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// An authenticated caller and what it holds.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: Principal,
    memberships: Vec<Membership>,
    /// For an API key: its scopes, already narrowed to what its creator holds.
    key_permissions: Option<BTreeSet<Permission>>,
    /// When the access token used expires (Unix seconds); none for an API key.
    token_expires_at: Option<i64>,
    pub request: RequestInfo,
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request = RequestInfo::from_parts(parts);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("send `Authorization: Bearer <token>`".to_owned())
            })?;
        if api_keys::is_api_key(bearer) {
            Actor::from_api_key(state, bearer, request).await
        } else {
            Actor::from_access_token(state, bearer, request).await
        }
    }
}

fn token_refused() -> ApiError {
    ApiError::Unauthorized("the token is invalid, expired or revoked".to_owned())
}

impl Actor {
    async fn from_access_token(
        state: &AppState,
        token: &str,
        request: RequestInfo,
    ) -> Result<Self, ApiError> {
        let claims = state
            .ext::<crate::identity::Identity>()
            .tokens
            .verify(token)
            .ok_or_else(token_refused)?;
        let db = state.db.conn();
        let signed_in = signed_in(db, claims.sid)
            .await?
            .filter(|s| s.session.account_id == claims.sub)
            .ok_or_else(token_refused)?;
        let now = Timestamp::now();
        state
            .ext::<crate::identity::Identity>()
            .sessions
            .check(&signed_in.session, now)
            .map_err(|_| token_refused())?;
        if signed_in.standing(now) != Standing::Good {
            return Err(token_refused());
        }
        sessions::touch_if_stale(
            db,
            state.ext::<crate::identity::Identity>().sessions,
            &signed_in.session,
            now,
        )
        .await?;
        Ok(Self {
            principal: Principal::Account {
                account_id: signed_in.session.account_id,
                session_id: signed_in.session.id,
            },
            memberships: signed_in.memberships,
            key_permissions: None,
            token_expires_at: Some(claims.exp),
            request,
        })
    }

    async fn from_api_key(
        state: &AppState,
        bearer: &str,
        request: RequestInfo,
    ) -> Result<Self, ApiError> {
        let db = state.db.conn();
        let key = api_keys::authenticate(db, bearer)
            .await?
            .ok_or_else(token_refused)?;
        let creator = accounts::find(db, key.created_by)
            .await?
            .ok_or_else(token_refused)?;
        if creator.standing(Timestamp::now()) != Standing::Good {
            return Err(token_refused());
        }
        // A key can never do more than its creator can do today.
        let creator_memberships = memberships::of_account(db, key.created_by).await?;
        let creator_permissions = permissions_of(&creator_memberships, key.facility_id);
        let key_permissions = key
            .scopes()
            .into_iter()
            .filter(|p| creator_permissions.contains(p))
            .collect();
        Ok(Self {
            principal: Principal::ApiKey {
                key_id: key.id,
                facility_id: key.facility_id,
                created_by: key.created_by,
            },
            memberships: creator_memberships,
            key_permissions: Some(key_permissions),
            token_expires_at: None,
            request,
        })
    }

    /// The account acting, directly or as the creator of an API key.
    pub fn account_id(&self) -> Uuid {
        match self.principal {
            Principal::Account { account_id, .. } => account_id,
            Principal::ApiKey { created_by, .. } => created_by,
        }
    }

    /// When the access token the actor used expires (Unix seconds): what a
    /// long-lived connection (the realtime socket) must not outlive. None
    /// for an API key.
    pub fn token_expires_at(&self) -> Option<i64> {
        self.token_expires_at
    }

    /// The session, when the actor signed in.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.principal {
            Principal::Account { session_id, .. } => Some(session_id),
            Principal::ApiKey { .. } => None,
        }
    }

    /// The actor as the audit log names it.
    pub fn audit_actor(&self) -> AuditActor {
        match self.principal {
            Principal::Account {
                account_id,
                session_id,
            } => AuditActor::Account {
                id: account_id,
                session_id: Some(session_id),
            },
            Principal::ApiKey { key_id, .. } => AuditActor::ApiKey { id: key_id },
        }
    }

    /// An audit event by this actor from this request; add the resource.
    pub fn event(&self, action: AuditAction, resource_type: &str) -> AuditEvent {
        AuditEvent::new(self.audit_actor(), action, resource_type)
            .context(self.request.audit_context())
    }

    pub fn memberships(&self) -> &[Membership] {
        &self.memberships
    }

    /// What the actor may do in `facility_id`.
    pub fn permissions_in(&self, facility_id: Uuid) -> BTreeSet<Permission> {
        match (&self.principal, &self.key_permissions) {
            (
                Principal::ApiKey {
                    facility_id: own, ..
                },
                Some(granted),
            ) => {
                if *own == facility_id {
                    granted.clone()
                } else {
                    BTreeSet::new()
                }
            }
            _ => permissions_of(&self.memberships, facility_id),
        }
    }

    /// What the actor may do across the installation.
    pub fn installation_permissions(&self) -> BTreeSet<Permission> {
        if self.key_permissions.is_some() {
            return BTreeSet::new();
        }
        self.memberships
            .iter()
            .filter(|m| m.role.scope() == RoleScope::Installation)
            .flat_map(|m| m.role.permissions().iter().copied())
            .collect()
    }

    /// Checks an installation-wide permission.
    pub fn require_installation(&self, permission: Permission) -> Result<(), ApiError> {
        if self.installation_permissions().contains(&permission) {
            Ok(())
        } else {
            Err(forbidden(permission))
        }
    }

    /// The facilities where the actor holds `permission`; `None` means all
    /// of them (an installation role holds it).
    pub fn facilities_with(&self, permission: Permission) -> Option<Vec<Uuid>> {
        if self.installation_permissions().contains(&permission) {
            return None;
        }
        let mut ids: Vec<Uuid> = self
            .memberships
            .iter()
            .filter_map(|m| m.facility_id)
            .filter(|f| self.permissions_in(*f).contains(&permission))
            .collect();
        ids.sort();
        ids.dedup();
        Some(ids)
    }

    /// The scope for acting on `facility_id` with `permission`. A facility
    /// the actor holds nothing in is not found (404, no hint it exists);
    /// one it holds other permissions in is forbidden (403).
    pub fn facility(
        &self,
        facility_id: Uuid,
        permission: Permission,
    ) -> Result<FacilityScope, ApiError> {
        let held = self.permissions_in(facility_id);
        if held.is_empty() {
            return Err(ApiError::NotFound);
        }
        if !held.contains(&permission) {
            return Err(forbidden(permission));
        }
        Ok(FacilityScope::new(
            facility_id,
            self.patient_reach(facility_id, permission),
            self.record_reach(facility_id, permission),
            self.account_id(),
        ))
    }

    /// The roles the actor holds in the facility (installation roles
    /// included) that grant `permission`. An API key acts with its
    /// creator's roles, narrowed to its scopes by [`Self::permissions_in`].
    fn roles_granting(
        &self,
        facility_id: Uuid,
        permission: Permission,
    ) -> impl Iterator<Item = super::Role> + '_ {
        self.memberships
            .iter()
            .filter(move |m| {
                m.facility_id == Some(facility_id) || m.role.scope() == RoleScope::Installation
            })
            .map(|m| m.role)
            .filter(move |role| role.can(permission))
    }

    /// Which assignable records the actor's roles let it change.
    fn record_reach(&self, facility_id: Uuid, permission: Permission) -> RecordReach {
        self.roles_granting(facility_id, permission)
            .map(|role| role.record_reach(permission))
            .max()
            .unwrap_or(RecordReach::Assigned)
    }

    /// How far the actor's roles that grant `permission` in the facility
    /// reach among its patients.
    fn patient_reach(&self, facility_id: Uuid, permission: Permission) -> PatientReach {
        if let Some(granted) = &self.key_permissions {
            return if granted.contains(&permission) {
                PatientReach::Facility
            } else {
                PatientReach::None
            };
        }
        self.roles_granting(facility_id, permission)
            .map(|role| role.patient_reach())
            .max()
            .unwrap_or(PatientReach::None)
    }
}

/// A session with what its request needs to know: whether its account may
/// act, and the account's live memberships.
struct SignedIn {
    session: sessions::Session,
    banned_until: Option<Timestamp>,
    deleted_at: Option<Timestamp>,
    memberships: Vec<Membership>,
}

impl SignedIn {
    fn standing(&self, now: Timestamp) -> Standing {
        if self.deleted_at.is_some() {
            Standing::Deleted
        } else if self.banned_until.is_some_and(|until| until > now) {
            Standing::Banned
        } else {
            Standing::Good
        }
    }
}

/// Loads a session, its account's standing and the account's live
/// memberships in one query. This runs on every request, so it is the one
/// place where the policy engine reads identity's tables beside its own: a
/// single round trip instead of three.
async fn signed_in(db: &impl ConnectionTrait, session_id: Uuid) -> Result<Option<SignedIn>, DbErr> {
    let rows = db.query_all(&signed_in_query(session_id)).await?;
    signed_in_from(&rows)
}

/// The session's columns, its account's standing and one row per live
/// membership (a single row with null membership columns when none).
fn signed_in_query(session_id: Uuid) -> SelectStatement {
    let (s, a, m) = (Alias::new("s"), Alias::new("a"), Alias::new("m"));
    let session_columns = [
        "id",
        "account_id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "revoked_at",
        "revoke_reason",
        "user_agent",
        "client_addr",
    ];
    let mut query = Query::select();
    for column in session_columns {
        query.expr_as(
            Expr::col((s.clone(), Alias::new(column))),
            Alias::new(column),
        );
    }
    query
        .expr_as(
            Expr::col((a.clone(), Alias::new("banned_until"))),
            Alias::new("banned_until"),
        )
        .expr_as(
            Expr::col((a.clone(), Alias::new("deleted_at"))),
            Alias::new("deleted_at"),
        )
        .expr_as(
            Expr::col((m.clone(), Alias::new("id"))),
            Alias::new("membership_id"),
        )
        .expr_as(
            Expr::col((m.clone(), Alias::new("facility_id"))),
            Alias::new("facility_id"),
        )
        .expr_as(
            Expr::col((m.clone(), Alias::new("role"))),
            Alias::new("role"),
        )
        .expr_as(
            Expr::col((m.clone(), Alias::new("department"))),
            Alias::new("department"),
        )
        .from_as(Alias::new("sessions"), s.clone())
        .join_as(
            JoinType::InnerJoin,
            Alias::new("accounts"),
            a.clone(),
            Expr::col((a.clone(), Alias::new("id"))).equals((s.clone(), Alias::new("account_id"))),
        )
        .join_as(
            JoinType::LeftJoin,
            Alias::new("memberships"),
            m.clone(),
            Condition::all()
                .add(
                    Expr::col((m.clone(), Alias::new("account_id")))
                        .equals((s.clone(), Alias::new("account_id"))),
                )
                .add(Expr::col((m.clone(), Alias::new("revoked_at"))).is_null()),
        )
        .and_where(Expr::col((s, Alias::new("id"))).eq(session_id));
    query
}

/// Reads the rows of [`signed_in_query`]: none when there is no session.
fn signed_in_from(rows: &[QueryResult]) -> Result<Option<SignedIn>, DbErr> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let session = sessions::Session {
        id: first.try_get("", "id")?,
        account_id: first.try_get("", "account_id")?,
        created_at: first.try_get("", "created_at")?,
        last_seen_at: first.try_get("", "last_seen_at")?,
        expires_at: first.try_get("", "expires_at")?,
        revoked_at: first.try_get("", "revoked_at")?,
        revoke_reason: first.try_get("", "revoke_reason")?,
        user_agent: first.try_get("", "user_agent")?,
        client_addr: first.try_get("", "client_addr")?,
    };
    let mut memberships = Vec::new();
    for row in rows {
        let Some(id) = row.try_get::<Option<Uuid>>("", "membership_id")? else {
            continue;
        };
        let role: String = row.try_get("", "role")?;
        if let Ok(role) = role.parse() {
            memberships.push(Membership {
                id,
                facility_id: row.try_get("", "facility_id")?,
                role,
                department: row.try_get("", "department")?,
            });
        }
    }
    Ok(Some(SignedIn {
        session,
        banned_until: first.try_get("", "banned_until")?,
        deleted_at: first.try_get("", "deleted_at")?,
        memberships,
    }))
}

fn forbidden(permission: Permission) -> ApiError {
    ApiError::Forbidden(format!(
        "this needs the `{}` permission",
        permission.as_str()
    ))
}

/// The union of the permissions that `memberships` grant in `facility_id`,
/// counting installation roles everywhere.
fn permissions_of(memberships: &[Membership], facility_id: Uuid) -> BTreeSet<Permission> {
    memberships
        .iter()
        .filter(|m| m.facility_id == Some(facility_id) || m.role.scope() == RoleScope::Installation)
        .flat_map(|m| m.role.permissions().iter().copied())
        .collect()
}
