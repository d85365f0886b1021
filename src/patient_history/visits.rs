//! A visit in a patient's history (seed 002's `patient_history`): when it
//! was, where, who attended, and what was found and done. Everything said
//! about the patient (diagnoses, medications, procedures, vital signs,
//! notes) is sealed under the facility's data key; the row keeps in clear
//! only what is needed to find and order it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{CryptoError, DataKey, RowSealer, Sealed};
use crate::error::ApiError;
use crate::time::Timestamp;
use crate::validation::Checks;

pub const TABLE: &str = "patient_history";

/// The fields whose values the audit log never records.
pub const PHI_FIELDS: &[&str] = &[
    "primary_diagnosis",
    "secondary_diagnoses",
    "medications",
    "procedures",
    "vital_signs",
    "notes",
    "department",
];

const MAX_DEPARTMENT: usize = 100;
const MAX_DIAGNOSIS: usize = 1_000;
const MAX_NOTES: usize = 20_000;
const MAX_ITEM: usize = 500;
/// Most diagnoses, medications or procedures one visit lists.
const MAX_ITEMS: usize = 50;
/// A visit in the history has happened; a clock a little ahead is forgiven.
const FUTURE_TOLERANCE_SECS: i64 = 24 * 60 * 60;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    pub visit_date: Timestamp,
    pub discharge_date: Option<Timestamp>,
    /// Written before departments were sealed; empty once they are.
    pub department: Option<String>,
    pub primary_diagnosis: Option<Sealed>,
    pub secondary_diagnoses: Option<Sealed>,
    pub medications: Option<Sealed>,
    pub procedures: Option<Sealed>,
    pub vital_signs: Option<Sealed>,
    pub notes: Option<Sealed>,
    pub attending_physician_id: Option<Uuid>,
    pub recorded_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Where the patient was seen (an oncology ward says what they have).
    pub sealed_department: Option<Sealed>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A medication given or prescribed at the visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Medication {
    pub name: String,
    /// Such as `500 mg`.
    pub dose: Option<String>,
    /// Such as `oral`.
    pub route: Option<String>,
    /// Such as `twice daily`.
    pub frequency: Option<String>,
}

/// Vital signs taken at the visit; any may be absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VitalSigns {
    /// Systolic blood pressure, 40 to 300 mmHg.
    pub systolic_mmhg: Option<u16>,
    /// Diastolic blood pressure, 20 to 200 mmHg.
    pub diastolic_mmhg: Option<u16>,
    /// 20 to 300 beats per minute.
    pub heart_rate_bpm: Option<u16>,
    /// 4 to 80 breaths per minute.
    pub respiratory_rate: Option<u16>,
    /// 25 to 45 °C.
    pub temperature_c: Option<f64>,
    /// 0 to 100 %.
    pub oxygen_saturation_pct: Option<u8>,
    /// 0.2 to 700 kg.
    pub weight_kg: Option<f64>,
    /// 20 to 300 cm.
    pub height_cm: Option<f64>,
}

/// A visit as the API shows it, opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Visit {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    pub visit_date: Timestamp,
    pub discharge_date: Option<Timestamp>,
    pub department: Option<String>,
    pub primary_diagnosis: Option<String>,
    pub secondary_diagnoses: Vec<String>,
    pub medications: Vec<Medication>,
    pub procedures: Vec<String>,
    pub vital_signs: Option<VitalSigns>,
    pub notes: Option<String>,
    /// A member of the facility.
    pub attending_physician_id: Option<Uuid>,
    /// Who recorded the visit.
    pub recorded_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A visit to record.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    /// When the visit began; not in the future.
    pub visit_date: Timestamp,
    /// Not before `visit_date`.
    pub discharge_date: Option<Timestamp>,
    pub department: Option<String>,
    pub primary_diagnosis: Option<String>,
    #[serde(default)]
    pub secondary_diagnoses: Vec<String>,
    #[serde(default)]
    pub medications: Vec<Medication>,
    #[serde(default)]
    pub procedures: Vec<String>,
    pub vital_signs: Option<VitalSigns>,
    pub notes: Option<String>,
    /// A member of the facility.
    pub attending_physician_id: Option<Uuid>,
}

/// Changes to a visit: an absent field stays, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitChanges {
    pub visit_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Timestamp>)]
    pub discharge_date: Option<Option<Timestamp>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub primary_diagnosis: Option<Option<String>>,
    pub secondary_diagnoses: Option<Vec<String>>,
    pub medications: Option<Vec<Medication>>,
    pub procedures: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<VitalSigns>)]
    pub vital_signs: Option<Option<VitalSigns>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub attending_physician_id: Option<Option<Uuid>>,
}

impl NewVisit {
    /// Every invalid field, named; `now` bounds the visit date.
    pub fn validate(&self, now: Timestamp) -> Result<(), ApiError> {
        let mut c = Checks::default();
        check_dates(&mut c, self.visit_date, self.discharge_date, now);
        check_content(&mut c, &self.content());
        c.done()
    }

