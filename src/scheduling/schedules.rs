//! What a provider can be booked for: their schedule in a facility (weekly
//! working hours in a time zone, the slot grid, the minimum notice), dated
//! availability blocks (seed 000's `availability_blocks`), and the
//! facility's appointment types with their durations, buffers and providers.
//! None of it is about a patient, so none of it is sealed.

use sea_orm::ActiveValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::slots::Hours;
use crate::crypto::{CryptoError, DataKey, RowSealer};
use crate::error::ApiError;
use crate::time::Timestamp;
use crate::transition::{UnknownStoredValue, string_enum};
use crate::validation::Checks;

pub mod schedule {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub facility_id: Uuid,
        pub provider_id: Uuid,
        /// None: the facility's time zone.
        pub time_zone: Option<String>,
        pub slot_minutes: i32,
        pub min_notice_minutes: i32,
        /// Bumped by every booking; its row lock serializes them.
        pub bookings: i64,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod working_hours {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "working_hours")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub schedule_id: Uuid,
        pub weekday: i16,
        pub start_minute: i32,
        pub end_minute: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod block {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "availability_blocks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub facility_id: Uuid,
        pub provider_id: Option<Uuid>,
        pub starts_at: Timestamp,
        pub ends_at: Timestamp,
        pub is_available: bool,
        /// A reason of [`super::BLOCK_REASONS`], or `Other` when the reason
        /// is free text, sealed in `sealed_reason`.
        pub reason: String,
        pub created_by: Option<Uuid>,
        pub created_at: Timestamp,
        pub sealed_reason: Option<crate::crypto::Sealed>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod appointment_type {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "appointment_types")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub facility_id: Uuid,
        pub name: String,
        pub kind: String,
        pub duration_minutes: i32,
        pub buffer_before_minutes: i32,
        pub buffer_after_minutes: i32,
        pub active: bool,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod type_provider {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "appointment_type_providers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub type_id: Uuid,
        pub provider_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Seed 001's default appointment length.
pub const DEFAULT_DURATION: i32 = 30;
/// The longest appointment, in minutes.
pub const MAX_DURATION: i64 = 12 * 60;
/// The longest buffer, in minutes.
pub const MAX_BUFFER: i64 = 4 * 60;
/// Checks an appointment length a request gives, in minutes.
pub fn check_duration(c: &mut Checks, minutes: Option<i64>) {
    if let Some(minutes) = minutes {
        c.within("duration_minutes", minutes, 1..=MAX_DURATION);
    }
}

/// The slot grids a schedule may use, in minutes.
pub const SLOT_GRIDS: [i32; 7] = [5, 10, 15, 20, 30, 60, 120];
/// The longest minimum notice: two weeks.
pub const MAX_NOTICE: i64 = 14 * 24 * 60;
/// The longest availability block: a year.
pub const MAX_BLOCK_DAYS: i64 = 366;

string_enum! {
    /// What an appointment is for (seed 000's consultations and procedures,
    /// follow-ups, telehealth visits).
    AppointmentKind {
        Consultation => "consultation",
        Procedure => "procedure",
        FollowUp => "follow_up",
        Telehealth => "telehealth",
        Other => "other",
    }
}

string_enum! {
    /// A day of the week.
    Weekday {
        Monday => "monday",
        Tuesday => "tuesday",
        Wednesday => "wednesday",
        Thursday => "thursday",
        Friday => "friday",
        Saturday => "saturday",
        Sunday => "sunday",
    }
}

impl Weekday {
    /// 1 for Monday … 7 for Sunday.
    pub fn iso(self) -> i16 {
        Weekday::ALL
            .iter()
            .position(|d| *d == self)
            .map_or(1, |i| i as i16 + 1)
    }

    pub fn from_iso(day: i16) -> Weekday {
        Weekday::ALL[usize::try_from(day - 1).unwrap_or(0).min(6)]
    }
}

/// Working hours on one day of the week, in the schedule's time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    pub weekday: Weekday,
    /// Local start, `HH:MM`.
    #[schema(example = "09:00")]
    pub start: String,
    /// Local end, `HH:MM`, after the start; `24:00` is midnight.
    #[schema(example = "17:00")]
    pub end: String,
}

/// Minutes after midnight of `HH:MM` (up to `24:00`).
fn minute_of_day(text: &str) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h * 60 + m;
    (m < 60 && (0..=1440).contains(&minute)).then_some(minute)
}

fn clock(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A provider's schedule as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    pub provider_id: Uuid,
    pub facility_id: Uuid,
    /// The IANA time zone the working hours are in.
    pub time_zone: String,
    pub working_hours: Vec<WorkingHours>,
    /// Slots start on this grid of minutes after local midnight.
    pub slot_minutes: i32,
    /// How long before its start a slot can still be booked.
    pub min_notice_minutes: i32,
    pub updated_at: Timestamp,
}

/// A provider's schedule, replaced whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// An IANA time zone; the facility's when absent.
    pub time_zone: Option<String>,
    pub working_hours: Vec<WorkingHours>,
    /// One of 5, 10, 15, 20, 30, 60, 120; 15 when absent.
    pub slot_minutes: Option<i32>,
    /// 0 to 20160 (two weeks); 60 when absent.
    pub min_notice_minutes: Option<i32>,
}

