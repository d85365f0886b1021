//! Data keys: one per facility and one for installation-wide records,
//! each wrapped by the master key (envelope encryption).
//!
//! Patient fields are sealed under their facility's data key, so a key
//! never covers more than one tenant, and rotating the master key only
//! rewraps these small keys instead of re-encrypting every field.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::Rng;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ConnectionTrait};
use zeroize::Zeroizing;

use super::field::DataKey;
use super::{MasterKey, registry};
use crate::db::migrate::hold_startup_lock;
use crate::db::{Database, new_id};
use crate::time::Timestamp;

const NONCE_LEN: usize = 12;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `installation`, or the facility id.
    pub scope: String,
    /// `nonce || AES-256-GCM(kek, secret)`, with the key id as associated data.
    pub wrapped: Vec<u8>,
    /// The master key it is wrapped under.
    pub master_key_id: String,
    pub created_at: Timestamp,
    /// The same key wrapped under the master key it was rotated away from,
    /// kept so that servers still running on that key go on opening it
    /// until `carebase keys forget-retired` drops it.
    pub previous_wrapped: Option<Vec<u8>>,
    pub previous_master_key_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Whose data a key protects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyScope {
    /// Records that belong to no facility: accounts, the outbox.
    Installation,
    Facility(Uuid),
    /// The audit chain's MAC key. A data key, not a key derived from the
    /// master key, so that `keys rotate` rewraps it like the others and the
    /// events keyed before a rotation still verify after it.
    AuditChain,
}

impl KeyScope {
    fn stored(self) -> String {
        match self {
            KeyScope::Installation => "installation".to_owned(),
            KeyScope::Facility(id) => id.to_string(),
            KeyScope::AuditChain => "audit-chain".to_owned(),
        }
    }
}

/// Why a data key is not available.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("data key {0} does not open under this master key")]
    Unwrap(Uuid),
    /// The master key was rotated while this server ran with the old one.
    /// It can still use the keys it holds, but must not wrap new ones.
    #[error("the master key was rotated; restart this server with the new key")]
    MasterKeyRetired,
}

/// The data keys, unwrapped on first use and kept in memory. Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    master: MasterKey,
    keys: RwLock<HashMap<KeyScope, Arc<DataKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring(master={})", self.inner.master.id())
    }
}

impl Keyring {
    pub fn new(db: Database, master: MasterKey) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                master,
                keys: RwLock::new(HashMap::new()),
            }),
        }
    }

    pub fn master_key(&self) -> &MasterKey {
        &self.inner.master
    }

    /// The data key for `scope`, made and recorded on first use.
    pub async fn key(&self, scope: KeyScope) -> Result<Arc<DataKey>, KeyringError> {
        if let Some(key) = self.cached(scope) {
            return Ok(key);
        }
        let key = match find(self.inner.db.conn(), scope).await? {
            Some(row) => Arc::new(open(&self.inner.master, &row)?),
            None => Arc::new(self.create(scope).await?),
        };
        if let Ok(mut keys) = self.inner.keys.write() {
            keys.insert(scope, key.clone());
        }
        Ok(key)
    }

    /// The installation-wide data key.
    pub async fn installation(&self) -> Result<Arc<DataKey>, KeyringError> {
        self.key(KeyScope::Installation).await
    }

    /// The data keys of `facility_ids`, each fetched once.
    pub async fn facilities(
        &self,
        facility_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Arc<DataKey>>, KeyringError> {
        let mut keys = HashMap::new();
        for &id in facility_ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(id) {
                slot.insert(self.facility(id).await?);
            }
        }
        Ok(keys)
    }

    /// A facility's data key.
    pub async fn facility(&self, facility_id: Uuid) -> Result<Arc<DataKey>, KeyringError> {
        self.key(KeyScope::Facility(facility_id)).await
    }

    /// The data key for `scope` if one was made, never making one: for
    /// checks that must tell a missing key from a new one.
    pub async fn existing(&self, scope: KeyScope) -> Result<Option<Arc<DataKey>>, KeyringError> {
        if let Some(key) = self.cached(scope) {
            return Ok(Some(key));
        }
        match find(self.inner.db.conn(), scope).await? {
            Some(row) => Ok(Some(Arc::new(open(&self.inner.master, &row)?))),
            None => Ok(None),
        }
    }

    fn cached(&self, scope: KeyScope) -> Option<Arc<DataKey>> {
        self.inner.keys.read().ok()?.get(&scope).cloned()
    }

    /// Makes the key under the startup lock, so two servers cannot make two
    /// keys for one scope, and only while this server's master key is the
    /// active one.
    async fn create(&self, scope: KeyScope) -> Result<DataKey, KeyringError> {
        let db = &self.inner.db;
        let txn = db.begin().await?;
        hold_startup_lock(db, &txn).await?;
        if let Some(row) = find(&txn, scope).await? {
            return open(&self.inner.master, &row);
        }
        let active = registry::active_key_ids(&txn).await?;
        if !active.iter().any(|id| id == self.inner.master.id()) {
            return Err(KeyringError::MasterKeyRetired);
        }
        let id = new_id();
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(secret.as_mut());
        ActiveModel {
            id: ActiveValue::Set(id),
            scope: ActiveValue::Set(scope.stored()),
            wrapped: ActiveValue::Set(wrap(&self.inner.master, id, &secret)),
            master_key_id: ActiveValue::Set(self.inner.master.id().to_owned()),
            created_at: ActiveValue::Set(Timestamp::now()),
            previous_wrapped: ActiveValue::Set(None),
            previous_master_key_id: ActiveValue::Set(None),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(DataKey::new(id, &secret))
    }
}

