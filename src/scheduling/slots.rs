//! When a provider can be booked: working hours in the schedule's time
//! zone, opened or closed by availability blocks, minus the time existing
//! appointments (with their buffers) take. Pure functions over instants, so
//! the rules are the same for the open-slot search, the slot check and the
//! booking, and can be tested without a database.
//!
//! Working hours are local times ("Monday 09:00–17:00 in
//! America/Los_Angeles"); each day's hours are turned into instants with
//! that day's offset, so a week containing a daylight-saving change still
//! opens at 09:00 local on every day. A local time that does not exist on a
//! change day (02:30 when clocks jump from 02:00 to 03:00) is read as the
//! instant it would have been before the change (jiff's "compatible" rule).

use axum::http::StatusCode;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Refusal};
use crate::time::Timestamp;

const MINUTE: i64 = 60_000_000;

/// A half-open span of time, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Span {
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Self { start, end }
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// This span widened by `before` and `after` minutes.
    pub fn widened(&self, before: i32, after: i32) -> Span {
        Span {
            start: Timestamp::from_micros(self.start.as_micros() - i64::from(before) * MINUTE),
            end: Timestamp::from_micros(self.end.as_micros() + i64::from(after) * MINUTE),
        }
    }
}

/// One day's working hours: an ISO weekday (1 Monday … 7 Sunday) and
/// minutes after local midnight (`end_minute` up to 1440, the next midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hours {
    pub weekday: i8,
    pub start_minute: i32,
    pub end_minute: i32,
}

/// A dated block that opens (`is_available`) or closes time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub span: Span,
    pub is_available: bool,
    pub reason: String,
}

/// Everything that decides a provider's open time over a period.
#[derive(Clone, Debug)]
pub struct Calendar {
    pub time_zone: TimeZone,
    pub hours: Vec<Hours>,
    /// The provider's blocks and the facility's, overlapping the period.
    pub blocks: Vec<Block>,
    /// What live appointments (and held waitlist offers) take, buffers
    /// included, overlapping the period.
    pub busy: Vec<Span>,
    pub slot_minutes: i32,
    pub min_notice_minutes: i32,
}

/// Why a slot cannot be booked. Serialized as the problem's `reason`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Unavailable {
    /// The start has passed.
    InThePast,
    /// Sooner than the schedule's minimum notice.
    TooSoon { min_notice_minutes: i32 },
    /// A block closes this time.
    Blocked { block_reason: String },
    /// Not within the provider's working hours (or an opening block).
    OutsideWorkingHours,
    /// Another appointment, or its buffer, takes this time.
    Taken,
}

/// The problem a slot that cannot be booked is answered with.
pub static SLOT_UNAVAILABLE: Refusal = Refusal {
    slug: "slot-unavailable",
    title: "The time slot cannot be booked",
    status: StatusCode::CONFLICT,
};

impl From<Unavailable> for ApiError {
    fn from(why: Unavailable) -> Self {
        SLOT_UNAVAILABLE.because(why.code(), why.detail())
    }
}

impl Unavailable {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Unavailable::InThePast => "in_the_past",
            Unavailable::TooSoon { .. } => "too_soon",
            Unavailable::Blocked { .. } => "blocked",
            Unavailable::OutsideWorkingHours => "outside_working_hours",
            Unavailable::Taken => "taken",
        }
    }

    /// A sentence for the problem's `detail`.
    pub fn detail(&self) -> String {
        match self {
            Unavailable::InThePast => "the slot starts in the past".to_owned(),
            Unavailable::TooSoon { min_notice_minutes } => format!(
                "the slot starts sooner than the provider's minimum notice of {min_notice_minutes} minutes"
            ),
            Unavailable::Blocked { block_reason } => {
                format!("the provider's calendar is blocked then ({block_reason})")
            }
            Unavailable::OutsideWorkingHours => {
                "the slot is outside the provider's working hours".to_owned()
            }
            Unavailable::Taken => {
                "the provider already has an appointment then (buffers included)".to_owned()
            }
        }
    }
}

