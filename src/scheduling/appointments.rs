//! The appointment (seeds 000 and 001): a provider's time with a patient or
//! a lead, of a kind and usually of a facility's appointment type. Its
//! title, notes and meeting link are sealed (a title names what the visit
//! is about; a meeting link lets anyone holding it join). Its status moves
//! by the machine of DOMAIN.md; a reschedule makes a new appointment that
//! points back at the old one.

use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schedules::AppointmentKind;
use super::slots::Span;
use crate::crypto::{DataKey, RowSealer, Sealed};
use crate::error::ApiError;
use crate::time::Timestamp;
use crate::transition::{StateMachine, UnknownStoredValue, string_enum};
use crate::validation::Checks;

pub const TABLE: &str = "appointments";

/// The fields whose values the audit log never records.
pub const PHI_FIELDS: &[&str] = &["title", "notes", "meeting_link"];

pub const MAX_TITLE: usize = 200;
pub const MAX_NOTES: usize = 10_000;
pub const MAX_LINK: usize = 2_000;

string_enum! {
    /// Where an appointment stands (seed 000's `appointment_status`).
    AppointmentStatus {
        Pending => "pending",
        Confirmed => "confirmed",
        Reminded => "reminded",
        CheckedIn => "checked_in",
        InProgress => "in_progress",
        Completed => "completed",
        NoShow => "no_show",
        Cancelled => "cancelled",
        Rescheduled => "rescheduled",
    }
}

impl StateMachine for AppointmentStatus {
    const ENTITY: &'static str = "appointment";

    fn next(self) -> &'static [Self] {
        use AppointmentStatus::*;
        match self {
            Pending => &[Confirmed, Cancelled, Rescheduled],
            Confirmed => &[Reminded, CheckedIn, NoShow, Cancelled, Rescheduled],
            Reminded => &[CheckedIn, NoShow, Cancelled, Rescheduled],
            CheckedIn => &[InProgress, NoShow, Cancelled, Rescheduled],
            InProgress => &[Completed],
            Completed | NoShow | Cancelled | Rescheduled => &[],
        }
    }
}

impl AppointmentStatus {
    /// The statuses in which an appointment takes its provider's time.
    pub const LIVE: [AppointmentStatus; 5] = [
        AppointmentStatus::Pending,
        AppointmentStatus::Confirmed,
        AppointmentStatus::Reminded,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::InProgress,
    ];

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    /// Seed 001's name for this status.
    pub fn seed_001_name(self) -> &'static str {
        use AppointmentStatus::*;
        match self {
            Pending | Confirmed | Reminded | CheckedIn | InProgress => "Scheduled",
            Completed => "Completed",
            NoShow => "No Show",
            Cancelled | Rescheduled => "Cancelled",
        }
    }
}

/// A status as a client may name it: seed 000's names, or seed 001's
/// `Scheduled` (confirmed), `Completed`, `Cancelled` and `No Show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, example = "confirmed")]
pub struct StatusName(pub AppointmentStatus);

