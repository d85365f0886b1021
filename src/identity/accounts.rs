//! Accounts: who can sign in. Seed 004's auth model, with the email and the
//! phone sealed (they identify patients who use the portal) and found by a
//! blind index of the email.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use crate::crypto::{BlindIndex, DataKey, FieldRef, Sealed};
use crate::db::new_id;
use crate::time::Timestamp;
use crate::types::Email;

pub const TABLE: &str = "accounts";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email_index: BlindIndex,
    pub email: Sealed,
    pub email_confirmed_at: Option<Timestamp>,
    pub phone: Option<Sealed>,
    pub phone_confirmed_at: Option<Timestamp>,
    pub full_name: Option<Sealed>,
    pub password_hash: Option<String>,
    pub invited_at: Option<Timestamp>,
    pub invited_by: Option<Uuid>,
    pub banned_until: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub last_sign_in_at: Option<Timestamp>,
    pub totp_secret: Option<Sealed>,
    pub totp_enabled_at: Option<Timestamp>,
    /// The last TOTP time step accepted, so a code is never accepted twice.
    pub totp_last_step: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// Whether the account may hold a session at `now`.
    pub fn standing(&self, now: Timestamp) -> Standing {
        if self.deleted_at.is_some() {
            Standing::Deleted
        } else if self.banned_until.is_some_and(|until| until > now) {
            Standing::Banned
        } else {
            Standing::Good
        }
    }

    pub fn mfa_enabled(&self) -> bool {
        self.totp_enabled_at.is_some()
    }
}

/// Whether an account may act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Good,
    Banned,
    Deleted,
}

/// An account's sealed `full_name`, opened: for showing who wrote
/// something (a message's sender) without opening the whole account.
pub fn open_name(
    key: &DataKey,
    account_id: Uuid,
    sealed: &Sealed,
) -> Result<String, crate::crypto::CryptoError> {
    key.open_string(field("full_name", account_id), sealed)
}

fn field(column: &'static str, id: Uuid) -> FieldRef<'static> {
    FieldRef::new(TABLE, column, id)
}

/// The names of the accounts `ids`, when they gave one, with one query:
/// for showing who wrote something. `key` is the installation's key.
pub async fn names(
    db: &impl ConnectionTrait,
    key: &DataKey,
    ids: &[Uuid],
) -> anyhow::Result<std::collections::HashMap<Uuid, Option<String>>> {
    let found: Vec<(Uuid, Option<Sealed>)> = Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::FullName)
        .filter(Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    found
        .into_iter()
        .map(|(id, sealed)| {
            let name = sealed.map(|s| open_name(key, id, &s)).transpose()?;
            Ok((id, name))
        })
        .collect()
}

/// What a staff directory shows of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountCard {
    pub email: String,
    pub full_name: Option<String>,
    /// Neither banned nor deleted.
    pub active: bool,
}

/// The cards of the accounts `ids`, with one query; `key` is the
/// installation's key.
pub async fn cards(
    db: &impl ConnectionTrait,
    key: &DataKey,
    ids: &[Uuid],
    now: Timestamp,
) -> anyhow::Result<std::collections::HashMap<Uuid, AccountCard>> {
    let rows = Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    rows.iter()
        .map(|row| {
            let full_name = row
                .full_name
                .as_ref()
                .map(|s| open_name(key, row.id, s))
                .transpose()?;
            let card = AccountCard {
                email: key.open_string(field("email", row.id), &row.email)?,
                full_name,
                active: row.standing(now) == Standing::Good,
            };
            Ok((row.id, card))
        })
        .collect()
}

/// The blind index an email is found by.
pub fn email_index(key: &DataKey, email: &Email) -> BlindIndex {
    key.blind_index("account-email", email.as_str())
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}

/// When each of `ids` last signed in, with one query (seed 001's
/// `last_portal_login` of the leads invited to the portal).
pub async fn last_sign_ins(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Timestamp>, DbErr> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(Uuid, Option<Timestamp>)> = Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::LastSignInAt)
        .filter(Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at)| at.map(|at| (id, at)))
        .collect())
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    key: &DataKey,
    email: &Email,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::EmailIndex.eq(email_index(key, email)))
        .one(db)
        .await
}

