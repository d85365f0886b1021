//! `/facilities/{facility_id}/tasks`: seed 001's tasks, with their SLA due
//! dates, their status machine and the two lists people work from (my open
//! tasks, overdue tasks). Everyone with `task:read` sees the facility's
//! tasks; with `task:write`, facility administrators change any task and
//! everyone else only the tasks assigned to them or created by them.
//!
//! A task's title and description are free text about a person, so every
//! read of a task is recorded in the audit log before the response leaves
//! (with the lead or patient it is about), and every write appends its
//! event in its transaction.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::task_store::{self, TaskFilter};
use super::tasks::{self, NewTask, PHI_FIELDS, Task, TaskChanges, TaskStatus};
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::crypto::DataKey;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, FacilityScope, Permission, Principal};
use crate::time::Timestamp;
use crate::transition::StateMachine;
use crate::validation::Checks;

const RESOURCE: &str = "task";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_task, list_tasks))
        .routes(routes!(get_task, update_task))
        .routes(routes!(move_task_status))
}

/// An event about a task by `actor`, carrying the lead and patient it is
/// about so that their timelines show it.
fn task_event(
    actor: &Actor,
    action: AuditAction,
    row: &tasks::Model,
    lead_id: Option<Uuid>,
    patient_id: Option<Uuid>,
) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(row.id)
        .facility(row.facility_id)
        .flag(ComplianceFlag::Phi)
        .concerning(patient_id, lead_id)
}

/// Opens tasks and returns them only once their reads are in the audit log.
async fn open_recorded(
    state: &AppState,
    actor: &Actor,
    key: &DataKey,
    rows: &[tasks::Model],
) -> Result<Vec<Task>, ApiError> {
    let now = Timestamp::now();
    let opened = rows
        .iter()
        .map(|row| Task::open(key, row, now))
        .collect::<Result<Vec<_>, _>>()?;
    let events = rows
        .iter()
        .map(|row| task_event(actor, AuditAction::Read, row, row.lead_id, row.patient_id))
        .collect();
    state.audit.record(events).await?;
    Ok(opened)
}

/// What a task may point at, checked together so that every bad reference
/// is named at once: an assignee with a role in the facility, a lead of the
/// facility, and a patient of the facility that the actor can see (a role
/// without `patient:read`, such as an SDR, links no patient).
struct References {
    assignee_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    patient_id: Option<Uuid>,
}

impl References {
    async fn check(
        &self,
        db: &impl ConnectionTrait,
        actor: &Actor,
        scope: &FacilityScope,
    ) -> Result<(), ApiError> {
        let facility_id = scope.facility_id();
        let mut c = Checks::default();
        if let Some(account) = self.assignee_id
            && !memberships::is_member(db, account, facility_id).await?
        {
            c.fail("assignee_id", memberships::NOT_A_MEMBER);
        }
        if let Some(lead_id) = self.lead_id
            && super::store::find(db, scope, lead_id).await?.is_none()
        {
            c.fail("lead_id", "no lead with this id in this facility");
        }
        if let Some(patient_id) = self.patient_id
            && !crate::care::store::visible_to(db, actor, facility_id, patient_id).await?
        {
            c.fail("patient_id", crate::care::store::NOT_VISIBLE);
        }
        c.done()
    }
}

/// Raises a task. Without `due_at` it is due by its priority's SLA; without
/// `assignee_id` it is the creator's.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/tasks",
    tag = "tasks",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewTask,
    responses((status = 201, description = "Raised", body = Task), Problems),
    security(("bearer" = []))
)]
async fn create_task(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewTask>,
) -> Result<(StatusCode, ApiJson<Task>), ApiError> {
    let scope = actor.facility(facility_id, Permission::TASK_WRITE)?;
    new.validate()?;
    let assignee_id = new.assignee_id.or(match actor.principal {
        Principal::Account { account_id, .. } => Some(account_id),
        Principal::ApiKey { .. } => None,
    });
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    References {
        assignee_id,
        lead_id: new.lead_id,
        patient_id: new.patient_id,
    }
    .check(&*txn, &actor, &scope)
    .await?;
    let now = Timestamp::now();
    let row = task_store::insert(&*txn, &scope, &key, new_id(), &new, assignee_id, now).await?;
    let task = Task::open(&key, &row, now)?;
    let after = serde_json::to_value(&task).unwrap_or_default();
    let event = task_event(
        &actor,
        AuditAction::Create,
        &row,
        row.lead_id,
        row.patient_id,
    )
    .changes(redact(json!({ "after": after }), PHI_FIELDS));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(task)))
}

