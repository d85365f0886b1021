//! Operator maintenance: `carebase schedule block-weekends`, seed 000's
//! "extend availability blocks" query. It closes every Saturday and Sunday
//! from today for some months, whole local days in each facility's own
//! time zone (so a daylight-saving weekend is still midnight to midnight),
//! for every provider of the facility. Run it again and it adds only the
//! weekends that are not yet blocked, and never a day an administrator
//! deliberately opened or unblocked (see `weekends`).

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;
use serde_json::json;

use super::schedules::block;
use crate::access::facilities;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::db::{Database, new_id};
use crate::time::Timestamp;

/// The reason weekend blocks carry, as seed 000 names it.
pub const WEEKEND: &str = "Weekend";
/// The name the command signs its audit events with.
pub const JOB: &str = "schedule-block-weekends";

/// What the command did in one facility.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub facility_id: Uuid,
    pub facility: String,
    pub added: usize,
    pub already: usize,
    /// Weekend days an administrator opened or unblocked, left alone.
    pub left_open: usize,
}

/// Local midnight of `date` in `zone`.
pub(super) fn midnight(zone: &TimeZone, date: Date) -> Option<Timestamp> {
    date.to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| Timestamp::from(z.timestamp()))
}

/// The weekend days from `today` (local) for `months`, as
/// `[midnight, next midnight)` spans in `zone`.
pub fn weekend_days(zone: &TimeZone, today: Date, months: u32) -> Vec<(Timestamp, Timestamp)> {
    let Ok(last) = today.checked_add(jiff::Span::new().months(i64::from(months))) else {
        return Vec::new();
    };
    let mut days = Vec::new();
    let mut day = today;
    while day <= last {
        let Ok(next) = day.tomorrow() else { break };
        if matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
            && let (Some(start), Some(end)) = (midnight(zone, day), midnight(zone, next))
        {
            days.push((start, end));
        }
        day = next;
    }
    days
}

/// Blocks the weekends of `months` months in one facility (or all of them).
pub async fn block_weekends(
    db: &Database,
    facility_id: Option<Uuid>,
    months: u32,
    now: Timestamp,
) -> Result<Vec<Blocked>, DbErr> {
    let mut report = Vec::new();
    for facility in facilities::by_name(db.conn(), facility_id).await? {
        report.push(block_facility(db, &facility, months, now).await?);
    }
    Ok(report)
}

async fn block_facility(
    db: &Database,
    facility: &facilities::Model,
    months: u32,
    now: Timestamp,
) -> Result<Blocked, DbErr> {
    let zone = TimeZone::get(&facility.time_zone).unwrap_or(TimeZone::UTC);
    let today = now.to_jiff().to_zoned_datetime(zone.clone()).date();
    let days = weekend_days(&zone, today, months);
    let txn = db.begin().await?;
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        txn.rollback().await?;
        return Ok(Blocked {
            facility_id: facility.id,
            facility: facility.name.clone(),
            added: 0,
            already: 0,
            left_open: 0,
        });
    };
    let existing: BTreeSet<(Timestamp, Timestamp)> = block::Entity::find()
        .filter(block::Column::FacilityId.eq(facility.id))
        .filter(block::Column::ProviderId.is_null())
        .filter(block::Column::Reason.eq(WEEKEND))
        .filter(block::Column::StartsAt.gte(first.0))
        .filter(block::Column::StartsAt.lte(last.0))
        .all(&*txn)
        .await?
        .into_iter()
        .map(|b| (b.starts_at, b.ends_at))
        .collect();
    let left_open = super::weekends::skipped(&*txn, facility.id, first.0, last.0).await?;
    let missing: Vec<block::ActiveModel> = days
        .iter()
        .filter(|day| !existing.contains(day) && !left_open.contains(&day.0))
        .map(|(start, end)| block::ActiveModel {
            id: ActiveValue::Set(new_id()),
            facility_id: ActiveValue::Set(facility.id),
            provider_id: ActiveValue::Set(None),
            starts_at: ActiveValue::Set(*start),
            ends_at: ActiveValue::Set(*end),
            is_available: ActiveValue::Set(false),
            reason: ActiveValue::Set(WEEKEND.to_owned()),
            sealed_reason: ActiveValue::Set(None),
            created_by: ActiveValue::Set(None),
            created_at: ActiveValue::Set(now),
        })
        .collect();
    let added = missing.len();
    if !missing.is_empty() {
        block::Entity::insert_many(missing).exec(&*txn).await?;
    }
    let event = AuditEvent::new(
        AuditActor::System {
            job: JOB.to_owned(),
        },
        AuditAction::Create,
        "availability_block",
    )
    .facility(facility.id)
    .changes(redact(
        json!({ "reason": WEEKEND, "months": months, "added": added, "left_open": left_open.len() }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(Blocked {
        facility_id: facility.id,
        facility: facility.name.clone(),
        added,
        already: days.iter().filter(|day| existing.contains(day)).count(),
        left_open: days
            .iter()
            .filter(|day| !existing.contains(day) && left_open.contains(&day.0))
            .count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekends_are_whole_local_days_across_a_clock_change() {
        let zone = TimeZone::get("America/Los_Angeles").unwrap();
        // From Friday 12 March 2027 for a month: the first weekend spans the
        // change (Sunday the 14th is 23 hours long).
        let days = weekend_days(&zone, jiff::civil::date(2027, 3, 12), 1);
        assert_eq!(days.len(), 10);
        assert_eq!(days[0].0.to_string(), "2027-03-13T08:00:00Z");
        assert_eq!(days[1].0.to_string(), "2027-03-14T08:00:00Z");
        assert_eq!(days[1].1.to_string(), "2027-03-15T07:00:00Z");
        assert_eq!(days[2].0.to_string(), "2027-03-20T07:00:00Z");
    }
}
