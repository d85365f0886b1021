//! A Saturday clinic made easy. Two rules:
//!
//! - An opening block wins over a weekend closure (a closing block whose
//!   reason is `Weekend`) for its hours: [`opening_wins`] cuts the hours a
//!   provider's (or the facility's) opening blocks cover out of the weekend
//!   closures before the calendar is read. Every other closure (Holiday,
//!   Surgery, …) still wins over an opening.
//! - `carebase schedule block-weekends` does not re-add a weekend day an
//!   administrator deliberately opened (a facility-wide opening block on
//!   it) or unblocked (deleted its facility-wide weekend block): each such
//!   day is kept in `weekend_skips`, and the command leaves it alone. An
//!   opening's record goes with its block; an unblocking stays.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, ConnectionTrait, QuerySelect};

use super::maintenance::{WEEKEND, midnight};
use super::schedules::block;
use super::slots::{Block, Span};
use crate::db::new_id;
use crate::policy::FacilityScope;
use crate::time::Timestamp;
use crate::transition::string_enum;

pub mod weekend_skip {
    use sea_orm::entity::prelude::*;

    use crate::time::Timestamp;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "weekend_skips")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub facility_id: Uuid,
        /// Local midnight starting the day, and the next.
        pub day_start: Timestamp,
        pub day_end: Timestamp,
        pub cause: String,
        /// The opening block, or the weekend block that was deleted.
        pub block_id: Uuid,
        pub created_by: Option<Uuid>,
        pub created_at: Timestamp,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

string_enum! {
    /// Why the weekend command leaves a day alone.
    SkipCause {
        Opened => "opened",
        Deleted => "deleted",
    }
}

/// The blocks of one calendar with the weekend closures cut where opening
/// blocks open time: an opening wins over a weekend closure for its hours.
pub fn opening_wins(blocks: Vec<Block>) -> Vec<Block> {
    let openings: Vec<Span> = blocks
        .iter()
        .filter(|b| b.is_available)
        .map(|b| b.span)
        .collect();
    if openings.is_empty() {
        return blocks;
    }
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        if block.is_available || block.reason != WEEKEND {
            out.push(block);
            continue;
        }
        let mut pieces = vec![block.span];
        for opening in &openings {
            pieces = pieces.into_iter().flat_map(|p| cut(p, *opening)).collect();
        }
        out.extend(pieces.into_iter().map(|span| Block {
            span,
            ..block.clone()
        }));
    }
    out
}

/// `span` without `hole`: none, one or two pieces.
fn cut(span: Span, hole: Span) -> Vec<Span> {
    if !span.overlaps(&hole) {
        return vec![span];
    }
    [
        Span::new(span.start, hole.start),
        Span::new(hole.end, span.end),
    ]
    .into_iter()
    .filter(|p| p.start < p.end)
    .collect()
}

/// The Saturdays and Sundays `span` touches, as local
/// `[midnight, next midnight)` in `zone`.
pub fn weekend_days_over(zone: &TimeZone, span: Span) -> Vec<Span> {
    let local = |t: Timestamp| t.to_jiff().to_zoned_datetime(zone.clone()).date();
    let last = local(Timestamp::from_micros(span.end.as_micros() - 1));
    let mut days = Vec::new();
    let mut day: Date = local(span.start);
    while day <= last {
        let Ok(next) = day.tomorrow() else { break };
        if matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
            && let (Some(start), Some(end)) = (midnight(zone, day), midnight(zone, next))
        {
            days.push(Span::new(start, end));
        }
        day = next;
    }
    days
}

/// What makes a block a deliberate weekend decision: a facility-wide
/// opening (`Opened`), or a facility-wide weekend closure being deleted
/// (`Deleted`).
pub fn cause_of(row: &block::Model, deleting: bool) -> Option<SkipCause> {
    if row.provider_id.is_some() {
        return None;
    }
    match (row.is_available, deleting) {
        (true, false) => Some(SkipCause::Opened),
        (false, true) if row.reason == WEEKEND => Some(SkipCause::Deleted),
        _ => None,
    }
}

