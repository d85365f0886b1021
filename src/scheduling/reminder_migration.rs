//! Reminders by text message: each reminder may name its channel (`email`
//! or `sms`); none means the patient's preference, else email.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;

/// The channels a reminder names, as its check allows them.
pub const REMINDER_CHANNELS: [&str; 2] = ["email", "sms"];

pub struct AddReminderChannel;

impl MigrationName for AddReminderChannel {
    fn name(&self) -> &str {
        "m20261208_000440_reminder_channel"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddReminderChannel {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(schema::col("appointment_reminders"))
                    .add_column(schema::optional_enumeration(
                        "appointment_reminders",
                        "channel",
                        &REMINDER_CHANNELS,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        schema::drop_columns(manager, "appointment_reminders", &["channel"]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduling::reminder_delivery::ReminderChannel;

    #[test]
    fn the_checked_values_are_the_types_values() {
        assert_eq!(
            REMINDER_CHANNELS,
            ReminderChannel::ALL.map(ReminderChannel::as_str)
        );
    }
}