/// Lists the facility's tasks, filtered, a page at a time. Seed 001's
/// working lists are views: `view=mine_open` (assigned to the caller,
/// Pending or In Progress) and `view=overdue` (open and past due).
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/tasks",
    tag = "tasks",
    params(("facility_id" = Uuid, Path, description = "The facility"), TaskFilter),
    responses((status = 200, description = "A page of tasks", body = Page<Task>), Problems),
    security(("bearer" = []))
)]
async fn list_tasks(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<TaskFilter>,
) -> Result<ApiJson<Page<Task>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::TASK_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let rows = task_store::page(state.db.conn(), &scope, &filter, Timestamp::now(), limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let tasks = open_recorded(&state, &actor, &key, &rows).await?;
    Ok(ApiJson(Page::new(tasks, limit, |t| t.id)))
}

/// Reads one task.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/tasks/{task_id}",
    tag = "tasks",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("task_id" = Uuid, Path, description = "The task"),
    ),
    responses((status = 200, description = "The task", body = Task), Problems),
    security(("bearer" = []))
)]
async fn get_task(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, task_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<Task>, ApiError> {
    let scope = actor.facility(facility_id, Permission::TASK_READ)?;
    let row = task_store::find(state.db.conn(), &scope, task_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = state.keyring.facility(facility_id).await?;
    let mut tasks = open_recorded(&state, &actor, &key, &[row]).await?;
    tasks.pop().map(ApiJson).ok_or(ApiError::NotFound)
}

/// A task the actor may change, read inside `txn`: one of the facility's,
/// and, unless the actor's role reaches every task, assigned to or created
/// by the actor (403 otherwise, as the actor can already see it).
async fn writable_task(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    task_id: Uuid,
) -> Result<tasks::Model, ApiError> {
    let row = task_store::find(txn, scope, task_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    scope.require_assigned(RESOURCE, &row.assignees())?;
    Ok(row)
}

/// Changes a task: absent fields stay, `null` clears an optional field. A
/// completed or cancelled task is final and is not changed.
#[utoipa::path(
    patch,
    path = "/facilities/{facility_id}/tasks/{task_id}",
    tag = "tasks",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("task_id" = Uuid, Path, description = "The task"),
    ),
    request_body = TaskChanges,
    responses((status = 200, description = "The changed task", body = Task), Problems),
    security(("bearer" = []))
)]
async fn update_task(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, task_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<TaskChanges>,
) -> Result<ApiJson<Task>, ApiError> {
    let scope = actor.facility(facility_id, Permission::TASK_WRITE)?;
    changes.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_task(&*txn, &scope, task_id).await?;
    let status = row.task_status()?;
    if !status.is_open() {
        return Err(ApiError::Conflict(format!(
            "the task is `{status}`, which is final; it is no longer changed"
        )));
    }
    References {
        assignee_id: changes.assignee_id.flatten(),
        lead_id: changes.lead_id.flatten(),
        patient_id: changes.patient_id.flatten(),
    }
    .check(&*txn, &actor, &scope)
    .await?;
    let (lead_before, patient_before) = (row.lead_id, row.patient_id);
    let now = Timestamp::now();
    let row = task_store::update(&*txn, &scope, &key, row, &changes, now).await?;
    let task = Task::open(&key, &row, now)?;
    // An unlinked lead or patient keeps the change on its timeline.
    let event = task_event(
        &actor,
        AuditAction::Update,
        &row,
        row.lead_id.or(lead_before),
        row.patient_id.or(patient_before),
    )
    .changes(redact(json!({ "fields": changes.touched() }), PHI_FIELDS));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(task))
}

/// A move of a task's status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskStatusMove {
    pub status: TaskStatus,
}

/// Moves a task: Pending → In Progress → Completed, and Pending or In
/// Progress → Cancelled. Any other move is refused with the allowed ones.
/// Completing it stamps `completed_at`.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/tasks/{task_id}/status",
    tag = "tasks",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("task_id" = Uuid, Path, description = "The task"),
    ),
    request_body = TaskStatusMove,
    responses((status = 200, description = "The moved task", body = Task), Problems),
    security(("bearer" = []))
)]
async fn move_task_status(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, task_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<TaskStatusMove>,
) -> Result<ApiJson<Task>, ApiError> {
    let scope = actor.facility(facility_id, Permission::TASK_WRITE)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = writable_task(&*txn, &scope, task_id).await?;
    let from = row.task_status()?;
    let to = from.transition(body.status)?;
    let now = Timestamp::now();
    let row = task_store::set_status(&*txn, &scope, row, to, now).await?;
    let task = Task::open(&key, &row, now)?;
    let event = task_event(
        &actor,
        AuditAction::Update,
        &row,
        row.lead_id,
        row.patient_id,
    )
    .changes(redact(
        json!({ "status": { "from": from, "to": to } }),
        PHI_FIELDS,
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(ApiJson(task))
}
