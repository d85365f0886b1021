//! Single-use tokens sent by email: confirmation, invitation, recovery, and
//! email or phone change. Only a hash is stored; each token expires, works
//! once, and issuing a new one for the same purpose voids the older ones.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait};

use super::secrets;
use crate::crypto::{DataKey, FieldRef, Sealed};
use crate::db::new_id;
use crate::time::Timestamp;

const MINUTE: i64 = 60 * 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub purpose: Purpose,
    pub token_hash: Vec<u8>,
    /// The new email or phone, for a change awaiting confirmation.
    pub new_value: Option<Sealed>,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Purpose {
    #[sea_orm(string_value = "confirm_email")]
    ConfirmEmail,
    #[sea_orm(string_value = "invitation")]
    Invitation,
    #[sea_orm(string_value = "recovery")]
    Recovery,
    #[sea_orm(string_value = "email_change")]
    EmailChange,
    #[sea_orm(string_value = "phone_change")]
    PhoneChange,
    /// Sent to the old address when the email changed: undoes it.
    #[sea_orm(string_value = "email_change_undo")]
    EmailChangeUndo,
}

impl Purpose {
    /// How long a token of this purpose stays valid: short for anything
    /// that grants access, longer for an invitation someone must notice.
    fn lifetime_micros(self) -> i64 {
        match self {
            Purpose::ConfirmEmail => 48 * 60 * MINUTE,
            Purpose::Invitation => 7 * 24 * 60 * MINUTE,
            Purpose::Recovery | Purpose::EmailChange | Purpose::PhoneChange => 60 * MINUTE,
            // Long enough for an owner who is away to notice.
            Purpose::EmailChangeUndo => 7 * 24 * 60 * MINUTE,
        }
    }
}

/// Why a token was refused. Clients get one answer for all of them, so a
/// token cannot be probed; the kind is for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no such token")]
    Unknown,
    #[error("the token has expired")]
    Expired,
    #[error("the token was already used")]
    Used,
}

/// A redeemed token.
#[derive(Debug)]
pub struct Redeemed {
    pub account_id: Uuid,
    /// The new email or phone the token confirms, opened.
    pub new_value: Option<String>,
}

/// Issues a token; returns the secret to send. Earlier unused tokens of the
/// same purpose for the account stop working.
pub async fn issue(
    db: &impl ConnectionTrait,
    key: &DataKey,
    account_id: Uuid,
    purpose: Purpose,
    new_value: Option<&str>,
) -> Result<String, DbErr> {
    let now = Timestamp::now();
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    let (secret, hash) = secrets::new_secret();
    let id = new_id();
    ActiveModel {
        id: ActiveValue::Set(id),
        account_id: ActiveValue::Set(account_id),
        purpose: ActiveValue::Set(purpose),
        token_hash: ActiveValue::Set(hash),
        new_value: ActiveValue::Set(
            new_value.map(|v| key.seal_str(FieldRef::new("account_tokens", "new_value", id), v)),
        ),
        expires_at: ActiveValue::Set(Timestamp::from_micros(
            now.as_micros() + purpose.lifetime_micros(),
        )),
        used_at: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
    }
    .insert(db)
    .await?;
    Ok(secret)
}

/// Voids every unused token of the account, whatever its purpose.
pub async fn void_all(db: &impl ConnectionTrait, account_id: Uuid) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(Timestamp::now()))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Redeems a token for `purpose`, once. Two concurrent redemptions of one
/// token cannot both succeed: the one whose update finds it unused wins.
pub async fn redeem(
    db: &impl ConnectionTrait,
    key: &DataKey,
    secret: &str,
    purpose: Purpose,
) -> Result<Result<Redeemed, TokenError>, DbErr> {
    let Some(token) = Entity::find()
        .filter(Column::TokenHash.eq(secrets::hash(secret)))
        .filter(Column::Purpose.eq(purpose))
        .one(db)
        .await?
    else {
        return Ok(Err(TokenError::Unknown));
    };
    let now = Timestamp::now();
    if token.used_at.is_some() {
        return Ok(Err(TokenError::Used));
    }
    if token.expires_at <= now {
        return Ok(Err(TokenError::Expired));
    }
    let claimed = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(token.id))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(Err(TokenError::Used));
    }
    let new_value = token
        .new_value
        .as_ref()
        .map(|sealed| {
            key.open_string(
                FieldRef::new("account_tokens", "new_value", token.id),
                sealed,
            )
        })
        .transpose()
        .map_err(|e| DbErr::Custom(format!("a token's sealed value does not open: {e}")))?;
    Ok(Ok(Redeemed {
        account_id: token.account_id,
        new_value,
    }))
}