impl TryFrom<String> for StatusName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let status = match name.as_str() {
            "Scheduled" => Some(AppointmentStatus::Confirmed),
            "Completed" => Some(AppointmentStatus::Completed),
            "Cancelled" => Some(AppointmentStatus::Cancelled),
            "No Show" => Some(AppointmentStatus::NoShow),
            other => AppointmentStatus::parse(other),
        };
        status.map(StatusName).ok_or_else(|| {
            format!(
                "`{name}` is not an appointment status; use one of {} (or seed 001's Scheduled, Completed, Cancelled, No Show)",
                AppointmentStatus::ALL.map(AppointmentStatus::as_str).join(", ")
            )
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub provider_id: Uuid,
    pub type_id: Option<Uuid>,
    pub kind: String,
    pub title: Sealed,
    pub notes: Option<Sealed>,
    pub meeting_link: Option<Sealed>,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub busy_from: Timestamp,
    pub busy_until: Timestamp,
    pub status: String,
    pub rescheduled_from: Option<Uuid>,
    pub created_by: Uuid,
    pub checked_in_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// A call or meeting that is no slot of a schedule.
    pub off_schedule: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn appointment_status(&self) -> Result<AppointmentStatus, UnknownStoredValue> {
        AppointmentStatus::from_stored(&self.status, TABLE, "status", self.id)
    }

    /// Who may change it when their role reaches only their own
    /// appointments: its provider and whoever booked it.
    pub fn assignees(&self) -> [Option<Uuid>; 2] {
        [Some(self.provider_id), Some(self.created_by)]
    }

    pub fn busy(&self) -> Span {
        Span::new(self.busy_from, self.busy_until)
    }
}

/// An appointment as the API shows it, opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Appointment {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub provider_id: Uuid,
    pub type_id: Option<Uuid>,
    pub kind: AppointmentKind,
    pub title: String,
    pub notes: Option<String>,
    /// Seed 001's `meeting_link`.
    pub meeting_link: Option<String>,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// Seed 001's `duration`, in minutes.
    pub duration_minutes: i64,
    /// A call or meeting that is no slot of a schedule (an SDR's call, a
    /// coach's video session, an entry logged after the fact).
    pub off_schedule: bool,
    pub status: AppointmentStatus,
    /// Seed 001's name for the status: Scheduled, Completed, Cancelled, No Show.
    pub seed_001_status: String,
    /// The appointment this one replaced, when it was rescheduled.
    pub rescheduled_from: Option<Uuid>,
    pub created_by: Uuid,
    pub checked_in_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Appointment {
    pub fn open(key: &DataKey, row: &Model) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        let status = row.appointment_status()?;
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            provider_id: row.provider_id,
            type_id: row.type_id,
            kind: AppointmentKind::from_stored(&row.kind, TABLE, "kind", row.id)?,
            title: seal.open_text("title", &row.title)?,
            notes: seal.open_optional_text("notes", &row.notes)?,
            meeting_link: seal.open_optional_text("meeting_link", &row.meeting_link)?,
            patient_id: row.patient_id,
            lead_id: row.lead_id,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            duration_minutes: (row.ends_at.as_micros() - row.starts_at.as_micros()) / 60_000_000,
            off_schedule: row.off_schedule,
            status,
            seed_001_status: status.seed_001_name().to_owned(),
            rescheduled_from: row.rescheduled_from,
            created_by: row.created_by,
            checked_in_at: row.checked_in_at,
            started_at: row.started_at,
            completed_at: row.completed_at,
            cancelled_at: row.cancelled_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A booking request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppointment {
    /// A provider with a schedule in the facility.
    pub provider_id: Uuid,
    pub starts_at: Timestamp,
    /// An appointment type of the facility: it gives the kind, the default
    /// duration and the buffers.
    pub type_id: Option<Uuid>,
    /// The type's kind when absent, else `consultation`.
    pub kind: Option<AppointmentKind>,
    /// 1 to 720; the type's duration when absent, else 30.
    pub duration_minutes: Option<i64>,
    /// The type's name when absent, else the kind.
    pub title: Option<String>,
    pub notes: Option<String>,
    pub meeting_link: Option<String>,
    /// A patient of the facility the booker can see (or a lead, or both).
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// `pending` when absent; `confirmed` (or seed 001's `Scheduled`) books
    /// it confirmed; `completed` (or `Completed`) logs an off-schedule
    /// entry after the fact.
    pub status: Option<StatusName>,
    /// A call or meeting that is no clinic slot: the provider needs no
    /// schedule and working hours, blocks and notice do not apply, but no
    /// provider, patient or lead is booked twice. It may start in the past
    /// only when logged as `completed`. False when absent.
    #[serde(default)]
    pub off_schedule: bool,
}

/// How far ahead an appointment may be booked: three years.
pub const MAX_DAYS_AHEAD: i64 = 3 * 366;

/// Checks the start and length a booking or a reschedule asks for: the
/// start within the booking horizon, the length within bounds. Whether the
/// slot is open is the calendar's question, under the provider's lock.
pub fn check_slot(c: &mut Checks, starts_at: Timestamp, minutes: Option<i64>) {
    if starts_at > Timestamp::now().plus_secs(MAX_DAYS_AHEAD * 86_400) {
        c.fail("starts_at", "must be within three years from now");
    }
    super::schedules::check_duration(c, minutes);
}

impl NewAppointment {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        check_slot(&mut c, self.starts_at, self.duration_minutes);
        c.optional_text("title", self.title.as_deref(), MAX_TITLE);
        c.optional_text("notes", self.notes.as_deref(), MAX_NOTES);
        check_link(&mut c, self.meeting_link.as_deref());
        if self.patient_id.is_none() && self.lead_id.is_none() {
            c.fail(
                "patient_id",
                "an appointment is with a patient or a lead; give one",
            );
        }
        self.check_status(&mut c);
        c.done()
    }

    /// The status it is booked in: `pending`, `confirmed`, or for an
    /// off-schedule entry logged after the fact, `completed`.
    pub fn status(&self) -> AppointmentStatus {
        self.status.map_or(AppointmentStatus::Pending, |s| s.0)
    }

    fn check_status(&self, c: &mut Checks) {
        use AppointmentStatus::{Completed, Confirmed, Pending};
        match self.status() {
            Pending | Confirmed => {}
            Completed if self.off_schedule => {
                let now = Timestamp::now();
                if self.starts_at > now {
                    c.fail(
                        "starts_at",
                        "a completed entry has started: not in the future",
                    );
                } else if self.starts_at < now.plus_secs(-MAX_DAYS_AHEAD * 86_400) {
                    c.fail("starts_at", "must be within the last three years");
                }
            }
            Completed => c.fail(
                "status",
                "only an off-schedule entry (`off_schedule`) is logged as `completed`",
            ),
            _ => c.fail(
                "status",
                "a new appointment is `pending` or `confirmed` (or off the schedule, `completed`)",
            ),
        }
    }
}

fn check_link(c: &mut Checks, link: Option<&str>) {
    if let Some(link) = link {
        match url::Url::parse(link) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && link.len() <= MAX_LINK => {}
            _ => c.fail(
                "meeting_link",
                "must be an http(s) URL of at most 2000 characters",
            ),
        }
    }
}

