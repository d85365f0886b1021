//! Sessions and their refresh tokens.
//!
//! A session starts at sign-in and ends at sign-out, on revocation, after
//! `session_idle_timeout_secs` without use, or `session_lifetime_secs` after
//! it began (HIPAA automatic logoff), whichever comes first. Refresh tokens
//! rotate: each use returns a new one and spends the old; presenting a spent
//! one means it was stolen or replayed, and ends the whole session.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};

use super::secrets;
use crate::db::new_id;
use crate::time::Timestamp;

/// Update `last_seen_at` at most this often (or a quarter of the idle
/// timeout, if shorter), so a busy session does not write on every request.
pub const TOUCH_EVERY_SECS: i64 = 60;

pub mod session {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub account_id: Uuid,
        pub created_at: Timestamp,
        pub last_seen_at: Timestamp,
        pub expires_at: Timestamp,
        pub revoked_at: Option<Timestamp>,
        pub revoke_reason: Option<String>,
        pub user_agent: Option<String>,
        pub client_addr: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub session_id: Uuid,
        pub token_hash: Vec<u8>,
        pub issued_at: Timestamp,
        pub rotated_at: Option<Timestamp>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use session::Model as Session;

/// The two session limits.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle_secs: i64,
    pub lifetime_secs: i64,
}

/// Why a session no longer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Revoked,
    Idle,
    Expired,
}

impl SessionPolicy {
    /// Whether `session` is live at `now`.
    pub fn check(&self, session: &Session, now: Timestamp) -> Result<(), Ended> {
        if session.revoked_at.is_some() {
            Err(Ended::Revoked)
        } else if session.expires_at <= now {
            Err(Ended::Expired)
        } else if session.last_seen_at.plus_secs(self.idle_secs) <= now {
            Err(Ended::Idle)
        } else {
            Ok(())
        }
    }
}

/// Who opened a session, from where.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub client_addr: Option<String>,
}

/// Starts a session; returns it and its first refresh token.
pub async fn start(
    db: &impl ConnectionTrait,
    policy: SessionPolicy,
    account_id: Uuid,
    origin: Origin,
) -> Result<(Session, String), DbErr> {
    let now = Timestamp::now();
    let session = session::ActiveModel {
        id: ActiveValue::Set(new_id()),
        account_id: ActiveValue::Set(account_id),
        created_at: ActiveValue::Set(now),
        last_seen_at: ActiveValue::Set(now),
        expires_at: ActiveValue::Set(now.plus_secs(policy.lifetime_secs)),
        revoked_at: ActiveValue::Set(None),
        revoke_reason: ActiveValue::Set(None),
        user_agent: ActiveValue::Set(origin.user_agent),
        client_addr: ActiveValue::Set(origin.client_addr),
    }
    .insert(db)
    .await?;
    let refresh = issue_refresh_token(db, session.id).await?;
    Ok((session, refresh))
}

async fn issue_refresh_token(db: &impl ConnectionTrait, session_id: Uuid) -> Result<String, DbErr> {
    let (secret, hash) = secrets::new_secret();
    refresh_token::ActiveModel {
        id: ActiveValue::Set(new_id()),
        session_id: ActiveValue::Set(session_id),
        token_hash: ActiveValue::Set(hash),
        issued_at: ActiveValue::Set(Timestamp::now()),
        rotated_at: ActiveValue::Set(None),
    }
    .insert(db)
    .await?;
    Ok(secret)
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum Refreshed {
    /// A new refresh token for the live session.
    Rotated {
        session: Session,
        refresh_token: String,
    },
    /// Unknown token, or its session has ended.
    Refused,
    /// A spent token was presented again: the session was revoked.
    Replayed { session: Session },
}

/// Spends `token` and issues its successor, if its session is live.
pub async fn refresh(
    db: &impl ConnectionTrait,
    policy: SessionPolicy,
    token: &str,
) -> Result<Refreshed, DbErr> {
    let Some(presented) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(secrets::hash(token)))
        .one(db)
        .await?
    else {
        return Ok(Refreshed::Refused);
    };
    let Some(session) = session::Entity::find_by_id(presented.session_id)
        .one(db)
        .await?
    else {
        return Ok(Refreshed::Refused);
    };
    let now = Timestamp::now();
    if policy.check(&session, now).is_err() {
        return Ok(Refreshed::Refused);
    }
    // Spend the token; if another request spent it first, this is a replay.
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RotatedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(presented.id))
        .filter(refresh_token::Column::RotatedAt.is_null())
        .exec(db)
        .await?;
    if spent.rows_affected != 1 {
        revoke(db, session.id, "refresh token reused").await?;
        return Ok(Refreshed::Replayed { session });
    }
    let session = touch(db, session, now).await?;
    let refresh_token = issue_refresh_token(db, session.id).await?;
    Ok(Refreshed::Rotated {
        session,
        refresh_token,
    })
}