impl ScheduleInput {
    /// The working hours as minutes, or every bad field named.
    pub fn validate(&self) -> Result<Vec<Hours>, ApiError> {
        let mut c = Checks::default();
        if let Some(zone) = &self.time_zone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            c.fail(
                "time_zone",
                "not a known IANA time zone, such as Europe/Berlin",
            );
        }
        if let Some(grid) = self.slot_minutes
            && !SLOT_GRIDS.contains(&grid)
        {
            c.fail("slot_minutes", "must be one of 5, 10, 15, 20, 30, 60, 120");
        }
        if let Some(notice) = self.min_notice_minutes {
            c.within("min_notice_minutes", i64::from(notice), 0..=MAX_NOTICE);
        }
        if self.working_hours.len() > 7 * 8 {
            c.fail("working_hours", "at most 8 spans a day");
        }
        let mut hours = Vec::with_capacity(self.working_hours.len());
        for (i, day) in self.working_hours.iter().enumerate() {
            match (minute_of_day(&day.start), minute_of_day(&day.end)) {
                (Some(start), Some(end)) if start < end => hours.push(Hours {
                    weekday: day.weekday.iso() as i8,
                    start_minute: start,
                    end_minute: end,
                }),
                (Some(_), Some(_)) => c.fail(
                    &format!("working_hours[{i}].end"),
                    "must be after the start",
                ),
                (start, _) => c.fail(
                    &format!(
                        "working_hours[{i}].{}",
                        if start.is_none() { "start" } else { "end" }
                    ),
                    "must be a time of day as HH:MM, from 00:00 to 24:00",
                ),
            }
        }
        for (i, a) in hours.iter().enumerate() {
            if hours[..i].iter().any(|b| {
                a.weekday == b.weekday
                    && a.start_minute < b.end_minute
                    && b.start_minute < a.end_minute
            }) {
                c.fail(
                    &format!("working_hours[{i}]"),
                    "overlaps other hours on the same day",
                );
            }
        }
        c.done()?;
        Ok(hours)
    }
}

impl Schedule {
    pub fn open(row: &schedule::Model, hours: &[working_hours::Model], zone: String) -> Self {
        let mut days: Vec<&working_hours::Model> = hours.iter().collect();
        days.sort_by_key(|h| (h.weekday, h.start_minute));
        Self {
            provider_id: row.provider_id,
            facility_id: row.facility_id,
            time_zone: zone,
            working_hours: days
                .into_iter()
                .map(|h| WorkingHours {
                    weekday: Weekday::from_iso(h.weekday),
                    start: clock(h.start_minute),
                    end: clock(h.end_minute),
                })
                .collect(),
            slot_minutes: row.slot_minutes,
            min_notice_minutes: row.min_notice_minutes,
            updated_at: row.updated_at,
        }
    }
}

