//! The task (seed 001): a piece of work someone in the facility must do,
//! often about a lead or a patient — call back, review labs, send a form.
//! Its title and description are free text about a person, so they are
//! sealed under the facility's data key like any other PHI. A task has a
//! priority whose SLA gives it a due date when none is given, and a status
//! that moves Pending → In Progress → Completed, or to Cancelled while open.

use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{DataKey, RowSealer, Sealed};
use crate::error::ApiError;
use crate::time::Timestamp;
use crate::transition::{StateMachine, UnknownStoredValue, string_enum};
use crate::validation::Checks;

pub const TABLE: &str = "tasks";

/// The fields whose values the audit log never records.
pub const PHI_FIELDS: &[&str] = &["title", "description"];

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;

string_enum! {
    /// How soon a task must be done (seed 001's `tasks.priority`).
    TaskPriority {
        Low => "Low",
        Medium => "Medium",
        High => "High",
        Urgent => "Urgent",
    }
}

impl TaskPriority {
    /// Seed 001's service levels: how long after it is raised a task of
    /// this priority is due. Urgent means now.
    pub fn sla_secs(self) -> i64 {
        const HOUR: i64 = 60 * 60;
        const DAY: i64 = 24 * HOUR;
        match self {
            TaskPriority::Urgent => 0,
            TaskPriority::High => DAY,
            TaskPriority::Medium => 3 * DAY,
            TaskPriority::Low => 7 * DAY,
        }
    }

    /// When a task of this priority raised at `raised` is due.
    pub fn due_from(self, raised: Timestamp) -> Timestamp {
        raised.plus_secs(self.sla_secs())
    }
}

string_enum! {
    /// Where a task stands (seed 001's `tasks.status`).
    TaskStatus {
        Pending => "Pending",
        InProgress => "In Progress",
        Completed => "Completed",
        Cancelled => "Cancelled",
    }
}

impl StateMachine for TaskStatus {
    const ENTITY: &'static str = "task";

    fn next(self) -> &'static [Self] {
        use TaskStatus::*;
        match self {
            Pending => &[InProgress, Cancelled],
            InProgress => &[Completed, Cancelled],
            Completed | Cancelled => &[],
        }
    }
}

impl TaskStatus {
    /// The statuses of work still to do.
    pub const OPEN: [TaskStatus; 2] = [TaskStatus::Pending, TaskStatus::InProgress];

    pub fn is_open(self) -> bool {
        !self.next().is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub facility_id: Uuid,
    pub title: Sealed,
    pub description: Option<Sealed>,
    pub priority: String,
    pub status: String,
    /// Who must do it; none when it waits to be picked up.
    pub assignee_id: Option<Uuid>,
    pub created_by: Uuid,
    pub lead_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub due_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn task_status(&self) -> Result<TaskStatus, UnknownStoredValue> {
        TaskStatus::from_stored(&self.status, TABLE, "status", self.id)
    }

    pub fn task_priority(&self) -> Result<TaskPriority, UnknownStoredValue> {
        TaskPriority::from_stored(&self.priority, TABLE, "priority", self.id)
    }

    /// Who may change the task when their role reaches only their own
    /// records: its assignee and its creator.
    pub fn assignees(&self) -> [Option<Uuid>; 2] {
        [self.assignee_id, Some(self.created_by)]
    }
}

/// A task as the API shows it, opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub facility_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub priority: TaskPriority,
    pub status: TaskStatus,
    pub assignee_id: Option<Uuid>,
    pub created_by: Uuid,
    /// The lead the task is about.
    pub lead_id: Option<Uuid>,
    /// The patient the task is about.
    pub patient_id: Option<Uuid>,
    pub due_at: Timestamp,
    /// Still open and past `due_at`, as of this response.
    pub overdue: bool,
    /// When it was completed; absent unless `Completed`.
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new task.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    /// `Medium` when absent.
    pub priority: Option<TaskPriority>,
    /// An account with a role in the facility; the creator when absent.
    pub assignee_id: Option<Uuid>,
    /// A lead of the facility.
    pub lead_id: Option<Uuid>,
    /// A patient of the facility that the creator can see.
    pub patient_id: Option<Uuid>,
    /// When absent, the priority's SLA from now: Urgent now, High in 24
    /// hours, Medium in 3 days, Low in a week.
    pub due_at: Option<Timestamp>,
}

