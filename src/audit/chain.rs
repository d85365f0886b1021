//! The hash chain: how an event is hashed, and how events join the chain.
//!
//! Each stored event carries `prev_hash`, the hash of the event before it,
//! and `hash = HMAC(audit chain key, prev_hash || canonical bytes)`, where
//! the canonical bytes cover every stored column but `hash` itself.
//! Changing, removing or reordering any stored event therefore breaks the
//! chain at that event, which [`super::verify`] finds; and since the key is
//! a data key wrapped by the master key, someone who can write the database
//! but has no master key cannot recompute the hashes after an edit. Events
//! before `audit_chain.keyed_from` (written before the chain was keyed)
//! keep their plain `SHA-256(prev_hash || canonical bytes)`. The head of
//! the chain (`audit_chain`) is one row that every append locks, so appends
//! are serialized and `seq` has no gaps.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::event::AuditEvent;
use super::store::{chain, events};
use crate::crypto::DataKey;
use crate::db::{Transaction, new_id};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// What the chain key's MAC of an event is for, so it can never be taken
/// for a MAC the same key makes for anything else (a checkpoint).
pub const CHAIN_PURPOSE: &str = "carebase/audit-chain/v1";

/// Rows per INSERT statement: far below the bind-parameter limits of both
/// backends (SQLite 32766, PostgreSQL 65535) at 20 columns a row.
const ROWS_PER_INSERT: usize = 500;

/// The canonical form of a stored event, defined once for [`append`] and
/// [`super::verify`]. Field order is fixed by this struct; values are the
/// stored ones (the JSON columns as their stored text, times in
/// microseconds), so hashing a row read back needs no re-serialization.
/// Changing this changes every hash: existing chains would no longer verify.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    id: Uuid,
    occurred_at: i64,
    actor_type: &'static str,
    actor_id: Option<Uuid>,
    actor_job: Option<&'a str>,
    session_id: Option<Uuid>,
    action: &'static str,
    resource_type: &'a str,
    resource_id: Option<Uuid>,
    facility_id: Option<Uuid>,
    patient_id: Option<Uuid>,
    /// Added after the first release: left out when empty, so the events
    /// written before it still hash as they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    lead_id: Option<Uuid>,
    changes: Option<&'a str>,
    client_addr: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    compliance_flags: &'a str,
    prev_hash: String,
}

/// The bytes of `row` that its hash covers: every column but `hash`.
pub fn canonical_bytes(row: &events::Model) -> Vec<u8> {
    let canonical = Canonical {
        seq: row.seq,
        id: row.id,
        occurred_at: row.occurred_at.as_micros(),
        actor_type: row.actor_type.as_str(),
        actor_id: row.actor_id,
        actor_job: row.actor_job.as_deref(),
        session_id: row.session_id,
        action: row.action.as_str(),
        resource_type: &row.resource_type,
        resource_id: row.resource_id,
        facility_id: row.facility_id,
        patient_id: row.patient_id,
        lead_id: row.lead_id,
        changes: row.changes.as_deref(),
        client_addr: row.client_addr.as_deref(),
        user_agent: row.user_agent.as_deref(),
        request_id: row.request_id.as_deref(),
        compliance_flags: &row.compliance_flags,
        prev_hash: hex(&row.prev_hash),
    };
    serde_json::to_vec(&canonical).expect("a struct of strings, integers and UUIDs serializes")
}

/// `SHA-256(prev_hash || canonical bytes)` of `row`, whatever its `hash`
/// says: the hash of the events written before the chain was keyed.
pub fn event_hash(row: &events::Model) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(&row.prev_hash);
    digest.update(canonical_bytes(row));
    digest.finalize().into()
}

/// `HMAC(key, prev_hash || canonical bytes)` of `row`: the hash of every
/// event from `keyed_from` on.
pub fn keyed_hash(key: &DataKey, row: &events::Model) -> [u8; 32] {
    let mut message = row.prev_hash.clone();
    message.extend_from_slice(&canonical_bytes(row));
    key.mac(CHAIN_PURPOSE, &message)
}

/// The hash `row` must carry, given where keying began and the key, if
/// any; `None` when the row is keyed and there is no key to check it with.
pub fn expected_hash(
    row: &events::Model,
    keyed_from: i64,
    key: Option<&DataKey>,
) -> Option<[u8; 32]> {
    if row.seq < keyed_from {
        return Some(event_hash(row));
    }
    key.map(|key| keyed_hash(key, row))
}