/// Records the weekend days an administrator's block decides, if it is
/// such a decision (see [`cause_of`]); returns how many.
pub async fn record(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    row: &block::Model,
    deleting: bool,
    now: Timestamp,
) -> Result<usize, DbErr> {
    let Some(cause) = cause_of(row, deleting) else {
        return Ok(0);
    };
    let zone_name = super::store::facility_time_zone(txn, scope.facility_id()).await?;
    let zone = TimeZone::get(&zone_name).unwrap_or(TimeZone::UTC);
    let days = weekend_days_over(&zone, Span::new(row.starts_at, row.ends_at));
    let rows: Vec<weekend_skip::ActiveModel> = days
        .iter()
        .map(|day| weekend_skip::ActiveModel {
            id: ActiveValue::Set(new_id()),
            facility_id: ActiveValue::Set(scope.facility_id()),
            day_start: ActiveValue::Set(day.start),
            day_end: ActiveValue::Set(day.end),
            cause: ActiveValue::Set(cause.as_str().to_owned()),
            block_id: ActiveValue::Set(row.id),
            created_by: ActiveValue::Set(Some(scope.account_id())),
            created_at: ActiveValue::Set(now),
        })
        .collect();
    if !rows.is_empty() {
        weekend_skip::Entity::insert_many(rows).exec(txn).await?;
    }
    Ok(days.len())
}

/// Forgets the days an opening block opened, as the block is deleted.
pub async fn forget_opening(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    block_id: Uuid,
) -> Result<(), DbErr> {
    use weekend_skip::{Column, Entity};
    Entity::delete_many()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(Column::BlockId.eq(block_id))
        .filter(Column::Cause.eq(SkipCause::Opened.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}

/// The local midnights of the facility's days from `first` to `last`
/// (inclusive) that the weekend command leaves alone.
pub async fn skipped(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    first: Timestamp,
    last: Timestamp,
) -> Result<std::collections::BTreeSet<Timestamp>, DbErr> {
    use weekend_skip::{Column, Entity};
    let days: Vec<Timestamp> = Entity::find()
        .filter(Column::FacilityId.eq(facility_id))
        .filter(Column::DayStart.gte(first))
        .filter(Column::DayStart.lte(last))
        .select_only()
        .column(Column::DayStart)
        .into_tuple()
        .all(db)
        .await?;
    Ok(days.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::from(text.parse::<jiff::Timestamp>().unwrap())
    }

    fn block(from: &str, to: &str, is_available: bool, reason: &str) -> Block {
        Block {
            span: Span::new(at(from), at(to)),
            is_available,
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn an_opening_cuts_a_weekend_closure_but_no_other() {
        let saturday = block(
            "2027-03-13T00:00:00Z",
            "2027-03-14T00:00:00Z",
            false,
            WEEKEND,
        );
        let holiday = block(
            "2027-03-13T00:00:00Z",
            "2027-03-14T00:00:00Z",
            false,
            "Holiday",
        );
        let clinic = block(
            "2027-03-13T09:00:00Z",
            "2027-03-13T13:00:00Z",
            true,
            "Clinic",
        );
        let out = opening_wins(vec![saturday, clinic.clone()]);
        let closed: Vec<Span> = out
            .iter()
            .filter(|b| !b.is_available)
            .map(|b| b.span)
            .collect();
        assert_eq!(
            closed,
            [
                Span::new(at("2027-03-13T00:00:00Z"), at("2027-03-13T09:00:00Z")),
                Span::new(at("2027-03-13T13:00:00Z"), at("2027-03-14T00:00:00Z")),
            ]
        );
        assert!(out.contains(&clinic));
        let kept = opening_wins(vec![holiday.clone(), clinic]);
        assert!(kept.contains(&holiday));
    }

    #[test]
    fn a_blocks_weekend_days_are_whole_local_days() {
        let zone = TimeZone::get("America/Los_Angeles").unwrap();
        // Friday 12 March 2027 noon to Monday 15 March 01:00 local: the
        // Saturday and the 23-hour Sunday of the clock change.
        let days = weekend_days_over(
            &zone,
            Span::new(at("2027-03-12T20:00:00Z"), at("2027-03-15T08:00:00Z")),
        );
        assert_eq!(
            days,
            [
                Span::new(at("2027-03-13T08:00:00Z"), at("2027-03-14T08:00:00Z")),
                Span::new(at("2027-03-14T08:00:00Z"), at("2027-03-15T07:00:00Z")),
            ]
        );
    }

    #[test]
    fn the_skip_causes_are_the_migrations() {
        assert_eq!(
            SkipCause::ALL.map(SkipCause::as_str),
            super::super::flow_migration::WEEKEND_SKIP_CAUSES
        );
    }
}