/// Changes to a task: an absent field stays, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskChanges {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Raising the priority brings `due_at` forward to the new SLA
    /// (counted from the task's creation) when that is sooner and no
    /// `due_at` is given; lowering it never moves the due date.
    pub priority: Option<TaskPriority>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub lead_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(value_type = Option<Uuid>)]
    pub patient_id: Option<Option<Uuid>>,
    pub due_at: Option<Timestamp>,
}

impl NewTask {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.text("title", &self.title, MAX_TITLE);
        c.optional_text("description", self.description.as_deref(), MAX_DESCRIPTION);
        c.done()
    }
}

impl TaskChanges {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::default();
        c.optional_text("title", self.title.as_deref(), MAX_TITLE);
        if let Some(Some(description)) = &self.description {
            c.text("description", description, MAX_DESCRIPTION);
        }
        c.done()
    }

    /// The names of the fields this change touches, for the audit log.
    pub fn touched(&self) -> Vec<&'static str> {
        let present = [
            (self.title.is_some(), "title"),
            (self.description.is_some(), "description"),
            (self.priority.is_some(), "priority"),
            (self.assignee_id.is_some(), "assignee_id"),
            (self.lead_id.is_some(), "lead_id"),
            (self.patient_id.is_some(), "patient_id"),
            (self.due_at.is_some(), "due_at"),
        ];
        present
            .into_iter()
            .filter_map(|(given, name)| given.then_some(name))
            .collect()
    }

    /// The due date after this change: the one given, or the current one
    /// brought forward to a raised priority's SLA.
    pub fn due_at(&self, row: &Model) -> Timestamp {
        if let Some(due) = self.due_at {
            return due;
        }
        match self.priority {
            Some(priority) => row.due_at.min(priority.due_from(row.created_at)),
            None => row.due_at,
        }
    }
}

/// The sealed row for a new task, due when given or by its priority's SLA.
pub fn seal_new(
    key: &DataKey,
    id: Uuid,
    facility_id: Uuid,
    new: &NewTask,
    assignee_id: Option<Uuid>,
    created_by: Uuid,
    now: Timestamp,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, id);
    let priority = new.priority.unwrap_or(TaskPriority::Medium);
    ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(facility_id),
        title: ActiveValue::Set(seal.text("title", new.title.trim())),
        description: ActiveValue::Set(
            seal.optional_text("description", new.description.as_deref()),
        ),
        priority: ActiveValue::Set(priority.as_str().to_owned()),
        status: ActiveValue::Set(TaskStatus::Pending.as_str().to_owned()),
        assignee_id: ActiveValue::Set(assignee_id),
        created_by: ActiveValue::Set(created_by),
        lead_id: ActiveValue::Set(new.lead_id),
        patient_id: ActiveValue::Set(new.patient_id),
        due_at: ActiveValue::Set(new.due_at.unwrap_or_else(|| priority.due_from(now))),
        completed_at: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
}

/// Applies sealed changes to a row.
pub fn seal_changes(
    key: &DataKey,
    row: Model,
    changes: &TaskChanges,
    now: Timestamp,
) -> ActiveModel {
    let seal = RowSealer::new(key, TABLE, row.id);
    let due_at = changes.due_at(&row);
    let mut active: ActiveModel = row.into();
    if let Some(v) = &changes.title {
        active.title = ActiveValue::Set(seal.text("title", v.trim()));
    }
    if let Some(v) = &changes.description {
        active.description = ActiveValue::Set(seal.optional_text("description", v.as_deref()));
    }
    if let Some(v) = changes.priority {
        active.priority = ActiveValue::Set(v.as_str().to_owned());
    }
    if let Some(v) = changes.assignee_id {
        active.assignee_id = ActiveValue::Set(v);
    }
    if let Some(v) = changes.lead_id {
        active.lead_id = ActiveValue::Set(v);
    }
    if let Some(v) = changes.patient_id {
        active.patient_id = ActiveValue::Set(v);
    }
    active.due_at = ActiveValue::Set(due_at);
    active.updated_at = ActiveValue::Set(now);
    active
}