pub fn hours_row(schedule_id: Uuid, hours: &Hours) -> working_hours::ActiveModel {
    working_hours::ActiveModel {
        id: ActiveValue::Set(crate::db::new_id()),
        schedule_id: ActiveValue::Set(schedule_id),
        weekday: ActiveValue::Set(i16::from(hours.weekday)),
        start_minute: ActiveValue::Set(hours.start_minute),
        end_minute: ActiveValue::Set(hours.end_minute),
    }
}

pub fn to_hours(rows: &[working_hours::Model]) -> Vec<Hours> {
    rows.iter()
        .map(|h| Hours {
            weekday: h.weekday as i8,
            start_minute: h.start_minute,
            end_minute: h.end_minute,
        })
        .collect()
}

/// An availability block as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityBlock {
    pub id: Uuid,
    pub facility_id: Uuid,
    /// None: the block applies to every provider of the facility.
    pub provider_id: Option<Uuid>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// True opens extra time; false closes time (seed 000's default).
    pub is_available: bool,
    /// Why, such as Weekend, Holiday, Surgery.
    pub reason: String,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
}

/// Where blocks live, for the seal of their reasons.
pub const BLOCK_TABLE: &str = "availability_blocks";
/// Reasons that name no one, kept in clear: the weekend command finds its
/// blocks by theirs, and a refused booking quotes them. Any other reason (a
/// named patient's home visit) is sealed, and quoted as `Other`.
pub const BLOCK_REASONS: &[&str] = &[
    "Weekend", "Holiday", "Lunch", "Vacation", "Training", "Meeting", "Surgery",
];
/// What the audit log never records of a block.
pub const BLOCK_PHI_FIELDS: &[&str] = &["reason"];

impl AvailabilityBlock {
    pub fn open(key: &DataKey, m: &block::Model) -> Result<Self, CryptoError> {
        let reason = RowSealer::new(key, BLOCK_TABLE, m.id).open_label(
            "reason",
            &m.reason,
            &m.sealed_reason,
        )?;
        Ok(Self {
            id: m.id,
            facility_id: m.facility_id,
            provider_id: m.provider_id,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            is_available: m.is_available,
            reason,
            created_by: m.created_by,
            created_at: m.created_at,
        })
    }
}

/// A new availability block.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    /// A provider with a role in the facility; the whole facility when absent.
    pub provider_id: Option<Uuid>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// False (closes time) when absent.
    #[serde(default)]
    pub is_available: bool,
    pub reason: String,
}

impl NewBlock {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.text("reason", &self.reason, 100);
        if self.ends_at <= self.starts_at {
            c.fail("ends_at", "must be after starts_at");
        } else if self.ends_at.as_micros() - self.starts_at.as_micros()
            > MAX_BLOCK_DAYS * 86_400_000_000
        {
            c.fail("ends_at", "a block spans at most 366 days");
        }
        c.done()
    }
}

