//! Leads in and out as CSV, for clinics moving from a spreadsheet or from
//! another CRM and for reporting in one.
//!
//! An import file has a header row naming its columns, each a field of
//! [`NewLead`] (see [`IMPORT_COLUMNS`]); every data row is parsed and
//! checked on its own, so one bad row is reported, by row and field, and
//! does not stop the others. Duplicates within the file are found here;
//! duplicates of stored leads by the importer, which reads the database.
//!
//! An export writes the leads as one row each. Free-text cells that a
//! spreadsheet would run as a formula are defused as the audit export does
//! ([`crate::audit::export::cell`]); an import takes such a cell back as it
//! was, so an exported phone such as `'+1 555…` imports as `+1 555…`.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::leads::{self, Lead, NewLead, Readiness};
use crate::audit::export::cell;
use crate::crypto::{BlindIndex, DataKey};
use crate::error::{ApiError, FieldError};

/// Most data rows one import takes; split bigger files. At about 100 bytes
/// a row this is what fits the default 1 MiB body limit.
pub const MAX_IMPORT_ROWS: usize = 10_000;

/// The columns an import file may have, each the field of [`NewLead`] it
/// fills. `first_name` and `last_name` are required; every other column
/// may be left out, and an empty cell is an absent value.
pub const IMPORT_COLUMNS: [&str; 11] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "source",
    "readiness",
    "outcome",
    "lead_type",
    "notes",
    "owner_id",
    "health_coach_id",
];

const REQUIRED_COLUMNS: [&str; 2] = ["first_name", "last_name"];

/// A row that was not imported, and why. A row with several bad fields
/// appears once per field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RejectedRow {
    /// The data row, counting from 1 at the first row after the header.
    pub row: usize,
    /// The line of the file the row starts on, the header being line 1
    /// (the spreadsheet's row number, unless a cell spans lines).
    pub line: u64,
    /// The column at fault.
    pub field: String,
    pub reason: String,
}

/// A row of the file that parsed and passed the checks of a new lead.
#[derive(Debug)]
pub struct ImportRow {
    pub row: usize,
    pub line: u64,
    pub lead: NewLead,
}