/// Records that the session was used now.
pub async fn touch(
    db: &impl ConnectionTrait,
    session: Session,
    now: Timestamp,
) -> Result<Session, DbErr> {
    let mut active: session::ActiveModel = session.into();
    active.last_seen_at = ActiveValue::Set(now);
    active.update(db).await
}

/// Records use only when the last record is older than [`TOUCH_EVERY_SECS`]
/// or a quarter of the idle timeout, whichever is shorter.
pub async fn touch_if_stale(
    db: &impl ConnectionTrait,
    policy: SessionPolicy,
    session: &Session,
    now: Timestamp,
) -> Result<(), DbErr> {
    let every = TOUCH_EVERY_SECS.min(policy.idle_secs / 4);
    if session.last_seen_at.plus_secs(every) <= now {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(session.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// A page of an account's live sessions, oldest first, after the cursor.
pub async fn live_page(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    now: Timestamp,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Session>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut query = session::Entity::find()
        .filter(session::Column::AccountId.eq(account_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .order_by_asc(session::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(session::Column::Id.gt(after));
    }
    query.all(db).await
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Session>, DbErr> {
    session::Entity::find_by_id(id).one(db).await
}

/// Ends one session now.
pub async fn revoke(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    reason: &str,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Timestamp::now()))
        .col_expr(session::Column::RevokeReason, Expr::value(reason))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of an account now; returns how many were live.
pub async fn revoke_all(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    reason: &str,
) -> Result<u64, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Timestamp::now()))
        .col_expr(session::Column::RevokeReason, Expr::value(reason))
        .filter(session::Column::AccountId.eq(account_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Ends every session of an account but `keep` (the one asking) now.
pub async fn revoke_others(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    keep: Uuid,
    reason: &str,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Timestamp::now()))
        .col_expr(session::Column::RevokeReason, Expr::value(reason))
        .filter(session::Column::AccountId.eq(account_id))
        .filter(session::Column::Id.ne(keep))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: Timestamp, last_seen: Timestamp, policy: SessionPolicy) -> Session {
        Session {
            id: Uuid::now_v7(),
            account_id: Uuid::now_v7(),
            created_at: created,
            last_seen_at: last_seen,
            expires_at: created.plus_secs(policy.lifetime_secs),
            revoked_at: None,
            revoke_reason: None,
            user_agent: None,
            client_addr: None,
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_old_whatever_comes_first() {
        let policy = SessionPolicy {
            idle_secs: 900,
            lifetime_secs: 3600,
        };
        let start = Timestamp::now();
        let live = session(start, start, policy);
        assert_eq!(policy.check(&live, start.plus_secs(899)), Ok(()));
        assert_eq!(policy.check(&live, start.plus_secs(900)), Err(Ended::Idle));
        let busy = session(start, start.plus_secs(3500), policy);
        assert_eq!(policy.check(&busy, start.plus_secs(3599)), Ok(()));
        assert_eq!(
            policy.check(&busy, start.plus_secs(3600)),
            Err(Ended::Expired)
        );
        let revoked = Session {
            revoked_at: Some(start),
            ..live
        };
        assert_eq!(policy.check(&revoked, start), Err(Ended::Revoked));
    }
}