/// An appointment type as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppointmentType {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub name: String,
    pub kind: AppointmentKind,
    pub duration_minutes: i32,
    /// Time the provider needs before the appointment, kept free.
    pub buffer_before_minutes: i32,
    /// Time the provider needs after it, kept free.
    pub buffer_after_minutes: i32,
    /// The providers who offer it; any provider when empty.
    pub provider_ids: Vec<Uuid>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AppointmentType {
    pub fn open(
        row: &appointment_type::Model,
        provider_ids: Vec<Uuid>,
    ) -> Result<Self, UnknownStoredValue> {
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            name: row.name.clone(),
            kind: AppointmentKind::from_stored(&row.kind, "appointment_types", "kind", row.id)?,
            duration_minutes: row.duration_minutes,
            buffer_before_minutes: row.buffer_before_minutes,
            buffer_after_minutes: row.buffer_after_minutes,
            provider_ids,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A new appointment type, or the changes to one (absent fields stay).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentTypeInput {
    /// Unique in the facility. Required when creating.
    pub name: Option<String>,
    /// `consultation` when absent.
    pub kind: Option<AppointmentKind>,
    /// 1 to 720; 30 (seed 001's default) when absent.
    pub duration_minutes: Option<i32>,
    /// 0 to 240; 0 when absent.
    pub buffer_before_minutes: Option<i32>,
    /// 0 to 240; 0 when absent.
    pub buffer_after_minutes: Option<i32>,
    /// Providers with a role in the facility; empty means any provider.
    pub provider_ids: Option<Vec<Uuid>>,
    pub active: Option<bool>,
}

impl AppointmentTypeInput {
    pub fn validate(&self, creating: bool) -> Result<(), ApiError> {
        let mut c = Checks::default();
        match &self.name {
            Some(name) => c.text("name", name, 100),
            None if creating => c.fail("name", "is required"),
            None => {}
        }
        check_duration(&mut c, self.duration_minutes.map(i64::from));
        for (field, value) in [
            ("buffer_before_minutes", self.buffer_before_minutes),
            ("buffer_after_minutes", self.buffer_after_minutes),
        ] {
            if let Some(v) = value {
                c.within(field, i64::from(v), 0..=MAX_BUFFER);
            }
        }
        if self.provider_ids.as_ref().is_some_and(|p| p.len() > 200) {
            c.fail("provider_ids", "at most 200 providers");
        }
        c.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appointment_type_of_an_unknown_kind_does_not_open() {
        let now = Timestamp::now();
        let row = appointment_type::Model {
            id: Uuid::from_u128(3),
            facility_id: Uuid::from_u128(1),
            name: "Intake".to_owned(),
            kind: "consultation".to_owned(),
            duration_minutes: 30,
            buffer_before_minutes: 0,
            buffer_after_minutes: 0,
            active: true,
            created_at: now,
            updated_at: now,
        };
        let opened = AppointmentType::open(&row, Vec::new()).unwrap();
        assert_eq!(opened.kind, AppointmentKind::Consultation);
        let bad = appointment_type::Model {
            kind: "seance".to_owned(),
            ..row
        };
        let error = AppointmentType::open(&bad, Vec::new()).unwrap_err();
        assert_eq!(
            (error.table, error.column, error.row),
            ("appointment_types", "kind", bad.id)
        );
    }

    #[test]
    fn clock_times_parse_and_print() {
        assert_eq!(minute_of_day("09:30"), Some(570));
        assert_eq!(minute_of_day("24:00"), Some(1440));
        assert_eq!(minute_of_day("24:01"), None);
        assert_eq!(minute_of_day("9:30"), None);
        assert_eq!(minute_of_day("09:60"), None);
        assert_eq!(clock(570), "09:30");
        assert_eq!(Weekday::Sunday.iso(), 7);
        assert_eq!(Weekday::from_iso(1), Weekday::Monday);
    }

    #[test]
    fn bad_schedules_name_each_field() {
        let input = ScheduleInput {
            time_zone: Some("Mars/Olympus".into()),
            working_hours: vec![
                WorkingHours {
                    weekday: Weekday::Monday,
                    start: "17:00".into(),
                    end: "09:00".into(),
                },
                WorkingHours {
                    weekday: Weekday::Tuesday,
                    start: "nine".into(),
                    end: "17:00".into(),
                },
            ],
            slot_minutes: Some(7),
            min_notice_minutes: Some(-1),
        };
        let fields: Vec<String> = match input.validate() {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fields,
            [
                "time_zone",
                "slot_minutes",
                "min_notice_minutes",
                "working_hours[0].end",
                "working_hours[1].start"
            ]
        );
    }
}