/// The instant of local `time` on `date` in `tz`; minute 1440 is the next
/// midnight.
fn local_instant(tz: &TimeZone, date: Date, minute: i32) -> Option<Timestamp> {
    let (date, minute) = if minute >= 1440 {
        (date.tomorrow().ok()?, minute - 1440)
    } else {
        (date, minute)
    };
    let hour = i8::try_from(minute / 60).ok()?;
    let minute = i8::try_from(minute % 60).ok()?;
    let time = Time::new(hour, minute, 0, 0).ok()?;
    let zoned = date.to_datetime(time).to_zoned_datetime(tz.clone()).ok()?;
    Some(Timestamp::from(zoned.timestamp()))
}

fn local_date(tz: &TimeZone, at: Timestamp) -> Date {
    at.to_jiff().to_zoned_datetime(tz.clone()).date()
}

/// Sorts and joins overlapping or touching spans.
fn merged(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match out.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => out.push(span),
        }
    }
    out
}

/// `spans` (merged) minus `holes`.
fn subtract(spans: Vec<Span>, holes: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        let mut pieces = vec![span];
        for hole in holes.iter().filter(|h| h.overlaps(&span)) {
            pieces = pieces
                .into_iter()
                .flat_map(|p| {
                    let mut rest = Vec::with_capacity(2);
                    if p.start < hole.start {
                        rest.push(Span::new(p.start, hole.start.min(p.end)));
                    }
                    if hole.end < p.end {
                        rest.push(Span::new(hole.end.max(p.start), p.end));
                    }
                    rest
                })
                .filter(|p| p.start < p.end)
                .collect();
        }
        out.extend(pieces);
    }
    out
}