/// Lower-case hex, how hashes are shown and exported.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends `events` to the chain inside the caller's transaction and returns
/// their ids, in order. Call it as the last statement before `commit`: it
/// locks the chain head until the transaction ends, so every other append
/// waits that long. If it fails, the caller's transaction must fail with it
/// (it is rolled back when dropped), so no change goes unaudited.
///
/// `txn` must come from [`crate::db::Database::begin`]: on PostgreSQL the
/// head is locked with `SELECT … FOR UPDATE`; on SQLite, where there is no
/// row lock, the `BEGIN IMMEDIATE` that `begin` issues already holds the
/// database's only write lock. Its database must hold the audit chain key
/// ([`super::key::use_key`]): an event is never written with a hash that
/// anyone could recompute.
pub async fn append(txn: &Transaction, events: Vec<AuditEvent>) -> Result<Vec<Uuid>, DbErr> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // Every new event is keyed, whatever `keyed_from` says: it only marks
    // where the events written before keying end, and a head row edited to
    // move it forward must not make the server write unkeyed events.
    let key = txn.audit_key().ok_or_else(|| {
        DbErr::Custom("the audit chain key is not loaded, so no event can be appended".to_owned())
    })?;
    let head = lock_head(txn).await?;
    let mut seq = head.last_seq;
    let mut prev_hash = head.last_hash;
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let mut row = link(event, seq, prev_hash);
        row.hash = keyed_hash(key, &row).to_vec();
        prev_hash = row.hash.clone();
        rows.push(row);
    }
    let ids = rows.iter().map(|row| row.id).collect();
    let conn: &DatabaseTransaction = txn;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let models = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        events::Entity::insert_many(models)
            .exec_without_returning(conn)
            .await?;
    }
    move_head(conn, seq, prev_hash).await?;
    Ok(ids)
}

/// Appends `events` as the last statement of `txn` and commits it: the
/// usual end of a handler that changes something.
pub async fn commit(txn: Transaction, events: Vec<AuditEvent>) -> Result<(), DbErr> {
    append(&txn, events).await?;
    txn.commit().await
}

async fn lock_head(txn: &DatabaseTransaction) -> Result<chain::Model, DbErr> {
    chain::Entity::find_by_id(chain::HEAD)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the audit_chain head row is missing".to_owned()))
}

async fn move_head(txn: &DatabaseTransaction, seq: i64, hash: Vec<u8>) -> Result<(), DbErr> {
    chain::Entity::update_many()
        .col_expr(chain::Column::LastSeq, Expr::value(seq))
        .col_expr(chain::Column::LastHash, Expr::value(hash))
        .filter(chain::Column::Id.eq(chain::HEAD))
        .exec(txn)
        .await?;
    Ok(())
}

