//! Establishing the actor once per request from the bearer token: a signed
//! session's account and live memberships, or an API key narrowed to what
//! its creator holds today. What the actor may then do is the kernel's
//! policy engine (`crate::policy`).

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use uuid::Uuid;

use super::memberships;
use crate::app::AppState;
use crate::error::ApiError;
use crate::identity::accounts::{self, Standing};
use crate::identity::{api_keys, sessions};
use crate::policy::{Actor, Membership, Permission, Principal, RequestInfo, permissions_of};
use crate::time::Timestamp;

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
        Ok(Actor::new(
            Principal::Account {
                account_id: signed_in.session.account_id,
                session_id: signed_in.session.id,
            },
            signed_in.memberships,
            None,
            Some(claims.exp),
            request,
        ))
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
        let key_permissions: BTreeSet<Permission> = key
            .scopes()
            .into_iter()
            .filter(|p| creator_permissions.contains(p))
            .collect();
        Ok(Actor::new(
            Principal::ApiKey {
                key_id: key.id,
                facility_id: key.facility_id,
                created_by: key.created_by,
            },
            creator_memberships,
            Some(key_permissions),
            None,
            request,
        ))
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
    let selected = [
        (&a, "banned_until", "banned_until"),
        (&a, "deleted_at", "deleted_at"),
        (&m, "id", "membership_id"),
        (&m, "facility_id", "facility_id"),
        (&m, "role", "role"),
        (&m, "department", "department"),
        (&m, "is_primary", "is_primary"),
        (&m, "assigned_at", "assigned_at"),
        (&m, "assigned_by", "assigned_by"),
    ];
    for (table, column, name) in selected {
        query.expr_as(
            Expr::col((table.clone(), Alias::new(column))),
            Alias::new(name),
        );
    }
    query
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
                is_primary: row.try_get("", "is_primary")?,
                assigned_at: row.try_get("", "assigned_at")?,
                assigned_by: row.try_get("", "assigned_by")?,
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