impl Calendar {
    /// The open time within `period`: working hours and opening blocks,
    /// minus closing blocks, merged and in order. Appointments are not
    /// taken out here.
    pub fn open_time(&self, period: Span) -> Vec<Span> {
        let mut open = Vec::new();
        let (Ok(first), Ok(last)) = (
            local_date(&self.time_zone, period.start).yesterday(),
            local_date(&self.time_zone, period.end).tomorrow(),
        ) else {
            return open;
        };
        let mut day = first;
        while day <= last {
            let weekday = day.weekday().to_monday_one_offset();
            for hours in self.hours.iter().filter(|h| h.weekday == weekday) {
                if let (Some(start), Some(end)) = (
                    local_instant(&self.time_zone, day, hours.start_minute),
                    local_instant(&self.time_zone, day, hours.end_minute),
                ) && start < end
                {
                    open.push(Span::new(start, end));
                }
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        open.extend(
            self.blocks
                .iter()
                .filter(|b| b.is_available)
                .map(|b| b.span),
        );
        let closed: Vec<Span> = self
            .blocks
            .iter()
            .filter(|b| !b.is_available)
            .map(|b| b.span)
            .collect();
        let clipped = merged(open)
            .into_iter()
            .filter_map(|s| {
                let span = Span::new(s.start.max(period.start), s.end.min(period.end));
                (span.start < span.end).then_some(span)
            })
            .collect();
        subtract(clipped, &merged(closed))
    }

    fn earliest_start(&self, now: Timestamp) -> Timestamp {
        now.plus_secs(i64::from(self.min_notice_minutes) * 60)
    }

    /// Whether `slot` (buffers `before` and `after` in minutes) can be
    /// booked at `now`, or why not.
    pub fn check(
        &self,
        slot: Span,
        before: i32,
        after: i32,
        now: Timestamp,
    ) -> Result<(), Unavailable> {
        if slot.start < now {
            return Err(Unavailable::InThePast);
        }
        if slot.start < self.earliest_start(now) {
            return Err(Unavailable::TooSoon {
                min_notice_minutes: self.min_notice_minutes,
            });
        }
        if let Some(block) = self
            .blocks
            .iter()
            .find(|b| !b.is_available && b.span.overlaps(&slot))
        {
            return Err(Unavailable::Blocked {
                block_reason: block.reason.clone(),
            });
        }
        if !self.open_time(slot).iter().any(|open| open.contains(&slot)) {
            return Err(Unavailable::OutsideWorkingHours);
        }
        let taken = slot.widened(before, after);
        if self.busy.iter().any(|b| b.overlaps(&taken)) {
            return Err(Unavailable::Taken);
        }
        Ok(())
    }

    /// The first instant at or after `at` on the slot grid: whole multiples
    /// of the slot length after local midnight.
    fn on_grid(&self, at: Timestamp) -> Timestamp {
        let step = i64::from(self.slot_minutes.max(1)) * MINUTE;
        let zoned = at.to_jiff().to_zoned_datetime(self.time_zone.clone());
        let time = zoned.time();
        let into_day = (i64::from(time.hour()) * 60 + i64::from(time.minute())) * MINUTE
            + i64::from(time.second()) * 1_000_000
            + i64::from(time.subsec_nanosecond()) / 1_000;
        let rest = into_day % step;
        if rest == 0 {
            at
        } else {
            Timestamp::from_micros(at.as_micros() + step - rest)
        }
    }

    /// The open slots of `minutes` in `period` at `now`, at most `limit`,
    /// in order: each starts on the slot grid, fits in open time, keeps the
    /// minimum notice, and with its buffers touches no busy time.
    pub fn open_slots(
        &self,
        period: Span,
        minutes: i32,
        before: i32,
        after: i32,
        now: Timestamp,
        limit: usize,
    ) -> Vec<Span> {
        let length = i64::from(minutes) * MINUTE;
        let step = i64::from(self.slot_minutes.max(1)) * MINUTE;
        let busy = merged(self.busy.clone());
        let earliest = self.earliest_start(now).max(now);
        let mut slots = Vec::new();
        let mut next_busy = 0;
        for open in self.open_time(period) {
            let mut start = self.on_grid(open.start.max(earliest));
            loop {
                let slot = Span::new(start, Timestamp::from_micros(start.as_micros() + length));
                if slot.end > open.end || slots.len() >= limit {
                    break;
                }
                let taken = slot.widened(before, after);
                while next_busy < busy.len() && busy[next_busy].end <= taken.start {
                    next_busy += 1;
                }
                match busy.get(next_busy) {
                    Some(b) if b.start < taken.end => {
                        // Jump past the busy time, its buffer included.
                        start = self.on_grid(b.end.plus_secs(i64::from(before) * 60));
                    }
                    _ => {
                        slots.push(slot);
                        start = Timestamp::from_micros(start.as_micros() + step);
                    }
                }
            }
        }
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, tz: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = text.parse().unwrap();
        Timestamp::from(
            dt.to_zoned_datetime(TimeZone::get(tz).unwrap())
                .unwrap()
                .timestamp(),
        )
    }

    fn weekdays_nine_to_five() -> Vec<Hours> {
        (1..=5)
            .map(|weekday| Hours {
                weekday,
                start_minute: 9 * 60,
                end_minute: 17 * 60,
            })
            .collect()
    }

    fn calendar(tz: &str) -> Calendar {
        Calendar {
            time_zone: TimeZone::get(tz).unwrap(),
            hours: weekdays_nine_to_five(),
            blocks: Vec::new(),
            busy: Vec::new(),
            slot_minutes: 30,
            min_notice_minutes: 0,
        }
    }

    const LA: &str = "America/Los_Angeles";

    #[test]
    fn working_hours_stay_local_across_a_daylight_saving_change() {
        // 2026-03-08 is the Sunday clocks go forward in Los Angeles.
        let cal = calendar(LA);
        let week = Span::new(at("2026-03-06T00:00", LA), at("2026-03-11T00:00", LA));
        let open = cal.open_time(week);
        let starts: Vec<Timestamp> = open.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                at("2026-03-06T09:00", LA),
                at("2026-03-09T09:00", LA),
                at("2026-03-10T09:00", LA)
            ]
        );
        // Friday is UTC-8, Monday UTC-7: the same local hour, an hour apart in UTC.
        assert_eq!(starts[0].to_string(), "2026-03-06T17:00:00Z");
        assert_eq!(starts[1].to_string(), "2026-03-09T16:00:00Z");
        for span in &open {
            assert_eq!(
                span.end.as_micros() - span.start.as_micros(),
                8 * 60 * MINUTE
            );
        }
    }

