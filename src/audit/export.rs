//! Exports of audit events for auditors: NDJSON, exact and machine-readable
//! (each line is a [`StoredEvent`] and can be checked against its hash),
//! and CSV for spreadsheets.

use std::io::Write;

use serde::Serialize;
use uuid::Uuid;

use super::search::StoredEvent;
use crate::time::Timestamp;

/// Writes one JSON object per line.
pub fn write_ndjson(events: &[StoredEvent], mut out: impl Write) -> std::io::Result<()> {
    for event in events {
        serde_json::to_writer(&mut out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes a header line and one row per event. `changes` and
/// `compliance_flags` are JSON text in their cells.
///
/// Free-text cells that a spreadsheet would take for a formula (starting
/// with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`:
/// a user agent or resource name is chosen by whoever sent the request, and
/// must not run as a formula on an auditor's machine. The NDJSON export
/// keeps every value exact.
pub fn write_csv(events: &[StoredEvent], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    for event in events {
        writer.serialize(CsvRow::from(event))?;
    }
    writer.flush()?;
    Ok(())
}

/// A CSV row: the fields of [`StoredEvent`] in the same order, flat.
#[derive(Serialize)]
struct CsvRow<'a> {
    id: Uuid,
    seq: i64,
    occurred_at: Timestamp,
    actor_type: &'static str,
    actor_id: Option<Uuid>,
    actor_job: Option<String>,
    session_id: Option<Uuid>,
    action: &'static str,
    resource_type: String,
    resource_id: Option<Uuid>,
    facility_id: Option<Uuid>,
    patient_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    changes: Option<String>,
    client_addr: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    compliance_flags: String,
    prev_hash: &'a str,
    hash: &'a str,
    phi_changes: Option<String>,
}

impl<'a> From<&'a StoredEvent> for CsvRow<'a> {
    fn from(event: &'a StoredEvent) -> Self {
        let text = |value: &Option<String>| value.as_deref().map(cell);
        Self {
            id: event.id,
            seq: event.seq,
            occurred_at: event.occurred_at,
            actor_type: event.actor_type.as_str(),
            actor_id: event.actor_id,
            actor_job: text(&event.actor_job),
            session_id: event.session_id,
            action: event.action.as_str(),
            resource_type: cell(&event.resource_type),
            resource_id: event.resource_id,
            facility_id: event.facility_id,
            patient_id: event.patient_id,
            lead_id: event.lead_id,
            changes: event.changes.as_ref().map(|c| cell(&c.to_string())),
            client_addr: text(&event.client_addr),
            user_agent: text(&event.user_agent),
            request_id: text(&event.request_id),
            compliance_flags: cell(
                &serde_json::Value::from(event.compliance_flags.clone()).to_string(),
            ),
            prev_hash: &event.prev_hash,
            hash: &event.hash,
            phi_changes: event.phi_changes.as_ref().map(|c| cell(&c.to_string())),
        }
    }
}

/// A free-text value made safe for a spreadsheet cell: one that starts
/// like a formula gets a leading `'`. Every CSV export of free text uses it.
pub fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_are_defused_and_others_kept() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-1+1"), "'-1+1");
        assert_eq!(cell("Mozilla/5.0"), "Mozilla/5.0");
        assert_eq!(cell(""), "");
    }
}
