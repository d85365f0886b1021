//! The scheduling tables (seeds 000 and 001): provider schedules with their
//! weekly working hours, availability blocks, appointment types,
//! appointments, their reminders, the waitlist and calendar feeds.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema::{self, col, optional_uuid, sealed, uuid};

// The allowed values as they were when this migration was written; a test
// keeps them equal to the types. A later value needs a later migration.
pub(super) const APPOINTMENT_KINDS: [&str; 5] = [
    "consultation",
    "procedure",
    "follow_up",
    "telehealth",
    "other",
];
pub(super) const APPOINTMENT_STATUSES: [&str; 9] = [
    "pending",
    "confirmed",
    "reminded",
    "checked_in",
    "in_progress",
    "completed",
    "no_show",
    "cancelled",
    "rescheduled",
];
pub(super) const REMINDER_STATUSES: [&str; 4] = ["pending", "sent", "cancelled", "skipped"];
pub(super) const WAITLIST_STATUSES: [&str; 5] =
    ["waiting", "offered", "booked", "cancelled", "expired"];

fn minutes(name: &str, default: i32) -> ColumnDef {
    ColumnDef::new(col(name))
        .integer()
        .not_null()
        .default(default)
        .to_owned()
}

pub struct CreateScheduling;

impl MigrationName for CreateScheduling {
    fn name(&self) -> &str {
        "m20261126_000120_scheduling"
    }
}

/// Slot search and the double-booking check read a provider's appointments
/// by the start of their busy time; the lists read a facility's by start,
/// and by patient or lead. Reminders are picked by status and due time.
const INDEXES: [(&str, &[&str]); 10] = [
    (
        "availability_blocks",
        &["facility_id", "provider_id", "starts_at"],
    ),
    ("availability_blocks", &["facility_id", "starts_at"]),
    ("appointments", &["provider_id", "busy_from"]),
    ("appointments", &["facility_id", "starts_at", "id"]),
    ("appointments", &["facility_id", "patient_id", "starts_at"]),
    ("appointments", &["facility_id", "lead_id", "starts_at"]),
    ("appointment_reminders", &["status", "due_at"]),
    ("appointment_reminders", &["appointment_id"]),
    ("waitlist", &["facility_id", "status", "created_at"]),
    ("waitlist_providers", &["provider_id"]),
];

const UNIQUE: [(&str, &[&str]); 6] = [
    ("schedules", &["facility_id", "provider_id"]),
    ("appointment_types", &["facility_id", "name"]),
    ("appointment_type_providers", &["type_id", "provider_id"]),
    (
        "appointment_reminders",
        &["appointment_id", "offset_minutes"],
    ),
    ("waitlist_providers", &["waitlist_id", "provider_id"]),
    ("calendar_feeds", &["token_hash"]),
];

/// Dropped in this order (children first).
const TABLES: [&str; 10] = [
    "calendar_feeds",
    "waitlist_providers",
    "waitlist",
    "appointment_reminders",
    "appointments",
    "appointment_type_providers",
    "appointment_types",
    "availability_blocks",
    "working_hours",
    "schedules",
];

#[async_trait::async_trait]
impl MigrationTrait for CreateScheduling {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            schedules(),
            working_hours(),
            availability_blocks(),
            appointment_types(),
            appointment_type_providers(),
            appointments(),
            reminders(),
            waitlist(),
            waitlist_providers(),
            calendar_feeds(),
        ];
        schema::create_all(manager, tables, &INDEXES, &UNIQUE).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_all(manager, &TABLES).await
    }
}