/// The stored row for `event` at position `seq` after the event whose hash
/// is `prev_hash`.
fn link(event: AuditEvent, seq: i64, prev_hash: Vec<u8>) -> events::Model {
    let flags: Vec<&str> = event.compliance_flags.iter().map(|f| f.as_str()).collect();
    let mut row = events::Model {
        id: new_id(),
        seq,
        occurred_at: event.occurred_at,
        actor_type: event.actor.actor_type(),
        actor_id: event.actor.id(),
        actor_job: event.actor.job().map(str::to_owned),
        session_id: event.actor.session_id(),
        action: event.action,
        resource_type: event.resource_type,
        resource_id: event.resource_id,
        facility_id: event.facility_id,
        patient_id: event.patient_id,
        lead_id: event.lead_id,
        changes: event.changes.map(|c| c.as_value().to_string()),
        client_addr: event.context.client_addr,
        user_agent: event.context.user_agent,
        request_id: event.context.request_id,
        compliance_flags: serde_json::Value::from(flags).to_string(),
        prev_hash,
        hash: Vec::new(),
    };
    row.hash = event_hash(&row).to_vec();
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::{AuditAction, AuditActor, ComplianceFlag, RequestContext, redact};
    use crate::time::Timestamp;

    fn sample() -> events::Model {
        let event = AuditEvent {
            occurred_at: Timestamp::from(
                jiff::Timestamp::from_microsecond(1_795_000_000_123_456).unwrap(),
            ),
            ..AuditEvent::new(
                AuditActor::Account {
                    id: Uuid::from_u128(1),
                    session_id: Some(Uuid::from_u128(2)),
                },
                AuditAction::Update,
                "patient",
            )
            .resource(Uuid::from_u128(3))
            .facility(Uuid::from_u128(4))
            .patient(Uuid::from_u128(3))
            .changes(redact(
                serde_json::json!({"name": "Jane Roe", "status": "active"}),
                &["name"],
            ))
            .context(RequestContext {
                client_addr: Some("192.0.2.7".to_owned()),
                user_agent: Some("curl/8".to_owned()),
                request_id: Some("req-1".to_owned()),
            })
            .flag(ComplianceFlag::Phi)
        };
        let mut row = link(event, 7, GENESIS_HASH.to_vec());
        row.id = Uuid::from_u128(5);
        row.hash = event_hash(&row).to_vec();
        row
    }

    #[test]
    fn the_canonical_form_is_fixed() {
        let row = sample();
        assert_eq!(
            String::from_utf8(canonical_bytes(&row)).unwrap(),
            concat!(
                r#"{"seq":7,"id":"00000000-0000-0000-0000-000000000005","#,
                r#""occurred_at":1795000000123456,"actor_type":"account","#,
                r#""actor_id":"00000000-0000-0000-0000-000000000001","actor_job":null,"#,
                r#""session_id":"00000000-0000-0000-0000-000000000002","action":"update","#,
                r#""resource_type":"patient","resource_id":"00000000-0000-0000-0000-000000000003","#,
                r#""facility_id":"00000000-0000-0000-0000-000000000004","#,
                r#""patient_id":"00000000-0000-0000-0000-000000000003","#,
                r#""changes":"{\"name\":\"[redacted]\",\"status\":\"active\"}","#,
                r#""client_addr":"192.0.2.7","user_agent":"curl/8","request_id":"req-1","#,
                r#""compliance_flags":"[\"phi\"]","#,
                r#""prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#
            )
        );
    }

    #[test]
    fn the_hash_covers_prev_hash_and_every_column() {
        let row = sample();
        let hash = event_hash(&row);
        assert_eq!(row.hash, hash.to_vec());
        let mut expected = Sha256::new();
        expected.update(GENESIS_HASH);
        expected.update(canonical_bytes(&row));
        assert_eq!(hash, <[u8; 32]>::from(expected.finalize()));

        let changed: [fn(&mut events::Model); 9] = [
            |r| r.seq += 1,
            |r| r.id = Uuid::from_u128(6),
            |r| r.occurred_at = Timestamp::now(),
            |r| r.actor_id = None,
            |r| r.action = AuditAction::Read,
            |r| r.changes = None,
            |r| r.compliance_flags = "[]".to_owned(),
            |r| r.prev_hash = vec![1; 32],
            |r| r.lead_id = Some(Uuid::from_u128(8)),
        ];
        for change in changed {
            let mut other = row.clone();
            change(&mut other);
            assert_ne!(event_hash(&other), hash);
        }
        let mut rehashed = row.clone();
        rehashed.hash = vec![9; 32];
        assert_eq!(
            event_hash(&rehashed),
            hash,
            "the hash does not cover itself"
        );
    }

    #[test]
    fn the_keyed_hash_needs_the_key() {
        let row = sample();
        let key = DataKey::new(Uuid::from_u128(9), &[1u8; 32]);
        let keyed = keyed_hash(&key, &row);
        assert_ne!(keyed, event_hash(&row), "not the plain hash");
        let other = DataKey::new(Uuid::from_u128(9), &[2u8; 32]);
        assert_ne!(keyed, keyed_hash(&other, &row));
        let mut changed = row.clone();
        changed.resource_type = "other".to_owned();
        assert_ne!(keyed, keyed_hash(&key, &changed));
        assert_eq!(expected_hash(&row, 7, Some(&key)), Some(keyed));
        assert_eq!(expected_hash(&row, 8, None), Some(event_hash(&row)));
        assert_eq!(expected_hash(&row, 7, None), None, "keyed, and no key");
    }

    #[test]
    fn linked_events_store_redacted_changes_and_flag_names() {
        let row = sample();
        assert_eq!(
            row.changes.as_deref(),
            Some(r#"{"name":"[redacted]","status":"active"}"#)
        );
        assert_eq!(row.compliance_flags, r#"["phi"]"#);
        assert_eq!(row.prev_hash, GENESIS_HASH.to_vec());
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }
}