    fn content(&self) -> Content<'_> {
        Content {
            department: self.department.as_deref(),
            primary_diagnosis: self.primary_diagnosis.as_deref(),
            secondary_diagnoses: &self.secondary_diagnoses,
            medications: &self.medications,
            procedures: &self.procedures,
            vital_signs: self.vital_signs.as_ref(),
            notes: self.notes.as_deref(),
        }
    }
}

impl VisitChanges {
    /// The names of the fields this change touches, for the audit log.
    pub fn touched(&self) -> Vec<&'static str> {
        [
            (self.visit_date.is_some(), "visit_date"),
            (self.discharge_date.is_some(), "discharge_date"),
            (self.department.is_some(), "department"),
            (self.primary_diagnosis.is_some(), "primary_diagnosis"),
            (self.secondary_diagnoses.is_some(), "secondary_diagnoses"),
            (self.medications.is_some(), "medications"),
            (self.procedures.is_some(), "procedures"),
            (self.vital_signs.is_some(), "vital_signs"),
            (self.notes.is_some(), "notes"),
            (
                self.attending_physician_id.is_some(),
                "attending_physician_id",
            ),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect()
    }

    /// Applies the changes to `visit`, then checks the result as a whole
    /// (a new discharge date must still follow the visit date).
    pub fn apply(self, mut visit: NewVisit, now: Timestamp) -> Result<NewVisit, ApiError> {
        if let Some(date) = self.visit_date {
            visit.visit_date = date;
        }
        let set = |field: Option<Option<String>>, current: &mut Option<String>| {
            if let Some(value) = field {
                *current = value;
            }
        };
        set(self.department, &mut visit.department);
        set(self.primary_diagnosis, &mut visit.primary_diagnosis);
        set(self.notes, &mut visit.notes);
        if let Some(date) = self.discharge_date {
            visit.discharge_date = date;
        }
        if let Some(list) = self.secondary_diagnoses {
            visit.secondary_diagnoses = list;
        }
        if let Some(list) = self.medications {
            visit.medications = list;
        }
        if let Some(list) = self.procedures {
            visit.procedures = list;
        }
        if let Some(vitals) = self.vital_signs {
            visit.vital_signs = vitals;
        }
        if let Some(physician) = self.attending_physician_id {
            visit.attending_physician_id = physician;
        }
        visit.validate(now)?;
        Ok(visit)
    }
}

/// The clinical content of a visit, as checked.
struct Content<'a> {
    department: Option<&'a str>,
    primary_diagnosis: Option<&'a str>,
    secondary_diagnoses: &'a [String],
    medications: &'a [Medication],
    procedures: &'a [String],
    vital_signs: Option<&'a VitalSigns>,
    notes: Option<&'a str>,
}

fn check_dates(c: &mut Checks, visit: Timestamp, discharge: Option<Timestamp>, now: Timestamp) {
    if visit > now.plus_secs(FUTURE_TOLERANCE_SECS) {
        c.fail("visit_date", "must not be in the future");
    }
    if discharge.is_some_and(|d| d < visit) {
        c.fail("discharge_date", "must not be before visit_date");
    }
}

fn check_content(c: &mut Checks, content: &Content<'_>) {
    c.optional_text("department", content.department, MAX_DEPARTMENT);
    c.optional_text(
        "primary_diagnosis",
        content.primary_diagnosis,
        MAX_DIAGNOSIS,
    );
    c.optional_text("notes", content.notes, MAX_NOTES);
    check_list(c, "secondary_diagnoses", content.secondary_diagnoses);
    check_list(c, "procedures", content.procedures);
    if content.medications.len() > MAX_ITEMS {
        c.fail("medications", &format!("at most {MAX_ITEMS} medications"));
    }
    for (i, medication) in content.medications.iter().enumerate() {
        c.text(
            &format!("medications[{i}].name"),
            &medication.name,
            MAX_ITEM,
        );
        for (field, value) in [
            ("dose", &medication.dose),
            ("route", &medication.route),
            ("frequency", &medication.frequency),
        ] {
            c.optional_text(
                &format!("medications[{i}].{field}"),
                value.as_deref(),
                MAX_ITEM,
            );
        }
    }
    if let Some(vitals) = content.vital_signs {
        check_vitals(c, vitals);
    }
}

fn check_list(c: &mut Checks, field: &str, items: &[String]) {
    if items.len() > MAX_ITEMS {
        c.fail(field, &format!("at most {MAX_ITEMS} entries"));
    }
    for (i, item) in items.iter().enumerate() {
        c.text(&format!("{field}[{i}]"), item, MAX_ITEM);
    }
}