fn schedules() -> TableCreateStatement {
    Table::create()
        .table(col("schedules"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(uuid("provider_id"))
        .col(ColumnDef::new(col("time_zone")).string().to_owned())
        .col(minutes("slot_minutes", 15))
        .col(minutes("min_notice_minutes", 60))
        // Bumped by every booking: the row lock that serializes a
        // provider's bookings (see `scheduling::booking`).
        .col(
            ColumnDef::new(col("bookings"))
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        )
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(
            "schedules",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "schedules",
            "provider_id",
            "accounts",
        ))
        .to_owned()
}

fn working_hours() -> TableCreateStatement {
    Table::create()
        .table(col("working_hours"))
        .col(schema::id(col("id")))
        .col(uuid("schedule_id"))
        // ISO weekday: 1 is Monday, 7 is Sunday.
        .col(
            ColumnDef::new(col("weekday"))
                .small_integer()
                .not_null()
                .to_owned(),
        )
        // Minutes after local midnight.
        .col(minutes("start_minute", 0))
        .col(minutes("end_minute", 0))
        .foreign_key(&mut schema::foreign_key(
            "working_hours",
            "schedule_id",
            "schedules",
        ))
        .to_owned()
}

fn availability_blocks() -> TableCreateStatement {
    Table::create()
        .table(col("availability_blocks"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        // None: the whole facility (seed 000's blocks name no provider).
        .col(optional_uuid("provider_id"))
        .col(schema::timestamp(col("starts_at")))
        .col(schema::timestamp(col("ends_at")))
        .col(
            ColumnDef::new(col("is_available"))
                .boolean()
                .not_null()
                .to_owned(),
        )
        .col(ColumnDef::new(col("reason")).string().not_null().to_owned())
        .col(optional_uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            "availability_blocks",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "availability_blocks",
            "provider_id",
            "accounts",
        ))
        .to_owned()
}

fn appointment_types() -> TableCreateStatement {
    Table::create()
        .table(col("appointment_types"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(ColumnDef::new(col("name")).string().not_null().to_owned())
        .col(schema::enumeration(
            "appointment_types",
            "kind",
            &APPOINTMENT_KINDS,
        ))
        .col(minutes("duration_minutes", 30))
        .col(minutes("buffer_before_minutes", 0))
        .col(minutes("buffer_after_minutes", 0))
        .col(
            ColumnDef::new(col("active"))
                .boolean()
                .not_null()
                .default(true)
                .to_owned(),
        )
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(
            "appointment_types",
            "facility_id",
            "facilities",
        ))
        .to_owned()
}

fn appointment_type_providers() -> TableCreateStatement {
    Table::create()
        .table(col("appointment_type_providers"))
        .col(schema::id(col("id")))
        .col(uuid("type_id"))
        .col(uuid("provider_id"))
        .foreign_key(&mut schema::foreign_key(
            "appointment_type_providers",
            "type_id",
            "appointment_types",
        ))
        .foreign_key(&mut schema::foreign_key(
            "appointment_type_providers",
            "provider_id",
            "accounts",
        ))
        .to_owned()
}

fn appointments() -> TableCreateStatement {
    Table::create()
        .table(col("appointments"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(uuid("provider_id"))
        .col(optional_uuid("type_id"))
        .col(schema::enumeration(
            "appointments",
            "kind",
            &APPOINTMENT_KINDS,
        ))
        .col(ColumnDef::new(col("title")).binary().not_null().to_owned())
        .col(sealed("notes"))
        .col(sealed("meeting_link"))
        .col(optional_uuid("patient_id"))
        .col(optional_uuid("lead_id"))
        .col(schema::timestamp(col("starts_at")))
        .col(schema::timestamp(col("ends_at")))
        // The start and end widened by the type's buffers: the time the
        // provider is taken, which no two live appointments share.
        .col(schema::timestamp(col("busy_from")))
        .col(schema::timestamp(col("busy_until")))
        .col(schema::enumeration(
            "appointments",
            "status",
            &APPOINTMENT_STATUSES,
        ))
        .col(optional_uuid("rescheduled_from"))
        .col(uuid("created_by"))
        .col(schema::optional_timestamp(col("checked_in_at")))
        .col(schema::optional_timestamp(col("started_at")))
        .col(schema::optional_timestamp(col("completed_at")))
        .col(schema::optional_timestamp(col("cancelled_at")))
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(
            "appointments",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "appointments",
            "provider_id",
            "accounts",
        ))
        .foreign_key(&mut schema::foreign_key(
            "appointments",
            "type_id",
            "appointment_types",
        ))
        .foreign_key(&mut schema::foreign_key(
            "appointments",
            "patient_id",
            "patients",
        ))
        .foreign_key(&mut schema::foreign_key("appointments", "lead_id", "leads"))
        .foreign_key(&mut schema::foreign_key(
            "appointments",
            "rescheduled_from",
            "appointments",
        ))
        .foreign_key(&mut schema::foreign_key(
            "appointments",
            "created_by",
            "accounts",
        ))
        .to_owned()
}

fn reminders() -> TableCreateStatement {
    Table::create()
        .table(col("appointment_reminders"))
        .col(schema::id(col("id")))
        .col(uuid("appointment_id"))
        .col(uuid("facility_id"))
        .col(minutes("offset_minutes", 0))
        .col(schema::timestamp(col("due_at")))
        .col(schema::enumeration(
            "appointment_reminders",
            "status",
            &REMINDER_STATUSES,
        ))
        // Why a reminder was skipped (no address, the appointment moved on).
        .col(ColumnDef::new(col("note")).string().to_owned())
        .col(optional_uuid("outbox_message_id"))
        .col(schema::optional_timestamp(col("sent_at")))
        .col(schema::timestamp(col("created_at")))
        .foreign_key(&mut schema::foreign_key(
            "appointment_reminders",
            "appointment_id",
            "appointments",
        ))
        .to_owned()
}

fn waitlist() -> TableCreateStatement {
    Table::create()
        .table(col("waitlist"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        .col(optional_uuid("patient_id"))
        .col(optional_uuid("lead_id"))
        .col(optional_uuid("type_id"))
        .col(minutes("duration_minutes", 30))
        .col(schema::timestamp(col("window_start")))
        .col(schema::timestamp(col("window_end")))
        .col(sealed("notes"))
        .col(schema::enumeration(
            "waitlist",
            "status",
            &WAITLIST_STATUSES,
        ))
        .col(optional_uuid("offer_provider_id"))
        .col(schema::optional_timestamp(col("offer_starts_at")))
        .col(schema::optional_timestamp(col("offer_expires_at")))
        .col(optional_uuid("appointment_id"))
        .col(uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .col(schema::timestamp(col("updated_at")))
        .foreign_key(&mut schema::foreign_key(
            "waitlist",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "waitlist",
            "patient_id",
            "patients",
        ))
        .foreign_key(&mut schema::foreign_key("waitlist", "lead_id", "leads"))
        .foreign_key(&mut schema::foreign_key(
            "waitlist",
            "type_id",
            "appointment_types",
        ))
        .foreign_key(&mut schema::foreign_key(
            "waitlist",
            "appointment_id",
            "appointments",
        ))
        .to_owned()
}

fn waitlist_providers() -> TableCreateStatement {
    Table::create()
        .table(col("waitlist_providers"))
        .col(schema::id(col("id")))
        .col(uuid("waitlist_id"))
        .col(uuid("provider_id"))
        .foreign_key(&mut schema::foreign_key(
            "waitlist_providers",
            "waitlist_id",
            "waitlist",
        ))
        .to_owned()
}

fn calendar_feeds() -> TableCreateStatement {
    Table::create()
        .table(col("calendar_feeds"))
        .col(schema::id(col("id")))
        .col(uuid("facility_id"))
        // Exactly one of the two: whose appointments the feed shows.
        .col(optional_uuid("provider_id"))
        .col(optional_uuid("patient_id"))
        .col(
            ColumnDef::new(col("token_hash"))
                .binary()
                .not_null()
                .to_owned(),
        )
        .col(uuid("created_by"))
        .col(schema::timestamp(col("created_at")))
        .col(schema::optional_timestamp(col("revoked_at")))
        .foreign_key(&mut schema::foreign_key(
            "calendar_feeds",
            "facility_id",
            "facilities",
        ))
        .foreign_key(&mut schema::foreign_key(
            "calendar_feeds",
            "patient_id",
            "patients",
        ))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduling::appointments::AppointmentStatus;
    use crate::scheduling::reminders::ReminderStatus;
    use crate::scheduling::schedules::AppointmentKind;
    use crate::scheduling::waitlist::WaitlistStatus;

    #[test]
    fn the_checked_values_are_the_types_values() {
        assert_eq!(
            APPOINTMENT_KINDS,
            AppointmentKind::ALL.map(AppointmentKind::as_str)
        );
        assert_eq!(
            APPOINTMENT_STATUSES,
            AppointmentStatus::ALL.map(AppointmentStatus::as_str)
        );
        assert_eq!(
            REMINDER_STATUSES,
            ReminderStatus::ALL.map(ReminderStatus::as_str)
        );
        assert_eq!(
            WAITLIST_STATUSES,
            WaitlistStatus::ALL.map(WaitlistStatus::as_str)
        );
    }
}
