//! Task queries, always through a scope from the policy engine.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Condition;
use sea_orm::{ConnectionTrait, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tasks::{self, NewTask, TaskChanges, TaskPriority, TaskStatus};
use crate::crypto::DataKey;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// The tasks of the scope's facility. Every role that reads tasks reads all
/// of its facility's; what it may change is narrowed per task by
/// [`FacilityScope::require_assigned`].
fn visible(scope: &FacilityScope) -> Select<tasks::Entity> {
    tasks::Entity::find().filter(tasks::Column::FacilityId.eq(scope.facility_id()))
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<tasks::Model>, DbErr> {
    visible(scope)
        .filter(tasks::Column::Id.eq(id))
        .one(db)
        .await
}

/// A named list of tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskView {
    /// "My open tasks": assigned to the caller, Pending or In Progress.
    MineOpen,
    /// Pending or In Progress and past their due date.
    Overdue,
}

/// Which tasks a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// `mine_open`: the caller's open tasks; `overdue`: open tasks past due.
    #[param(inline)]
    pub view: Option<TaskView>,
    pub status: Option<TaskStatus>,
    pub priority: Option<TaskPriority>,
    pub assignee_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl TaskFilter {
    /// The condition of this filter for `caller` (whose tasks `mine_open`
    /// lists) as of `now` (what `overdue` compares with).
    fn condition(&self, caller: Uuid, now: Timestamp) -> Condition {
        use tasks::Column;
        let open = || Column::Status.is_in(TaskStatus::OPEN.map(TaskStatus::as_str));
        let mut all = Condition::all();
        match self.view {
            Some(TaskView::MineOpen) => {
                all = all.add(Column::AssigneeId.eq(caller)).add(open());
            }
            Some(TaskView::Overdue) => {
                all = all.add(open()).add(Column::DueAt.lt(now));
            }
            None => {}
        }
        if let Some(status) = self.status {
            all = all.add(Column::Status.eq(status.as_str()));
        }
        if let Some(priority) = self.priority {
            all = all.add(Column::Priority.eq(priority.as_str()));
        }
        let equal_ids = [
            (Column::AssigneeId, self.assignee_id),
            (Column::LeadId, self.lead_id),
            (Column::PatientId, self.patient_id),
        ];
        for (column, value) in equal_ids {
            if let Some(value) = value {
                all = all.add(column.eq(value));
            }
        }
        all
    }
}

/// A page of the visible tasks matching `filter`, oldest first.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &TaskFilter,
    now: Timestamp,
    limit: u64,
) -> Result<Vec<tasks::Model>, DbErr> {
    let mut query = visible(scope)
        .filter(filter.condition(scope.account_id(), now))
        .order_by_asc(tasks::Column::Id)
        .limit(limit);
    if let Some(after) = filter.after {
        query = query.filter(tasks::Column::Id.gt(after));
    }
    query.all(db).await
}

/// Raises a task in the scope's facility, created by the scope's account.
pub async fn insert(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    id: Uuid,
    new: &NewTask,
    assignee_id: Option<Uuid>,
    now: Timestamp,
) -> Result<tasks::Model, DbErr> {
    tasks::seal_new(
        key,
        id,
        scope.facility_id(),
        new,
        assignee_id,
        scope.account_id(),
        now,
    )
    .insert(txn)
    .await
}

/// Writes the changed columns of a task of the scope's facility.
async fn save(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: tasks::ActiveModel,
) -> Result<tasks::Model, DbErr> {
    crate::db::update_in_facility(txn, row, tasks::Column::FacilityId, scope.facility_id()).await
}

/// Applies a task's sealed changes.
pub async fn update(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    row: tasks::Model,
    changes: &TaskChanges,
    now: Timestamp,
) -> Result<tasks::Model, DbErr> {
    save(txn, scope, tasks::seal_changes(key, row, changes, now)).await
}

/// Moves a task to `to` (the caller checked the move).
pub async fn set_status(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: tasks::Model,
    to: TaskStatus,
    now: Timestamp,
) -> Result<tasks::Model, DbErr> {
    save(txn, scope, tasks::moved(row, to, now)).await
}