/// Changes to an appointment's text: absent fields stay, `null` clears.
/// Time and provider change by rescheduling; status by its own move.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentChanges {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub meeting_link: Option<Option<String>>,
}

impl AppointmentChanges {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.optional_text("title", self.title.as_deref(), MAX_TITLE);
        if let Some(Some(notes)) = &self.notes {
            c.text("notes", notes, MAX_NOTES);
        }
        check_link(&mut c, self.meeting_link.clone().flatten().as_deref());
        c.done()
    }

    pub fn touched(&self) -> Vec<&'static str> {
        [
            (self.title.is_some(), "title"),
            (self.notes.is_some(), "notes"),
            (self.meeting_link.is_some(), "meeting_link"),
        ]
        .into_iter()
        .filter_map(|(given, name)| given.then_some(name))
        .collect()
    }
}

/// Everything a new row needs besides its sealed text.
pub struct Booking {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub provider_id: Uuid,
    pub type_id: Option<Uuid>,
    pub kind: AppointmentKind,
    pub title: String,
    pub notes: Option<String>,
    pub meeting_link: Option<String>,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub slot: Span,
    pub busy: Span,
    pub status: AppointmentStatus,
    pub rescheduled_from: Option<Uuid>,
    pub created_by: Uuid,
}

impl Booking {
    pub fn seal(&self, key: &DataKey, now: Timestamp) -> ActiveModel {
        let seal = RowSealer::new(key, TABLE, self.id);
        ActiveModel {
            id: ActiveValue::Set(self.id),
            facility_id: ActiveValue::Set(self.facility_id),
            provider_id: ActiveValue::Set(self.provider_id),
            type_id: ActiveValue::Set(self.type_id),
            kind: ActiveValue::Set(self.kind.as_str().to_owned()),
            title: ActiveValue::Set(seal.text("title", self.title.trim())),
            notes: ActiveValue::Set(seal.optional_text("notes", self.notes.as_deref())),
            meeting_link: ActiveValue::Set(
                seal.optional_text("meeting_link", self.meeting_link.as_deref()),
            ),
            patient_id: ActiveValue::Set(self.patient_id),
            lead_id: ActiveValue::Set(self.lead_id),
            starts_at: ActiveValue::Set(self.slot.start),
            ends_at: ActiveValue::Set(self.slot.end),
            busy_from: ActiveValue::Set(self.busy.start),
            busy_until: ActiveValue::Set(self.busy.end),
            status: ActiveValue::Set(self.status.as_str().to_owned()),
            rescheduled_from: ActiveValue::Set(self.rescheduled_from),
            created_by: ActiveValue::Set(self.created_by),
            checked_in_at: ActiveValue::Set(None),
            started_at: ActiveValue::Set(None),
            completed_at: ActiveValue::Set(None),
            cancelled_at: ActiveValue::Set(None),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
            off_schedule: ActiveValue::Set(false),
        }
    }
}