/// Moves a row to `to`, stamping `completed_at` on completion.
pub fn moved(row: Model, to: TaskStatus, now: Timestamp) -> ActiveModel {
    let mut active: ActiveModel = row.into();
    active.status = ActiveValue::Set(to.as_str().to_owned());
    if to == TaskStatus::Completed {
        active.completed_at = ActiveValue::Set(Some(now));
    }
    active.updated_at = ActiveValue::Set(now);
    active
}

impl Task {
    /// Opens a row as of `now`. A field that does not open fails the task.
    pub fn open(key: &DataKey, row: &Model, now: Timestamp) -> Result<Self, ApiError> {
        let seal = RowSealer::new(key, TABLE, row.id);
        let status = row.task_status()?;
        Ok(Self {
            id: row.id,
            facility_id: row.facility_id,
            title: seal.open_text("title", &row.title)?,
            description: seal.open_optional_text("description", &row.description)?,
            priority: row.task_priority()?,
            status,
            assignee_id: row.assignee_id,
            created_by: row.created_by,
            lead_id: row.lead_id,
            patient_id: row.patient_id,
            due_at: row.due_at,
            overdue: status.is_open() && row.due_at < now,
            completed_at: row.completed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_allows_exactly_the_seed_moves() {
        use TaskStatus::*;
        let allowed = [
            (Pending, InProgress),
            (InProgress, Completed),
            (Pending, Cancelled),
            (InProgress, Cancelled),
        ];
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.transition(to).is_ok(), expected, "{from} -> {to}");
            }
        }
        let refused = Pending.transition(Completed).unwrap_err();
        assert_eq!(refused.allowed, ["In Progress", "Cancelled"]);
        assert!(
            Completed
                .transition(Cancelled)
                .unwrap_err()
                .allowed
                .is_empty()
        );
    }

    #[test]
    fn seed_spellings_round_trip() {
        assert_eq!(
            TaskStatus::parse("In Progress"),
            Some(TaskStatus::InProgress)
        );
        assert_eq!(
            serde_json::to_value(TaskPriority::Urgent).unwrap(),
            "Urgent"
        );
        assert_eq!(TaskStatus::OPEN.map(TaskStatus::is_open), [true, true]);
    }

    #[test]
    fn due_dates_follow_the_seed_slas() {
        let now = Timestamp::from_micros(1_000_000_000_000_000);
        let hours =
            |p: TaskPriority| (p.due_from(now).as_micros() - now.as_micros()) / 3_600_000_000;
        assert_eq!(hours(TaskPriority::Urgent), 0);
        assert_eq!(hours(TaskPriority::High), 24);
        assert_eq!(hours(TaskPriority::Medium), 72);
        assert_eq!(hours(TaskPriority::Low), 168);
    }

    #[test]
    fn raising_the_priority_brings_the_due_date_forward_and_lowering_keeps_it() {
        use sea_orm::TryIntoModel;
        let created = Timestamp::from_micros(1_000_000_000_000_000);
        let key = DataKey::new(Uuid::now_v7(), &[7u8; 32]);
        let new = NewTask {
            title: "Call back".into(),
            priority: Some(TaskPriority::Low),
            ..NewTask::default()
        };
        let active = seal_new(
            &key,
            Uuid::now_v7(),
            Uuid::now_v7(),
            &new,
            None,
            Uuid::now_v7(),
            created,
        );
        let row = active.try_into_model().unwrap();
        let raise = TaskChanges {
            priority: Some(TaskPriority::High),
            ..TaskChanges::default()
        };
        assert_eq!(raise.due_at(&row), created.plus_secs(24 * 3600));
        let lower = TaskChanges {
            priority: Some(TaskPriority::Low),
            ..TaskChanges::default()
        };
        let mut urgent = row.clone();
        urgent.due_at = created;
        assert_eq!(lower.due_at(&urgent), created);
        let explicit = TaskChanges {
            priority: Some(TaskPriority::Urgent),
            due_at: Some(created.plus_secs(10)),
            ..TaskChanges::default()
        };
        assert_eq!(explicit.due_at(&row), created.plus_secs(10));
    }

    #[test]
    fn bad_fields_are_all_named() {
        let fields: Vec<String> = match (NewTask {
            title: " ".into(),
            description: Some(String::new()),
            ..NewTask::default()
        })
        .validate()
        {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, ["title", "description"]);
    }
}