async fn find(db: &impl ConnectionTrait, scope: KeyScope) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::Scope.eq(scope.stored()))
        .one(db)
        .await
}

fn kek(master: &MasterKey) -> Aes256Gcm {
    let kek = master.derive("carebase/kek/v1");
    <Aes256Gcm as KeyInit>::new_from_slice(kek.as_ref()).expect("AES-256-GCM takes a 32-byte key")
}

fn wrap(master: &MasterKey, id: Uuid, secret: &[u8; 32]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = kek(master)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: secret,
                aad: id.as_bytes(),
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut wrapped = nonce.to_vec();
    wrapped.extend_from_slice(&sealed);
    wrapped
}

fn unwrap_secret(master: &MasterKey, row: &Model) -> Result<Zeroizing<[u8; 32]>, KeyringError> {
    unwrap_bytes(master, row.id, &row.wrapped)
}

fn unwrap_bytes(
    master: &MasterKey,
    id: Uuid,
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; 32]>, KeyringError> {
    let fail = || KeyringError::Unwrap(id);
    let (nonce, sealed) = wrapped.split_at_checked(NONCE_LEN).ok_or_else(fail)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| fail())?;
    let secret = Zeroizing::new(
        kek(master)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| fail())?,
    );
    let bytes: [u8; 32] = secret.as_slice().try_into().map_err(|_| fail())?;
    Ok(Zeroizing::new(bytes))
}

/// Opens a data key with this server's master key: the current wrapping,
/// or, on a server still running on the key it was rotated away from, the
/// one kept from before the rotation. A key this master key no longer
/// opens means the server must restart on the new one.
fn open(master: &MasterKey, row: &Model) -> Result<DataKey, KeyringError> {
    let wrapped = if row.master_key_id == master.id() {
        &row.wrapped
    } else if row.previous_master_key_id.as_deref() == Some(master.id()) {
        row.previous_wrapped
            .as_ref()
            .ok_or(KeyringError::MasterKeyRetired)?
    } else {
        return Err(KeyringError::MasterKeyRetired);
    };
    let secret = unwrap_bytes(master, row.id, wrapped)?;
    Ok(DataKey::new(row.id, &secret))
}

/// Rewraps every data key from `current` to `next` and makes `next` the
/// active master key, in one transaction. Data keys themselves do not
/// change, so no field is re-encrypted; each keeps its wrapping under
/// `current` as well, so servers still running on it keep opening keys
/// they had not cached, until [`forget_retired`].
pub async fn rotate(db: &Database, current: &MasterKey, next: &MasterKey) -> anyhow::Result<usize> {
    anyhow::ensure!(
        current.id() != next.id(),
        "the new master key is the current one"
    );
    let txn = db.begin().await?;
    hold_startup_lock(db, &txn).await?;
    let active = registry::active_key_ids(&txn).await?;
    anyhow::ensure!(
        active.iter().any(|id| id == current.id()),
        "this database is not on master key {} (active: {})",
        current.id(),
        active.join(", ")
    );
    let rows = Entity::find().all(&txn).await?;
    let count = rows.len();
    for row in rows {
        let secret = unwrap_secret(current, &row)?;
        let mut updated: ActiveModel = row.clone().into();
        updated.previous_wrapped = ActiveValue::Set(Some(wrap(current, row.id, &secret)));
        updated.previous_master_key_id = ActiveValue::Set(Some(current.id().to_owned()));
        updated.wrapped = ActiveValue::Set(wrap(next, row.id, &secret));
        updated.master_key_id = ActiveValue::Set(next.id().to_owned());
        updated.update(&txn).await?;
    }
    registry::record_rotation(&txn, current, next).await?;
    txn.commit().await?;
    Ok(count)
}

/// Drops the wrappings kept under retired master keys, once every server
/// runs on the active one: from then on a retired key opens nothing.
/// Returns how many data keys had one.
pub async fn forget_retired(db: &Database) -> anyhow::Result<u64> {
    let txn = db.begin().await?;
    hold_startup_lock(db, &txn).await?;
    let result = Entity::update_many()
        .col_expr(
            Column::PreviousWrapped,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(
            Column::PreviousMasterKeyId,
            Expr::value(Option::<String>::None),
        )
        .filter(Column::PreviousWrapped.is_not_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected)
}