/// Applies sealed text changes to a row.
pub fn seal_changes(
    key: &DataKey,
    row: Model,
    changes: &AppointmentChanges,
    now: Timestamp,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, row.id);
    let mut active: ActiveModel = row.into();
    if let Some(v) = &changes.title {
        active.title = ActiveValue::Set(seal.text("title", v.trim()));
    }
    if let Some(v) = &changes.notes {
        active.notes = ActiveValue::Set(seal.optional_text("notes", v.as_deref()));
    }
    if let Some(v) = &changes.meeting_link {
        active.meeting_link = ActiveValue::Set(seal.optional_text("meeting_link", v.as_deref()));
    }
    active.updated_at = ActiveValue::Set(now);
    active
}

/// Moves the appointment `row` to `to`, stamping the time the move stands
/// for, provided its status is still the one `row` was read with; `None`
/// when another request moved it first. Compare-and-set instead of a row
/// lock: two moves of one appointment cannot both pass the machine's check
/// on the same old status, and no lock is taken before the reminders'
/// (which the reminder sender locks first).
pub async fn move_to(
    txn: &impl sea_orm::ConnectionTrait,
    row: &Model,
    to: AppointmentStatus,
    now: Timestamp,
) -> Result<Option<Model>, DbErr> {
    use sea_orm::sea_query::Expr;
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    let stamp = match to {
        AppointmentStatus::CheckedIn => Some(Column::CheckedInAt),
        AppointmentStatus::InProgress => Some(Column::StartedAt),
        AppointmentStatus::Completed => Some(Column::CompletedAt),
        AppointmentStatus::Cancelled | AppointmentStatus::Rescheduled => Some(Column::CancelledAt),
        _ => None,
    };
    if let Some(column) = stamp {
        update = update.col_expr(column, Expr::value(now));
    }
    let done = update
        .filter(Column::Id.eq(row.id))
        .filter(Column::Status.eq(row.status.as_str()))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Ok(None);
    }
    Entity::find_by_id(row.id).one(txn).await
}

/// The answer when another request moved the appointment first.
pub fn moved_meanwhile() -> ApiError {
    ApiError::Conflict(
        "the appointment's status changed while this request ran; read it again".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_allows_exactly_the_domain_moves() {
        use AppointmentStatus::*;
        let allowed = [
            (Pending, Confirmed),
            (Confirmed, Reminded),
            (Reminded, CheckedIn),
            (Confirmed, CheckedIn),
            (CheckedIn, InProgress),
            (InProgress, Completed),
            (Confirmed, NoShow),
            (Reminded, NoShow),
            (CheckedIn, NoShow),
        ];
        let not_started = [Pending, Confirmed, Reminded, CheckedIn];
        for from in AppointmentStatus::ALL {
            for to in AppointmentStatus::ALL {
                let expected = allowed.contains(&(from, to))
                    || (not_started.contains(&from) && matches!(to, Cancelled | Rescheduled));
                assert_eq!(from.transition(to).is_ok(), expected, "{from} -> {to}");
            }
        }
        let refused = Pending.transition(Completed).unwrap_err();
        assert_eq!(refused.allowed, ["confirmed", "cancelled", "rescheduled"]);
        assert!(Completed.next().is_empty());
    }

    #[test]
    fn seed_001_names_are_accepted_and_shown() {
        let parse = |s: &str| StatusName::try_from(s.to_owned()).map(|n| n.0);
        assert_eq!(parse("Scheduled"), Ok(AppointmentStatus::Confirmed));
        assert_eq!(parse("No Show"), Ok(AppointmentStatus::NoShow));
        assert_eq!(parse("checked_in"), Ok(AppointmentStatus::CheckedIn));
        assert!(
            parse("Done")
                .unwrap_err()
                .contains("not an appointment status")
        );
        assert_eq!(AppointmentStatus::Reminded.seed_001_name(), "Scheduled");
        assert_eq!(AppointmentStatus::NoShow.seed_001_name(), "No Show");
    }
}