fn check_vitals(c: &mut Checks, v: &VitalSigns) {
    let whole = [
        ("systolic_mmhg", v.systolic_mmhg, 40, 300),
        ("diastolic_mmhg", v.diastolic_mmhg, 20, 200),
        ("heart_rate_bpm", v.heart_rate_bpm, 20, 300),
        ("respiratory_rate", v.respiratory_rate, 4, 80),
        (
            "oxygen_saturation_pct",
            v.oxygen_saturation_pct.map(u16::from),
            0,
            100,
        ),
    ];
    for (field, value, low, high) in whole {
        if value.is_some_and(|x| !(low..=high).contains(&x)) {
            c.fail(
                &format!("vital_signs.{field}"),
                &format!("must be between {low} and {high}"),
            );
        }
    }
    let measured = [
        ("temperature_c", v.temperature_c, 25.0, 45.0),
        ("weight_kg", v.weight_kg, 0.2, 700.0),
        ("height_cm", v.height_cm, 20.0, 300.0),
    ];
    for (field, value, low, high) in measured {
        if value.is_some_and(|x| !(low..=high).contains(&x)) {
            c.fail(
                &format!("vital_signs.{field}"),
                &format!("must be between {low} and {high}"),
            );
        }
    }
}

/// Who recorded a visit and when: what a row keeps apart from its content.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub patient_id: Uuid,
    pub recorded_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl NewVisit {
    /// The row of `record` holding this visit, its content sealed for that
    /// row.
    pub fn seal(&self, key: &DataKey, record: Record) -> Model {
        let row = RowSealer::new(key, TABLE, record.id);
        let list =
            |column: &str, items: &[String]| (!items.is_empty()).then(|| row.json(column, &items));
        Model {
            id: record.id,
            facility_id: record.facility_id,
            patient_id: record.patient_id,
            visit_date: self.visit_date,
            discharge_date: self.discharge_date,
            department: None,
            sealed_department: row.optional_text("department", self.department.as_deref()),
            primary_diagnosis: row
                .optional_text("primary_diagnosis", self.primary_diagnosis.as_deref()),
            secondary_diagnoses: list("secondary_diagnoses", &self.secondary_diagnoses),
            medications: (!self.medications.is_empty())
                .then(|| row.json("medications", &self.medications)),
            procedures: list("procedures", &self.procedures),
            vital_signs: self
                .vital_signs
                .as_ref()
                .map(|v| row.json("vital_signs", v)),
            notes: row.optional_text("notes", self.notes.as_deref()),
            attending_physician_id: self.attending_physician_id,
            recorded_by: record.recorded_by,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

impl Model {
    /// Who recorded the visit and when.
    pub fn record(&self) -> Record {
        Record {
            id: self.id,
            facility_id: self.facility_id,
            patient_id: self.patient_id,
            recorded_by: self.recorded_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The visit as its reader sees it.
    pub fn open(&self, key: &DataKey) -> Result<Visit, CryptoError> {
        let fields = self.open_fields(key)?;
        Ok(Visit {
            id: self.id,
            facility_id: self.facility_id,
            patient_id: self.patient_id,
            visit_date: fields.visit_date,
            discharge_date: fields.discharge_date,
            department: fields.department,
            primary_diagnosis: fields.primary_diagnosis,
            secondary_diagnoses: fields.secondary_diagnoses,
            medications: fields.medications,
            procedures: fields.procedures,
            vital_signs: fields.vital_signs,
            notes: fields.notes,
            attending_physician_id: fields.attending_physician_id,
            recorded_by: self.recorded_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    /// The visit as it was recorded, for a change to start from.
    pub fn open_fields(&self, key: &DataKey) -> Result<NewVisit, CryptoError> {
        let row = RowSealer::new(key, TABLE, self.id);
        let list = |column: &str, sealed: &Option<Sealed>| -> Result<Vec<String>, CryptoError> {
            Ok(open_json(&row, column, sealed)?.unwrap_or_default())
        };
        Ok(NewVisit {
            visit_date: self.visit_date,
            discharge_date: self.discharge_date,
            department: match &self.sealed_department {
                Some(_) => row.open_optional_text("department", &self.sealed_department)?,
                None => self.department.clone(),
            },
            primary_diagnosis: row
                .open_optional_text("primary_diagnosis", &self.primary_diagnosis)?,
            secondary_diagnoses: list("secondary_diagnoses", &self.secondary_diagnoses)?,
            medications: open_json(&row, "medications", &self.medications)?.unwrap_or_default(),
            procedures: list("procedures", &self.procedures)?,
            vital_signs: open_json(&row, "vital_signs", &self.vital_signs)?,
            notes: row.open_optional_text("notes", &self.notes)?,
            attending_physician_id: self.attending_physician_id,
        })
    }
}

fn open_json<T: serde::de::DeserializeOwned>(
    row: &RowSealer<'_>,
    column: &str,
    sealed: &Option<Sealed>,
) -> Result<Option<T>, CryptoError> {
    sealed
        .as_ref()
        .map(|s| row.open_json(column, s))
        .transpose()
}
