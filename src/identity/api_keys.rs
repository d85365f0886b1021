//! API keys (seed 003): for partners and integrations such as n8n. A key
//! belongs to one facility, carries scopes (permissions), may expire, and is
//! shown once: only a hash of its secret is kept. Presented as
//! `Authorization: Bearer cbak_<id>_<secret>`.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::secrets;
use crate::db::new_id;
use crate::policy::{FacilityScope, Permission};
use crate::time::Timestamp;

const PREFIX: &str = "cbak_";
/// `last_used_at` is written at most this often.
const TOUCH_EVERY_SECS: i64 = 60;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub name: String,
    pub secret_hash: Vec<u8>,
    /// JSON array of permission names.
    pub scopes: String,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The key's scopes; a name this build does not know grants nothing.
    pub fn scopes(&self) -> Vec<Permission> {
        serde_json::from_str::<Vec<String>>(&self.scopes)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }

    pub fn usable_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|until| until > now)
    }
}

/// An API key as listed (never with its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub name: String,
    pub scopes: Vec<Permission>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl From<&Model> for ApiKeyView {
    fn from(key: &Model) -> Self {
        Self {
            id: key.id,
            facility_id: key.facility_id,
            name: key.name.clone(),
            scopes: key.scopes(),
            created_by: key.created_by,
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// What a new key is made of.
pub struct NewApiKey {
    pub facility_id: Uuid,
    pub name: String,
    pub scopes: Vec<Permission>,
    pub expires_at: Option<Timestamp>,
    pub created_by: Uuid,
}

/// Creates a key; returns it and the bearer token, which is never shown again.
pub async fn create(db: &impl ConnectionTrait, new: NewApiKey) -> Result<(Model, String), DbErr> {
    let id = new_id();
    let (secret, hash) = secrets::new_secret();
    let scopes: Vec<&str> = new.scopes.iter().map(|p| p.as_str()).collect();
    let key = ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(new.facility_id),
        name: ActiveValue::Set(new.name),
        secret_hash: ActiveValue::Set(hash),
        scopes: ActiveValue::Set(
            serde_json::to_string(&scopes).unwrap_or_else(|_| "[]".to_owned()),
        ),
        created_by: ActiveValue::Set(new.created_by),
        created_at: ActiveValue::Set(Timestamp::now()),
        expires_at: ActiveValue::Set(new.expires_at),
        last_used_at: ActiveValue::Set(None),
        revoked_at: ActiveValue::Set(None),
    }
    .insert(db)
    .await?;
    Ok((key, format!("{PREFIX}{}_{secret}", id.simple())))
}

/// Whether a bearer token is shaped like an API key.
pub fn is_api_key(bearer: &str) -> bool {
    bearer.starts_with(PREFIX)
}

/// The usable key a bearer token names, with its secret checked.
pub async fn authenticate(db: &impl ConnectionTrait, bearer: &str) -> Result<Option<Model>, DbErr> {
    let Some((id, secret)) = bearer
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let Some(key) = Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let now = Timestamp::now();
    if !secrets::same(&secrets::hash(secret), &key.secret_hash) || !key.usable_at(now) {
        return Ok(None);
    }
    if key
        .last_used_at
        .is_none_or(|t| t.plus_secs(TOUCH_EVERY_SECS) <= now)
    {
        Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(now))
            .filter(Column::Id.eq(key.id))
            .exec(db)
            .await?;
    }
    Ok(Some(key))
}

/// The key with this id, usable or not.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// A page of the facility's keys, oldest first, after the cursor.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// Revokes a key of the facility; false when there is no such live key.
pub async fn revoke(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Timestamp::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
