//! The tables of a lead's engagement (seed 000): AI qualification logs, web
//! chat sessions and communications, and seed 000's `communication_audit`
//! view, which now also shows each communication's channel, direction and
//! retention category.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;

// The allowed values as they were when this migration was written; a test
// keeps them equal to the types. A later value needs a later migration.
const QUALIFICATION_OUTCOMES: [&str; 4] =
    ["qualified", "not_qualified", "needs_review", "incomplete"];
const CHANNELS: [&str; 7] = [
    "email",
    "sms",
    "phone",
    "web_chat",
    "in_person",
    "portal",
    "other",
];
const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
const RETENTION_CATEGORIES: [&str; 4] = ["clinical", "marketing", "operational", "legal"];

fn col(name: &str) -> Alias {
    Alias::new(name)
}

fn uuid(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).uuid().not_null().to_owned()
}

fn optional_uuid(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).uuid().to_owned()
}

fn required_sealed(name: &str) -> ColumnDef {
    ColumnDef::new(col(name)).binary().not_null().to_owned()
}

pub struct CreateEngagement;

impl MigrationName for CreateEngagement {
    fn name(&self) -> &str {
        "m20261126_000100_crm_engagement"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEngagement {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(ai_logs_table()).await?;
        manager
            .create_index(schema::index("ai_qual_logs", &["lead_id", "id"]))
            .await?;
        manager.create_table(chat_sessions_table()).await?;
        for columns in CHAT_INDEXES {
            manager
                .create_index(schema::index("chat_sessions", columns))
                .await?;
        }
        manager.create_table(communications_table()).await?;
        manager
            .create_index(schema::unique_index(
                "communications",
                &["facility_id", "idempotency_key"],
            ))
            .await?;
        for columns in COMMUNICATION_INDEXES {
            manager
                .create_index(schema::index("communications", columns))
                .await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP VIEW IF EXISTS communication_audit")
            .await?;
        db.execute_unprepared(&communication_view(manager.get_database_backend()))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP VIEW IF EXISTS communication_audit")
            .await?;
        db.execute_unprepared(COMMUNICATION_VIEW_BEFORE).await?;
        for table in ["communications", "chat_sessions", "ai_qual_logs"] {
            manager
                .drop_table(Table::drop().table(col(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

fn ai_logs_table() -> TableCreateStatement {
    let confidence = col("confidence");
    Table::create()
        .table(col("ai_qual_logs"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(uuid("lead_id"))
        .col(required_sealed("prompt"))
        .col(required_sealed("response"))
        .col(ColumnDef::new(col("model")).string_len(100).not_null())
        .col(schema::enumeration(
            "ai_qual_logs",
            "outcome",
            &QUALIFICATION_OUTCOMES,
        ))
        .col(
            ColumnDef::new(confidence.clone())
                .double()
                .check(Check::named(
                    col("ai_qual_logs_confidence_check"),
                    Expr::col(confidence).between(0.0, 1.0),
                )),
        )
        .col(uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            "ai_qual_logs",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key("ai_qual_logs", "lead_id", "leads"))
        .foreign_key(&mut schema::foreign_key(
            "ai_qual_logs",
            "created_by",
            "accounts",
        ))
        .to_owned()
}

/// The lists filter by facility (and activity or lead) and page by id; the
/// idle sweep looks for active sessions by their last message.
const CHAT_INDEXES: [&[&str]; 4] = [
    &["facility_id", "id"],
    &["facility_id", "is_active", "id"],
    &["lead_id", "id"],
    &["is_active", "last_message_at"],
];

fn chat_sessions_table() -> TableCreateStatement {
    Table::create()
        .table(col("chat_sessions"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(optional_uuid("lead_id"))
        .col(ColumnDef::new(col("channel")).string_len(100).not_null())
        .col(ColumnDef::new(col("visitor_ref")).string_len(200))
        .col(schema::timestamp(col("started_at")))
        .col(schema::timestamp(col("last_message_at")))
        .col(
            ColumnDef::new(col("message_count"))
                .integer()
                .not_null()
                .default(0),
        )
        .col(ColumnDef::new(col("is_active")).boolean().not_null())
        .col(uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            "chat_sessions",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "chat_sessions",
            "lead_id",
            "leads",
        ))
        .foreign_key(&mut schema::foreign_key(
            "chat_sessions",
            "created_by",
            "accounts",
        ))
        .to_owned()
}

/// A lead's or a patient's communications are one index range each.
const COMMUNICATION_INDEXES: [&[&str]; 3] = [
    &["facility_id", "id"],
    &["lead_id", "id"],
    &["patient_id", "id"],
];

fn communications_table() -> TableCreateStatement {
    let (lead, patient) = (col("lead_id"), col("patient_id"));
    let exactly_one = Condition::any()
        .add(
            Condition::all()
                .add(Expr::col(lead.clone()).is_not_null())
                .add(Expr::col(patient.clone()).is_null()),
        )
        .add(
            Condition::all()
                .add(Expr::col(lead).is_null())
                .add(Expr::col(patient).is_not_null()),
        );
    Table::create()
        .table(col("communications"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(
            ColumnDef::new(col("idempotency_key"))
                .string_len(200)
                .not_null(),
        )
        .col(required_sealed("request_digest"))
        .col(optional_uuid("lead_id"))
        .col(optional_uuid("patient_id"))
        .col(schema::enumeration("communications", "channel", &CHANNELS))
        .col(schema::enumeration(
            "communications",
            "direction",
            &DIRECTIONS,
        ))
        .col(required_sealed("summary"))
        .col(ColumnDef::new(col("contains_phi")).boolean().not_null())
        .col(schema::enumeration(
            "communications",
            "retention_category",
            &RETENTION_CATEGORIES,
        ))
        .col(schema::timestamp(col("occurred_at")))
        .col(uuid("created_by"))
        .col(optional_uuid("api_key_id"))
        .col(schema::timestamp(col("created_at")))
        .check(Check::named(
            col("communications_target_check"),
            exactly_one,
        ))
        .foreign_key(&mut schema::foreign_key(
            "communications",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "communications",
            "lead_id",
            "leads",
        ))
        .foreign_key(&mut schema::foreign_key(
            "communications",
            "patient_id",
            "patients",
        ))
        .foreign_key(&mut schema::foreign_key(
            "communications",
            "created_by",
            "accounts",
        ))
        .foreign_key(&mut schema::foreign_key(
            "communications",
            "api_key_id",
            "api_keys",
        ))
        .to_owned()
}

// Seed 000's view as the audit context left it (m20261126_000070), restored
// by `down`.
const COMMUNICATION_VIEW_BEFORE: &str = "CREATE VIEW communication_audit AS \
     SELECT id, seq, occurred_at, actor_type, actor_id, session_id, action, \
            resource_id AS communication_id, facility_id, patient_id, lead_id, changes, \
            client_addr, user_agent, request_id, compliance_flags, \
            compliance_flags LIKE '%\"phi\"%' AS contains_phi \
     FROM audit_events WHERE resource_type = 'communication'";

/// Seed 000's view with the channel, direction and retention category each
/// communication event records in its changes. The view reads the audit
/// log alone, so it shows what was recorded even for a communication whose
/// row is gone. Reading a field of JSON text is the one part the backends
/// spell differently.
fn communication_view(backend: DbBackend) -> String {
    let field = |name: &str| match backend {
        DbBackend::Postgres => format!("CAST(changes AS jsonb) ->> '{name}' AS {name}"),
        _ => format!("json_extract(changes, '$.{name}') AS {name}"),
    };
    format!(
        "CREATE VIEW communication_audit AS \
         SELECT id, seq, occurred_at, actor_type, actor_id, session_id, action, \
                resource_id AS communication_id, facility_id, patient_id, lead_id, changes, \
                client_addr, user_agent, request_id, compliance_flags, \
                compliance_flags LIKE '%\"phi\"%' AS contains_phi, \
                {}, {}, {} \
         FROM audit_events WHERE resource_type = 'communication'",
        field("channel"),
        field("direction"),
        field("retention_category"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::ai::QualificationOutcome;
    use crate::crm::communications::{
        CommunicationChannel, CommunicationDirection, RetentionCategory,
    };

    #[test]
    fn the_checks_allow_exactly_the_values_of_the_types() {
        assert_eq!(
            QualificationOutcome::ALL.map(QualificationOutcome::as_str),
            QUALIFICATION_OUTCOMES
        );
        assert_eq!(
            CommunicationChannel::ALL.map(CommunicationChannel::as_str),
            CHANNELS
        );
        assert_eq!(
            CommunicationDirection::ALL.map(CommunicationDirection::as_str),
            DIRECTIONS
        );
        assert_eq!(
            RetentionCategory::ALL.map(RetentionCategory::as_str),
            RETENTION_CATEGORIES
        );
    }

    #[test]
    fn the_view_reads_the_same_fields_on_both_backends() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let sql = communication_view(backend);
            for column in [
                "AS contains_phi",
                "AS channel",
                "AS direction",
                "AS retention_category",
                "lead_id",
            ] {
                assert!(sql.contains(column), "{backend:?}: {column}");
            }
        }
    }
}