    #[test]
    fn closing_blocks_cut_and_opening_blocks_add_time() {
        let mut cal = calendar(LA);
        cal.blocks = vec![
            Block {
                span: Span::new(at("2026-03-09T12:00", LA), at("2026-03-09T13:00", LA)),
                is_available: false,
                reason: "Lunch".into(),
            },
            Block {
                span: Span::new(at("2026-03-07T10:00", LA), at("2026-03-07T12:00", LA)),
                is_available: true,
                reason: "Saturday clinic".into(),
            },
        ];
        let open = cal.open_time(Span::new(
            at("2026-03-07T00:00", LA),
            at("2026-03-10T00:00", LA),
        ));
        assert_eq!(
            open,
            [
                Span::new(at("2026-03-07T10:00", LA), at("2026-03-07T12:00", LA)),
                Span::new(at("2026-03-09T09:00", LA), at("2026-03-09T12:00", LA)),
                Span::new(at("2026-03-09T13:00", LA), at("2026-03-09T17:00", LA)),
            ]
        );
    }

    #[test]
    fn slots_skip_busy_time_with_buffers_and_keep_the_grid() {
        let mut cal = calendar("UTC");
        let day = |t: &str| at(&format!("2026-03-09T{t}"), "UTC");
        cal.busy = vec![Span::new(day("10:00"), day("10:30"))];
        let now = day("00:00");
        let slots = cal.open_slots(Span::new(day("09:00"), day("12:00")), 30, 15, 0, now, 100);
        let starts: Vec<String> = slots
            .iter()
            .map(|s| s.start.to_string()[11..16].to_owned())
            .collect();
        // 09:30 would end at 10:00 and 10:30's 15-minute lead-in touches the
        // busy time, so the next start on the 30-minute grid is 11:00.
        assert_eq!(starts, ["09:00", "09:30", "11:00", "11:30"]);
        assert_eq!(
            cal.check(Span::new(day("10:15"), day("10:45")), 0, 0, now),
            Err(Unavailable::Taken)
        );
        assert_eq!(
            cal.check(Span::new(day("10:30"), day("11:00")), 15, 0, now),
            Err(Unavailable::Taken)
        );
        assert_eq!(
            cal.check(Span::new(day("10:30"), day("11:00")), 0, 0, now),
            Ok(())
        );
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let mut cal = calendar("UTC");
        cal.min_notice_minutes = 120;
        cal.blocks = vec![Block {
            span: Span::new(at("2026-03-10T00:00", "UTC"), at("2026-03-10T23:59", "UTC")),
            is_available: false,
            reason: "Holiday".into(),
        }];
        let now = at("2026-03-09T09:00", "UTC");
        let slot = |t: &str| {
            let start = at(t, "UTC");
            Span::new(start, start.plus_secs(1800))
        };
        assert_eq!(
            cal.check(slot("2026-03-09T08:00"), 0, 0, now),
            Err(Unavailable::InThePast)
        );
        assert_eq!(
            cal.check(slot("2026-03-09T10:00"), 0, 0, now),
            Err(Unavailable::TooSoon {
                min_notice_minutes: 120
            })
        );
        assert_eq!(
            cal.check(slot("2026-03-10T10:00"), 0, 0, now),
            Err(Unavailable::Blocked {
                block_reason: "Holiday".into()
            })
        );
        assert_eq!(
            cal.check(slot("2026-03-09T16:45"), 0, 0, now),
            Err(Unavailable::OutsideWorkingHours)
        );
        assert_eq!(cal.check(slot("2026-03-09T11:00"), 0, 0, now), Ok(()));
        let slots = cal.open_slots(
            Span::new(now, at("2026-03-11T00:00", "UTC")),
            30,
            0,
            0,
            now,
            3,
        );
        assert_eq!(slots[0].start, at("2026-03-09T11:00", "UTC"));
        assert_eq!(slots.len(), 3);
    }
}
