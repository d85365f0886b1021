//! Establishing the actor once per request from the bearer token: a signed
//! session's account and live memberships, or an API key narrowed to what
//! its creator holds today. What the actor may then do is the kernel's
//! policy engine (`crate::policy`).

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use uuid::Uuid;

use super::memberships;
use crate::app::AppState;
use crate::error::ApiError;
use crate::identity::accounts::{self, Standing};
use crate::identity::{api_keys, sessions};
use crate::policy::failed_access::ActorSlot;
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
        let actor = if api_keys::is_api_key(bearer) {
            Actor::from_api_key(state, bearer, request).await?
        } else {
            Actor::from_access_token(state, bearer, request).await?
        };
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.fill(actor.audit_actor());
        }
        Ok(actor)
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
        let actor = Self::of_session(state, claims.sid, Some(claims.exp), request).await?;
        if actor.account_id() != claims.sub {
            return Err(token_refused());
        }
        Ok(actor)
    }

    /// The actor of a live session (what a token or a socket ticket names),
    /// its use noted on the session. `token_expires_at` is what a long-lived
    /// connection must not outlive.
    pub async fn of_session(
        state: &AppState,
        session_id: Uuid,
        token_expires_at: Option<i64>,
        request: RequestInfo,
    ) -> Result<Self, ApiError> {
        let db = state.db.conn();
        let signed_in = signed_in(db, &[session_id])
            .await?
            .pop()
            .ok_or_else(token_refused)?;
        let now = Timestamp::now();
        let sessions = state.ext::<crate::identity::Identity>().sessions;
        sessions
            .check(&signed_in.session, now)
            .map_err(|_| token_refused())?;
        if signed_in.standing(now) != Standing::Good {
            return Err(token_refused());
        }
        sessions::touch_if_stale(db, sessions, &signed_in.session, now).await?;
        Ok(signed_in.into_actor(token_expires_at, request))
    }

    async fn from_api_key(
        state: &AppState,
        bearer: &str,
        request: RequestInfo,
    ) -> Result<Self, ApiError> {
        let key = api_keys::authenticate(state.db.conn(), bearer)
            .await?
            .ok_or_else(token_refused)?;
        Self::of_key(state.db.conn(), key, request)
            .await?
            .ok_or_else(token_refused)
    }

    /// The actor of a usable API key (what a key or a socket ticket names).
    pub async fn of_api_key_id(
        state: &AppState,
        key_id: Uuid,
        request: RequestInfo,
    ) -> Result<Self, ApiError> {
        let db = state.db.conn();
        let key = api_keys::find(db, key_id)
            .await?
            .filter(|key| key.usable_at(Timestamp::now()))
            .ok_or_else(token_refused)?;
        Self::of_key(db, key, request)
            .await?
            .ok_or_else(token_refused)
    }

    /// The actor of `key`, narrowed to what its creator holds today; none
    /// when the creator may no longer act.
    async fn of_key(
        db: &impl ConnectionTrait,
        key: api_keys::Model,
        request: RequestInfo,
    ) -> Result<Option<Self>, DbErr> {
        let Some(creator) = accounts::find(db, key.created_by).await? else {
            return Ok(None);
        };
        if creator.standing(Timestamp::now()) != Standing::Good {
            return Ok(None);
        }
        // A key can never do more than its creator can do today, nor use a
        // power over people (keys made before that rule included).
        let creator_memberships = memberships::of_account(db, key.created_by).await?;
        let creator_permissions = permissions_of(&creator_memberships, key.facility_id);
        let key_permissions: BTreeSet<Permission> = key
            .scopes()
            .into_iter()
            .filter(|p| creator_permissions.contains(p) && !p.for_people_only())
            .collect();
        Ok(Some(Actor::new(
            Principal::ApiKey {
                key_id: key.id,
                facility_id: key.facility_id,
                created_by: key.created_by,
            },
            creator_memberships,
            Some(key_permissions),
            None,
            request,
        )))
    }

    /// What each of `actors` (held by long-lived connections) holds now, in
    /// a few queries for all of them: `None` for one whose session or key
    /// was revoked or expired, or whose account was banned or deleted.
    /// Unlike a request, this does not count as the session being used, so
    /// it neither ends an idle session nor keeps one alive.
    pub async fn recheck(
        db: &impl ConnectionTrait,
        actors: &[Actor],
    ) -> Result<Vec<Option<Actor>>, DbErr> {
        let now = Timestamp::now();
        let session_ids: Vec<Uuid> = actors.iter().filter_map(Actor::session_id).collect();
        let mut live = std::collections::HashMap::new();
        for chunk in session_ids.chunks(RECHECK_CHUNK) {
            for signed_in in signed_in(db, chunk).await? {
                let ended = signed_in.session.revoked_at.is_some()
                    || signed_in.session.expires_at <= now
                    || signed_in.standing(now) != Standing::Good;
                if !ended {
                    live.insert(signed_in.session.id, signed_in);
                }
            }
        }
        let mut now_held = Vec::with_capacity(actors.len());
        for actor in actors {
            now_held.push(match actor.principal {
                Principal::Account {
                    account_id,
                    session_id,
                } => live
                    .get(&session_id)
                    .filter(|s| s.session.account_id == account_id)
                    .map(|s| {
                        s.clone()
                            .into_actor(actor.token_expires_at(), actor.request.clone())
                    }),
                Principal::ApiKey { key_id, .. } => match api_keys::find(db, key_id).await? {
                    Some(key) if key.usable_at(now) => {
                        Self::of_key(db, key, actor.request.clone()).await?
                    }
                    _ => None,
                },
            });
        }
        Ok(now_held)
    }
}