/// A page of accounts, oldest first, after the cursor.
pub async fn page(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    use sea_orm::QueryOrder;
    let mut query = Entity::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// What a new account starts with.
pub struct NewAccount {
    pub email: Email,
    pub password_hash: Option<String>,
    pub full_name: Option<String>,
    /// Set when an administrator invites the account.
    pub invited_by: Option<Uuid>,
    /// Accounts bootstrapped from the CLI are confirmed by the operator.
    pub email_confirmed: bool,
}

pub async fn create(
    db: &impl ConnectionTrait,
    key: &DataKey,
    new: NewAccount,
) -> Result<Model, DbErr> {
    let id = new_id();
    let now = Timestamp::now();
    ActiveModel {
        id: ActiveValue::Set(id),
        email_index: ActiveValue::Set(email_index(key, &new.email)),
        email: ActiveValue::Set(key.seal_str(field("email", id), new.email.as_str())),
        email_confirmed_at: ActiveValue::Set(new.email_confirmed.then_some(now)),
        phone: ActiveValue::Set(None),
        phone_confirmed_at: ActiveValue::Set(None),
        full_name: ActiveValue::Set(
            new.full_name
                .map(|name| key.seal_str(field("full_name", id), &name)),
        ),
        password_hash: ActiveValue::Set(new.password_hash),
        invited_at: ActiveValue::Set(new.invited_by.map(|_| now)),
        invited_by: ActiveValue::Set(new.invited_by),
        banned_until: ActiveValue::Set(None),
        deleted_at: ActiveValue::Set(None),
        last_sign_in_at: ActiveValue::Set(None),
        totp_secret: ActiveValue::Set(None),
        totp_enabled_at: ActiveValue::Set(None),
        totp_last_step: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(db)
    .await
}

/// What changes about an account. Fields left `None` stay as they are; a
/// nullable column's `Some(None)` clears it. Sealed values come sealed by
/// the caller, which holds the key.
#[derive(Debug, Default)]
pub struct AccountChanges {
    pub email: Option<(BlindIndex, Sealed)>,
    pub email_confirmed_at: Option<Timestamp>,
    pub phone: Option<Sealed>,
    pub phone_confirmed_at: Option<Timestamp>,
    pub full_name: Option<Sealed>,
    pub password_hash: Option<String>,
    pub banned_until: Option<Option<Timestamp>>,
    pub deleted_at: Option<Timestamp>,
    pub last_sign_in_at: Option<Timestamp>,
    pub totp_secret: Option<Option<Sealed>>,
    pub totp_enabled_at: Option<Option<Timestamp>>,
    pub totp_last_step: Option<i64>,
}

/// Sets `field` when there is a new value.
fn apply<T: Into<sea_orm::Value>>(field: &mut ActiveValue<T>, value: Option<T>) {
    if let Some(value) = value {
        *field = ActiveValue::Set(value);
    }
}

/// Applies `changes` to the account, stamping `updated_at`.
pub async fn update(
    db: &impl ConnectionTrait,
    account: Model,
    changes: AccountChanges,
) -> Result<Model, DbErr> {
    let mut a: ActiveModel = account.into();
    if let Some((index, sealed)) = changes.email {
        a.email_index = ActiveValue::Set(index);
        a.email = ActiveValue::Set(sealed);
    }
    apply(
        &mut a.email_confirmed_at,
        changes.email_confirmed_at.map(Some),
    );
    apply(&mut a.phone, changes.phone.map(Some));
    apply(
        &mut a.phone_confirmed_at,
        changes.phone_confirmed_at.map(Some),
    );
    apply(&mut a.full_name, changes.full_name.map(Some));
    apply(&mut a.password_hash, changes.password_hash.map(Some));
    apply(&mut a.banned_until, changes.banned_until);
    apply(&mut a.deleted_at, changes.deleted_at.map(Some));
    apply(&mut a.last_sign_in_at, changes.last_sign_in_at.map(Some));
    apply(&mut a.totp_secret, changes.totp_secret);
    apply(&mut a.totp_enabled_at, changes.totp_enabled_at);
    apply(&mut a.totp_last_step, changes.totp_last_step.map(Some));
    a.updated_at = ActiveValue::Set(Timestamp::now());
    a.update(db).await
}

/// Seals a new email for an account, with its index.
pub fn seal_email(key: &DataKey, id: Uuid, email: &Email) -> (BlindIndex, Sealed) {
    (
        email_index(key, email),
        key.seal_str(field("email", id), email.as_str()),
    )
}

pub fn seal_phone(key: &DataKey, id: Uuid, phone: &str) -> Sealed {
    key.seal_str(field("phone", id), phone)
}

pub fn seal_totp_secret(key: &DataKey, id: Uuid, secret: &[u8]) -> Sealed {
    key.seal(field("totp_secret", id), secret)
}

pub fn open_totp_secret(key: &DataKey, account: &Model) -> Option<Vec<u8>> {
    let sealed = account.totp_secret.as_ref()?;
    key.open(field("totp_secret", account.id), sealed)
        .ok()
        .map(|s| s.to_vec())
}

/// An account as its owner and administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub email_confirmed: bool,
    pub phone: Option<String>,
    pub phone_confirmed: bool,
    pub full_name: Option<String>,
    pub mfa_enabled: bool,
    pub banned_until: Option<Timestamp>,
    pub deleted: bool,
    pub last_sign_in_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl AccountView {
    pub fn open(key: &DataKey, account: &Model) -> Result<Self, crate::crypto::CryptoError> {
        let id = account.id;
        let open = |column, sealed: &Option<Sealed>| {
            sealed
                .as_ref()
                .map(|s| key.open_string(field(column, id), s))
                .transpose()
        };
        Ok(Self {
            id,
            email: key.open_string(field("email", id), &account.email)?,
            email_confirmed: account.email_confirmed_at.is_some(),
            phone: open("phone", &account.phone)?,
            phone_confirmed: account.phone_confirmed_at.is_some(),
            full_name: open("full_name", &account.full_name)?,
            mfa_enabled: account.mfa_enabled(),
            banned_until: account.banned_until,
            deleted: account.deleted_at.is_some(),
            last_sign_in_at: account.last_sign_in_at,
            created_at: account.created_at,
        })
    }
}