impl ImportRow {
    pub fn reject(&self, field: &str, reason: impl Into<String>) -> RejectedRow {
        RejectedRow {
            row: self.row,
            line: self.line,
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// An import file, read: the rows to import and the rows refused.
#[derive(Debug, Default)]
pub struct ImportFile {
    pub rows: Vec<ImportRow>,
    pub rejected: Vec<RejectedRow>,
}

/// Reads an import file. A file that cannot be imported at all (not UTF-8,
/// no header, unknown or missing columns, too many rows) is refused whole;
/// otherwise each row is kept or rejected on its own.
pub fn read_import(body: &[u8]) -> Result<ImportFile, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::MalformedRequest("the CSV is not UTF-8 text; save it as CSV UTF-8".to_owned())
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|_| unreadable(1))?
        .iter()
        .map(str::to_lowercase)
        .collect::<Vec<_>>();
    let columns = check_header(&header)?;
    let mut file = ImportFile::default();
    let (mut row, mut filled) = (0, 0);
    for record in reader.records() {
        row += 1;
        let record = record.map_err(|_| unreadable(row))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        filled += 1;
        if filled > MAX_IMPORT_ROWS {
            return Err(ApiError::invalid(
                "body",
                format!(
                    "has more than {MAX_IMPORT_ROWS} rows; import at most {MAX_IMPORT_ROWS} rows at a time"
                ),
            ));
        }
        let line = record.position().map_or(0, |p| start_line(text, p));
        let reject = |field: &str, reason: &str| RejectedRow {
            row,
            line,
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        if record.len() != columns.len() {
            file.rejected.push(reject(
                "row",
                &format!(
                    "has {} cells where the header has {} columns",
                    record.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let (lead, errors) = parse_row(&columns, &record);
        if errors.is_empty() {
            file.rows.push(ImportRow { row, line, lead });
        } else {
            file.rejected
                .extend(errors.into_iter().map(|e| reject(&e.field, &e.reason)));
        }
    }
    Ok(file)
}

/// The line a record's first cell is on. The reader places a record after
/// the blank lines before it at the first of them; they are skipped here.
fn start_line(text: &str, position: &csv::Position) -> u64 {
    let from = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let blank = text
        .get(from..)
        .unwrap_or_default()
        .chars()
        .take_while(|c| matches!(c, '\r' | '\n'))
        .filter(|c| *c == '\n')
        .count();
    position.line() + blank as u64
}

fn unreadable(row: usize) -> ApiError {
    ApiError::MalformedRequest(format!("the CSV cannot be read at data row {row}"))
}

/// The column names, checked: each known, none twice, the required ones
/// there. Every problem is named at once.
fn check_header(header: &[String]) -> Result<Vec<&'static str>, ApiError> {
    let mut errors = Vec::new();
    let mut columns = Vec::new();
    for name in header {
        match IMPORT_COLUMNS.iter().find(|c| **c == name.as_str()) {
            Some(known) if columns.contains(known) => {
                errors.push(FieldError::new(name, "is a column the header repeats"));
            }
            Some(known) => columns.push(*known),
            None => errors.push(FieldError::new(
                if name.is_empty() { "header" } else { name },
                format!(
                    "is not a column leads are imported with; the columns are {}",
                    IMPORT_COLUMNS.join(", ")
                ),
            )),
        }
    }
    for required in REQUIRED_COLUMNS {
        if !columns.contains(&required) {
            errors.push(FieldError::new(required, "is a required column"));
        }
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A cell as it was before an export defused it.
fn undefused(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => value,
    }
}

/// The lead of one row, and every problem with it.
fn parse_row(columns: &[&'static str], record: &csv::StringRecord) -> (NewLead, Vec<FieldError>) {
    let mut lead = NewLead::default();
    let mut errors = Vec::new();
    for (column, value) in columns.iter().zip(record.iter()) {
        let value = undefused(value);
        let given = (!value.is_empty()).then(|| value.to_owned());
        match *column {
            "first_name" => lead.first_name = value.to_owned(),
            "last_name" => lead.last_name = value.to_owned(),
            "email" => lead.email = given,
            "phone" => lead.phone = given,
            "source" => lead.source = given,
            "outcome" => lead.outcome = given,
            "lead_type" => lead.lead_type = given,
            "notes" => lead.notes = given,
            "readiness" if value.is_empty() => {}
            "readiness" => match Readiness::ALL
                .into_iter()
                .find(|r| r.as_str().eq_ignore_ascii_case(value))
            {
                Some(readiness) => lead.readiness = Some(readiness),
                None => errors.push(FieldError::new(
                    "readiness",
                    format!(
                        "must be one of {}",
                        Readiness::ALL.map(Readiness::as_str).join(", ")
                    ),
                )),
            },
            "owner_id" | "health_coach_id" if value.is_empty() => {}
            "owner_id" | "health_coach_id" => match value.parse::<Uuid>() {
                Ok(id) if *column == "owner_id" => lead.owner_id = Some(id),
                Ok(id) => lead.health_coach_id = Some(id),
                Err(_) => errors.push(FieldError::new(*column, "must be an account id (a UUID)")),
            },
            _ => {}
        }
    }
    errors.extend(lead.checks().into_errors());
    (lead, errors)
}

/// A lead's blind indexes by field, as duplicates are compared by.
pub type Contacts = Vec<(&'static str, BlindIndex)>;

/// Rejects each row whose email or phone an earlier accepted row of the
/// same file has, keeping the first; returns the rows that remain with
/// their [`Contacts`], for the comparison with stored leads.
pub fn without_repeats(
    key: &DataKey,
    rows: Vec<ImportRow>,
    rejected: &mut Vec<RejectedRow>,
) -> Vec<(ImportRow, Contacts)> {
    let mut seen: HashMap<BlindIndex, usize> = HashMap::new();
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        let contacts = contact_indexes(key, &row.lead);
        let repeat = contacts
            .iter()
            .find_map(|(field, index)| seen.get(index).map(|first| (*field, *first)));
        if let Some((field, first)) = repeat {
            rejected.push(row.reject(field, format!("row {first} of this file has this {field}")));
            continue;
        }
        for (_, index) in &contacts {
            seen.insert(index.clone(), row.row);
        }
        kept.push((row, contacts));
    }
    kept
}

/// The blind indexes a lead is compared by for duplicates, by field.
pub fn contact_indexes(key: &DataKey, lead: &NewLead) -> Contacts {
    let email = lead
        .email
        .as_deref()
        .map(|e| ("email", leads::email_index(key, e)));
    let phone = lead
        .phone
        .as_deref()
        .map(|p| ("phone", leads::phone_index(key, p)));
    email.into_iter().chain(phone).collect()
}

/// The columns of an export, in order.
pub const EXPORT_COLUMNS: [&str; 22] = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "source",
    "readiness",
    "status",
    "pipeline_id",
    "stage",
    "outcome",
    "lead_type",
    "number_of_calls",
    "score",
    "review_status",
    "owner_id",
    "health_coach_id",
    "interests",
    "notes",
    "patient_id",
    "created_at",
    "updated_at",
];

/// Writes the header of an export.
pub fn write_export_header(out: &mut csv::Writer<Vec<u8>>) -> Result<(), csv::Error> {
    out.write_record(EXPORT_COLUMNS)
}

/// Writes one lead as a row of [`EXPORT_COLUMNS`]; interests are their
/// procedures, separated by `; `.
pub fn write_export_row(out: &mut csv::Writer<Vec<u8>>, lead: &Lead) -> Result<(), csv::Error> {
    let text = |value: &str| cell(value);
    let optional = |value: &Option<String>| value.as_deref().map(cell).unwrap_or_default();
    let id = |value: Option<Uuid>| value.map(|v| v.to_string()).unwrap_or_default();
    let interests = lead
        .interests
        .iter()
        .map(|i| i.procedure.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    out.write_record([
        lead.id.to_string(),
        text(&lead.first_name),
        text(&lead.last_name),
        optional(&lead.email),
        optional(&lead.phone),
        text(&lead.source),
        lead.readiness.as_str().to_owned(),
        lead.status.as_str().to_owned(),
        lead.pipeline_id.to_string(),
        text(&lead.stage),
        optional(&lead.outcome),
        optional(&lead.lead_type),
        lead.number_of_calls.to_string(),
        lead.score.to_string(),
        lead.review.status.as_str().to_owned(),
        id(lead.owner_id),
        id(lead.health_coach_id),
        text(&interests),
        optional(&lead.notes),
        id(lead.patient_id),
        lead.created_at.to_string(),
        lead.updated_at.to_string(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn rows_are_kept_or_rejected_on_their_own() {
        let csv = "\u{feff}First_Name, last_name ,email,phone,readiness,owner_id\n\
                   Ada,Lovelace,ada@example.org,,follow up,\n\
                   \n\
                   ,Nameless,x@example.org,,Lukewarm,not-a-uuid\n\
                   ,,,,,\n\
                   Grace,Hopper,,'+1 555 010 1234,,\n\
                   Too,Few\n";
        let file = read_import(csv.as_bytes()).unwrap();
        let kept: Vec<(usize, u64, &str)> = file
            .rows
            .iter()
            .map(|r| (r.row, r.line, r.lead.first_name.as_str()))
            .collect();
        assert_eq!(kept, [(1, 2, "Ada"), (4, 6, "Grace")]);
        assert_eq!(file.rows[0].lead.readiness, Some(Readiness::FollowUp));
        assert_eq!(file.rows[0].lead.phone, None, "an empty cell is absent");
        assert_eq!(
            file.rows[1].lead.phone.as_deref(),
            Some("+1 555 010 1234"),
            "an exported cell's formula guard is taken off"
        );
        let rejected: Vec<(usize, u64, &str)> = file
            .rejected
            .iter()
            .map(|r| (r.row, r.line, r.field.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (2, 4, "readiness"),
                (2, 4, "owner_id"),
                (2, 4, "first_name"),
                (5, 7, "row")
            ]
        );
    }

    #[test]
    fn a_file_with_a_bad_header_is_refused_whole_naming_each_column() {
        let err = read_import(b"first_name,ssn,email,email,\nA,B,a@b.co,a@b.co,\n").unwrap_err();
        assert_eq!(fields(err), ["ssn", "email", "header", "last_name"]);
        assert!(matches!(
            read_import(b"first_name,last_name\n\xff\xfe,x\n"),
            Err(ApiError::MalformedRequest(_))
        ));
        assert_eq!(
            fields(read_import(b"").unwrap_err()),
            ["first_name", "last_name"]
        );
    }

    #[test]
    fn more_rows_than_the_cap_are_refused_whole() {
        let mut csv = String::from("first_name,last_name,email\n");
        for i in 0..MAX_IMPORT_ROWS {
            csv.push_str(&format!("A,B,a{i}@example.org\n"));
        }
        assert_eq!(
            read_import(csv.as_bytes()).unwrap().rows.len(),
            MAX_IMPORT_ROWS
        );
        csv.push_str("A,B,one-more@example.org\n");
        assert_eq!(fields(read_import(csv.as_bytes()).unwrap_err()), ["body"]);
    }

    #[test]
    fn a_repeat_within_the_file_is_rejected_and_the_first_kept() {
        let key = DataKey::new(Uuid::now_v7(), &[7u8; 32]);
        let csv = "first_name,last_name,email,phone\n\
                   A,One,a@example.org,\n\
                   B,Two,A@Example.org ,\n\
                   C,Three,c@example.org,+1 555 010 0001\n\
                   D,Four,,15550100001\n\
                   E,Five,,+1 (555) 010-0001\n";
        let mut file = read_import(csv.as_bytes()).unwrap();
        let kept = without_repeats(&key, file.rows, &mut file.rejected);
        let kept: Vec<usize> = kept.iter().map(|(r, _)| r.row).collect();
        assert_eq!(kept, [1, 3, 4], "a phone without its + is another number");
        let rejected: Vec<(usize, &str, &str)> = file
            .rejected
            .iter()
            .map(|r| (r.row, r.field.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (2, "email", "row 1 of this file has this email"),
                (5, "phone", "row 3 of this file has this phone"),
            ]
        );
    }
}