/// Sessions re-read in one query by [`Actor::recheck`].
const RECHECK_CHUNK: usize = 500;

/// A session with what its request needs to know: whether its account may
/// act, and the account's live memberships.
#[derive(Clone)]
struct SignedIn {
    session: sessions::Session,
    banned_until: Option<Timestamp>,
    deleted_at: Option<Timestamp>,
    memberships: Vec<Membership>,
}

impl SignedIn {
    fn into_actor(self, token_expires_at: Option<i64>, request: RequestInfo) -> Actor {
        Actor::new(
            Principal::Account {
                account_id: self.session.account_id,
                session_id: self.session.id,
            },
            self.memberships,
            None,
            token_expires_at,
            request,
        )
    }

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

/// Loads sessions, their accounts' standing and the accounts' live
/// memberships in one query. This runs on every request, so it is the one
/// place where the policy engine reads identity's tables beside its own: a
/// single round trip instead of three.
async fn signed_in(
    db: &impl ConnectionTrait,
    session_ids: &[Uuid],
) -> Result<Vec<SignedIn>, DbErr> {
    let rows = db.query_all(&signed_in_query(session_ids)).await?;
    signed_in_from(&rows)
}

/// Each session's columns, its account's standing and one row per live
/// membership (a single row with null membership columns when none),
/// ordered by session.
fn signed_in_query(session_ids: &[Uuid]) -> SelectStatement {
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
        .and_where(Expr::col((s.clone(), Alias::new("id"))).is_in(session_ids.iter().copied()))
        .order_by((s, Alias::new("id")), Order::Asc);
    query
}

/// Reads the rows of [`signed_in_query`]: one per session found.
fn signed_in_from(rows: &[QueryResult]) -> Result<Vec<SignedIn>, DbErr> {
    let mut found: Vec<SignedIn> = Vec::new();
    for row in rows {
        let session_id: Uuid = row.try_get("", "id")?;
        if found.last().is_none_or(|s| s.session.id != session_id) {
            found.push(SignedIn {
                session: session_of(row)?,
                banned_until: row.try_get("", "banned_until")?,
                deleted_at: row.try_get("", "deleted_at")?,
                memberships: Vec::new(),
            });
        }
        if let (Some(membership), Some(signed_in)) = (membership_of(row)?, found.last_mut()) {
            signed_in.memberships.push(membership);
        }
    }
    Ok(found)
}

fn session_of(row: &QueryResult) -> Result<sessions::Session, DbErr> {
    Ok(sessions::Session {
        id: row.try_get("", "id")?,
        account_id: row.try_get("", "account_id")?,
        created_at: row.try_get("", "created_at")?,
        last_seen_at: row.try_get("", "last_seen_at")?,
        expires_at: row.try_get("", "expires_at")?,
        revoked_at: row.try_get("", "revoked_at")?,
        revoke_reason: row.try_get("", "revoke_reason")?,
        user_agent: row.try_get("", "user_agent")?,
        client_addr: row.try_get("", "client_addr")?,
    })
}

/// The row's membership; none for a session without one, or a role this
/// version does not know.
fn membership_of(row: &QueryResult) -> Result<Option<Membership>, DbErr> {
    let Some(id) = row.try_get::<Option<Uuid>>("", "membership_id")? else {
        return Ok(None);
    };
    let role: String = row.try_get("", "role")?;
    let Ok(role) = role.parse() else {
        return Ok(None);
    };
    Ok(Some(Membership {
        id,
        facility_id: row.try_get("", "facility_id")?,
        role,
        department: row.try_get("", "department")?,
        is_primary: row.try_get("", "is_primary")?,
        assigned_at: row.try_get("", "assigned_at")?,
        assigned_by: row.try_get("", "assigned_by")?,
    }))
}
