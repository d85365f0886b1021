//! What an update changed, for the log: the names of the fields always, and
//! their values before and after, with PHI values sealed.
//!
//! `changes` holds `{"fields": [...], "before": {...}, "after": {...}}` with
//! every PHI value `"[redacted]"` (the same [`redact`] as every event), and
//! beside it `"sealed"`: the unredacted before and after, sealed with the
//! facility's data key. Whoever reads the table, a timeline or a raw
//! backup sees which fields changed and nothing of their PHI; an auditor
//! reading the log through the API (`audit:read`) gets them opened, as
//! `phi_changes`, and that opening is itself recorded.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::event::{AuditAction, AuditEvent, ComplianceFlag, Redacted, redact};
use super::search::StoredEvent;
use crate::app::AppState;
use crate::crypto::{CryptoError, DataKey, FieldRef, Sealed};
use crate::db::new_id;
use crate::policy::Actor;

/// The key of the sealed part of `changes`.
pub const SEALED: &str = "sealed";

/// Where a sealed change set is bound: its own random id, kept beside it.
fn place(id: Uuid) -> FieldRef<'static> {
    FieldRef::new("audit_events", "changes", id)
}

/// The change record of an update that set `fields`, from the record as it
/// was (`before`) to as it is (`after`), both as their API JSON. Values of
/// `phi_fields` (at any depth) appear only sealed under `key`, the data key
/// of the facility the event is recorded for.
pub fn changed(
    key: &DataKey,
    fields: &[&str],
    before: &Value,
    after: &Value,
    phi_fields: &[&str],
) -> Redacted {
    let pick = |record: &Value| -> Value {
        let values: Map<String, Value> = fields
            .iter()
            .map(|field| {
                let value = record.get(*field).cloned().unwrap_or(Value::Null);
                ((*field).to_owned(), value)
            })
            .collect();
        Value::Object(values)
    };
    let values = json!({ "before": pick(before), "after": pick(after) });
    let shown = redact(values.clone(), phi_fields).into_inner();
    let mut record = json!({ "fields": fields });
    if let (Value::Object(record), Value::Object(shown)) = (&mut record, &shown) {
        record.extend(shown.clone());
    }
    if shown != values {
        let id = new_id();
        let sealed = key.seal(place(id), values.to_string().as_bytes());
        let sealed = json!({ "ref": id, "value": STANDARD.encode(sealed.as_bytes()) });
        if let Value::Object(record) = &mut record {
            record.insert(SEALED.to_owned(), sealed);
        }
    }
    // Redacted again, so the sealed part is held to the same rule as every
    // change: its keys name no PHI field, and so nothing is replaced.
    redact(record, phi_fields)
}

/// The sealed before and after of a change record, opened with `key`;
/// `Ok(None)` when the record has none.
pub fn open(key: &DataKey, changes: &Value) -> Result<Option<Value>, CryptoError> {
    let Some(sealed) = changes.get(SEALED) else {
        return Ok(None);
    };
    let id = sealed
        .get("ref")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or(CryptoError::Malformed)?;
    let bytes = sealed
        .get("value")
        .and_then(Value::as_str)
        .and_then(|text| STANDARD.decode(text).ok())
        .ok_or(CryptoError::Malformed)?;
    let opened = key.open(place(id), &Sealed::from_bytes(bytes))?;
    serde_json::from_slice(&opened)
        .map(Some)
        .map_err(|_| CryptoError::Malformed)
}

/// A change record as shown outside the audit API: without its sealed part.
pub fn without_sealed(mut changes: Value) -> Value {
    if let Value::Object(map) = &mut changes {
        map.remove(SEALED);
    }
    changes
}

/// Opens the sealed values of `events` for `actor`, an auditor, and returns
/// the reads that opening makes: one per patient whose PHI it showed, to
/// be recorded before the events are sent. A value that does not open is
/// left sealed and logged; the rest of the page is still served.
pub async fn open_for_auditor(
    state: &AppState,
    actor: &Actor,
    events: &mut [StoredEvent],
) -> Result<Vec<AuditEvent>, crate::error::ApiError> {
    let mut shown = BTreeSet::new();
    for event in events.iter_mut() {
        let (Some(changes), Some(facility_id)) = (&event.changes, event.facility_id) else {
            continue;
        };
        if changes.get(SEALED).is_none() {
            continue;
        }
        let key = state.keyring.facility(facility_id).await?;
        match open(&key, changes) {
            Ok(opened) => {
                event.phi_changes = opened;
                shown.insert((facility_id, event.patient_id));
            }
            Err(e) => tracing::warn!(
                seq = event.seq,
                error = %e,
                "the sealed values of an audit event do not open"
            ),
        }
    }
    Ok(shown
        .into_iter()
        .map(|(facility_id, patient_id)| {
            let read = actor
                .event(AuditAction::Read, "audit_event")
                .facility(facility_id)
                .changes(redact(json!({ "opened": "phi_changes" }), &[]))
                .flag(ComplianceFlag::Phi);
            match patient_id {
                Some(patient_id) => read.patient(patient_id),
                None => read,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::new(Uuid::now_v7(), &[5u8; 32])
    }

    #[test]
    fn names_and_plain_values_show_and_phi_values_open_only_with_the_key() {
        let key = key();
        let before = json!({"first_name": "Quuxworth", "gender": "f", "mrn": "A-1"});
        let after = json!({"first_name": "Zanzibar", "gender": "m", "mrn": "A-1"});
        let changes = changed(
            &key,
            &["first_name", "gender"],
            &before,
            &after,
            &["first_name", "mrn"],
        )
        .into_inner();
        assert_eq!(changes["fields"], json!(["first_name", "gender"]));
        assert_eq!(
            changes["before"],
            json!({"first_name": "[redacted]", "gender": "f"})
        );
        assert_eq!(
            changes["after"],
            json!({"first_name": "[redacted]", "gender": "m"})
        );
        let text = changes.to_string();
        assert!(
            !text.contains("Quuxworth") && !text.contains("Zanzibar"),
            "{text}"
        );

        let opened = open(&key, &changes).unwrap().unwrap();
        assert_eq!(
            opened,
            json!({
                "before": {"first_name": "Quuxworth", "gender": "f"},
                "after": {"first_name": "Zanzibar", "gender": "m"},
            })
        );
        let other = DataKey::new(Uuid::now_v7(), &[6u8; 32]);
        assert!(open(&other, &changes).is_err());
        assert_eq!(
            without_sealed(changes.clone()).get(SEALED),
            None,
            "timelines show no ciphertext"
        );
    }

    #[test]
    fn changes_without_phi_are_not_sealed() {
        let changes = changed(
            &key(),
            &["gender"],
            &json!({"gender": "f"}),
            &json!({"gender": "m"}),
            &["first_name"],
        )
        .into_inner();
        assert_eq!(
            changes,
            json!({"fields": ["gender"], "before": {"gender": "f"}, "after": {"gender": "m"}})
        );
        assert_eq!(open(&key(), &changes).unwrap(), None);
    }
}
