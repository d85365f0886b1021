//! Busy time precomputed per provider and day, for the open-slot search.
//!
//! A search over 20 providers and 30 days used to read every appointment
//! of the period (10 000 rows for a busy clinic) to learn when the
//! providers are taken. `appointment_busy_days` holds, per provider and
//! UTC day of `busy_from`, the busy spans of that day's appointments as
//! one short text, so the same search reads some 600 rows.
//!
//! The database keeps it, not the server: triggers on `appointments`
//! rewrite the rows of the provider-days a written appointment leaves and
//! enters, in the transaction that writes it (see
//! [`super::busy_days_migration`]). It is therefore never stale, whichever
//! path or server booked, cancelled or moved, and needs no invalidation
//! here. Each span carries its appointment's status, so which statuses
//! take time ([`AppointmentStatus::LIVE`]) is decided here, as in the
//! query it replaces.
//!
//! Only the search reads it. Booking and the slot check read the
//! appointments themselves under the provider's lock, so a double booking
//! never depends on it.

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, QuerySelect};

use super::appointments::AppointmentStatus;
use super::slots::Span;
use crate::time::Timestamp;

/// One UTC day, in microseconds: the width of a row's day.
pub const DAY_MICROS: i64 = 86_400_000_000;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointment_busy_days")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: Uuid,
    /// `busy_from / DAY_MICROS`, truncated as SQL's integer division does.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    /// `busy_from,busy_until,status` per appointment, joined by `;`.
    pub spans: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The time the providers' live appointments take overlapping `period`,
/// by provider: what `store::busy_over` reads from the appointments
/// (`busy_from` within `longest` microseconds before the period and
/// before its end, `busy_until` after its start), read from the days.
pub async fn busy_over(
    db: &impl ConnectionTrait,
    providers: &[Uuid],
    period: Span,
    longest: i64,
) -> Result<Vec<(Uuid, Span)>, DbErr> {
    let earliest = period.start.as_micros() - longest;
    let rows: Vec<(Uuid, String)> = Entity::find()
        .filter(Column::ProviderId.is_in(providers.iter().copied()))
        .filter(Column::Day.between(earliest / DAY_MICROS, period.end.as_micros() / DAY_MICROS))
        .filter(Column::Spans.ne(""))
        .select_only()
        .column(Column::ProviderId)
        .column(Column::Spans)
        .into_tuple()
        .all(db)
        .await?;
    let mut busy = Vec::new();
    for (provider, spans) in rows {
        for span in parsed(&spans)? {
            let live = AppointmentStatus::LIVE
                .iter()
                .any(|s| s.as_str() == span.status);
            if live
                && span.from > earliest
                && span.from < period.end.as_micros()
                && span.until > period.start.as_micros()
            {
                busy.push((
                    provider,
                    Span::new(
                        Timestamp::from_micros(span.from),
                        Timestamp::from_micros(span.until),
                    ),
                ));
            }
        }
    }
    Ok(busy)
}

/// One appointment's entry in a day's text.
struct DaySpan<'a> {
    from: i64,
    until: i64,
    status: &'a str,
}

/// The entries of a day's text, as the triggers write it.
fn parsed(spans: &str) -> Result<Vec<DaySpan<'_>>, DbErr> {
    spans
        .split(';')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut parts = entry.splitn(3, ',');
            let mut number = || parts.next().and_then(|p| p.parse::<i64>().ok());
            let (from, until) = (number(), number());
            match (from, until, parts.next()) {
                (Some(from), Some(until), Some(status)) => Ok(DaySpan {
                    from,
                    until,
                    status,
                }),
                _ => Err(DbErr::Type(format!(
                    "appointment_busy_days holds a malformed entry: {entry}"
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_text_reads_back_its_entries_and_refuses_a_malformed_one() {
        let spans = parsed("10,20,confirmed;-5,7,cancelled").unwrap();
        let read: Vec<(i64, i64, &str)> =
            spans.iter().map(|s| (s.from, s.until, s.status)).collect();
        assert_eq!(read, [(10, 20, "confirmed"), (-5, 7, "cancelled")]);
        assert!(parsed("").unwrap().is_empty());
        assert!(parsed("10,x,confirmed").is_err());
        assert!(parsed("10,20").is_err());
    }
}
