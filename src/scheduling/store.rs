//! Scheduling queries. Appointments are read through a scope from the
//! policy engine; a provider's calendar (hours, blocks, busy time) carries
//! no patient data and is read by facility.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ConnectionTrait, QueryOrder, QuerySelect, Select};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::appointments::{self, AppointmentChanges, AppointmentStatus};
use super::schedules::{
    self, MAX_BUFFER, MAX_DURATION, appointment_type, block, schedule, type_provider, working_hours,
};
use super::slots::{Block, Calendar, Span};
use super::status_flow::StatusShown;
use super::{free_busy, waitlist};
use crate::crypto::DataKey;
use crate::error::ApiError;
use crate::policy::FacilityScope;
use crate::time::Timestamp;

/// No appointment takes longer than this, buffers included, so the busy
/// time overlapping a period starts at most this long before it: the lower
/// bound that makes the overlap query an index range.
pub const LONGEST_BUSY_MICROS: i64 = (MAX_DURATION + 2 * MAX_BUFFER) * 60_000_000;

pub use crate::care::store::patients_seen;

/// The appointments of the scope's facility that it may see.
pub fn visible(scope: &FacilityScope) -> Select<appointments::Entity> {
    use appointments::Column;
    appointments::Entity::find()
        .filter(Column::FacilityId.eq(scope.facility_id()))
        .filter(patients_seen(scope, Column::PatientId))
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    id: Uuid,
) -> Result<Option<appointments::Model>, DbErr> {
    visible(scope)
        .filter(appointments::Column::Id.eq(id))
        .one(db)
        .await
}

/// A named list of appointments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentView {
    /// Seed 000's `v_todays_appointments`: today in the facility's time
    /// zone, live ones (not cancelled, rescheduled or no-show).
    Today,
}

/// Which appointments a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppointmentFilter {
    #[param(inline)]
    pub view: Option<AppointmentView>,
    pub provider_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// Seed 000's name (that status) or seed 001's (every status shown so:
    /// `Scheduled` is pending, confirmed, reminded, checked in or in
    /// progress; `Cancelled` is cancelled or rescheduled).
    #[param(value_type = Option<String>, example = "Scheduled")]
    pub status: Option<StatusShown>,
    /// Only those starting at or after this time.
    pub from: Option<Timestamp>,
    /// Only those starting before this time.
    pub to: Option<Timestamp>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// The start and end of today in `zone`.
fn today(zone: &str, now: Timestamp) -> (Timestamp, Timestamp) {
    let zone = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let date = now.to_jiff().to_zoned_datetime(zone.clone()).date();
    let start = date
        .to_zoned_datetime(zone.clone())
        .map(|z| Timestamp::from(z.timestamp()))
        .unwrap_or(now);
    let end = date
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(zone).ok())
        .map_or(now.plus_secs(86_400), |z| Timestamp::from(z.timestamp()));
    (start, end)
}

impl AppointmentFilter {
    /// The filter's condition; `today` is the day `view=today` means.
    fn condition(&self, today: Option<(Timestamp, Timestamp)>) -> Condition {
        use appointments::Column;
        let mut all = Condition::all();
        if let Some((start, end)) = today {
            all = all
                .add(Column::StartsAt.gte(start))
                .add(Column::StartsAt.lt(end))
                .add(Column::Status.is_in(AppointmentStatus::LIVE.map(AppointmentStatus::as_str)));
        }
        let equal_ids = [
            (Column::ProviderId, self.provider_id),
            (Column::PatientId, self.patient_id),
            (Column::LeadId, self.lead_id),
        ];
        for (column, value) in equal_ids {
            if let Some(value) = value {
                all = all.add(column.eq(value));
            }
        }
        if let Some(shown) = &self.status {
            all = all.add(Column::Status.is_in(shown.as_strs()));
        }
        if let Some(from) = self.from {
            all = all.add(Column::StartsAt.gte(from));
        }
        if let Some(to) = self.to {
            all = all.add(Column::StartsAt.lt(to));
        }
        all
    }
}

/// A page of the visible appointments matching `filter`, in order of their
/// start. The cursor `after` must be a visible appointment (422 otherwise).
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    filter: &AppointmentFilter,
    limit: u64,
) -> Result<Vec<appointments::Model>, ApiError> {
    use appointments::Column;
    let day = match filter.view {
        Some(AppointmentView::Today) => {
            let zone = facility_time_zone(db, scope.facility_id()).await?;
            Some(today(&zone, Timestamp::now()))
        }
        None => None,
    };
    let mut all = filter.condition(day);
    if let Some(after) = filter.after {
        // Keyset on (start, id): the cursor's appointment gives the start.
        let cursor = find(db, scope, after).await?.ok_or_else(|| {
            ApiError::invalid("after", "no such appointment; start from the first page")
        })?;
        all = all.add(
            Condition::any()
                .add(Column::StartsAt.gt(cursor.starts_at))
                .add(
                    Condition::all()
                        .add(Column::StartsAt.eq(cursor.starts_at))
                        .add(Column::Id.gt(after)),
                ),
        );
    }
    Ok(visible(scope)
        .filter(all)
        .order_by_asc(Column::StartsAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Applies sealed text changes to an appointment of the scope's facility.
pub async fn update(
    txn: &impl ConnectionTrait,
    scope: &FacilityScope,
    key: &DataKey,
    row: appointments::Model,
    changes: &AppointmentChanges,
    now: Timestamp,
) -> Result<appointments::Model, DbErr> {
    let row = appointments::seal_changes(key, row, changes, now);
    crate::db::update_in_facility(
        txn,
        row,
        appointments::Column::FacilityId,
        scope.facility_id(),
    )
    .await
}

/// The provider's schedule in the scope's facility.
pub async fn provider_schedule(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    provider_id: Uuid,
) -> Result<Option<schedule::Model>, DbErr> {
    find_schedule(db, scope.facility_id(), provider_id).await
}

/// The schedules of the scope's facility, in provider order, at most
/// `limit`: of the providers `wanted` and among those `offered` (either
/// empty: no narrowing by it).
pub async fn schedules_of(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    wanted: &[Uuid],
    offered: &[Uuid],
    limit: u64,
) -> Result<Vec<schedule::Model>, DbErr> {
    let mut query = schedule::Entity::find()
        .filter(schedule::Column::FacilityId.eq(scope.facility_id()))
        .order_by_asc(schedule::Column::ProviderId)
        .limit(limit);
    if !wanted.is_empty() {
        query = query.filter(schedule::Column::ProviderId.is_in(wanted.iter().copied()));
    }
    if !offered.is_empty() {
        query = query.filter(schedule::Column::ProviderId.is_in(offered.iter().copied()));
    }
    query.all(db).await
}

/// Unscoped: for the demo seeder and the waitlist offer, which run with no
/// actor. Handlers use [`provider_schedule`].
pub async fn find_schedule(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    provider_id: Uuid,
) -> Result<Option<schedule::Model>, DbErr> {
    schedule::Entity::find()
        .filter(schedule::Column::FacilityId.eq(facility_id))
        .filter(schedule::Column::ProviderId.eq(provider_id))
        .one(db)
        .await
}

/// Unscoped, as the waitlist offer that frees a slot runs with no actor;
/// a booking takes it through `booking::claim`, given the scope.
///
/// Takes the provider's booking lock for the rest of `txn` and returns the
/// schedule; `None` when the provider has no schedule in the facility.
/// Every booking, reschedule and waitlist acceptance takes it before it
/// checks the slot, so two bookings of one provider never check at once:
/// on PostgreSQL the update holds the schedule's row lock until commit
/// (across servers too); on SQLite the transaction already holds the
/// database's write lock.
pub async fn lock_schedule(
    txn: &impl ConnectionTrait,
    facility_id: Uuid,
    provider_id: Uuid,
) -> Result<Option<schedule::Model>, DbErr> {
    let locked = schedule::Entity::update_many()
        .col_expr(
            schedule::Column::Bookings,
            Expr::col(schedule::Column::Bookings).add(1),
        )
        .filter(schedule::Column::FacilityId.eq(facility_id))
        .filter(schedule::Column::ProviderId.eq(provider_id))
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Ok(None);
    }
    find_schedule(txn, facility_id, provider_id).await
}

pub async fn hours_of(
    db: &impl ConnectionTrait,
    schedule_id: Uuid,
) -> Result<Vec<working_hours::Model>, DbErr> {
    working_hours::Entity::find()
        .filter(working_hours::Column::ScheduleId.eq(schedule_id))
        .all(db)
        .await
}

/// The time zone a schedule's hours are in: its own, else its facility's.
pub async fn time_zone_of(
    db: &impl ConnectionTrait,
    schedule: &schedule::Model,
) -> Result<(String, TimeZone), DbErr> {
    let name = match &schedule.time_zone {
        Some(zone) => zone.clone(),
        None => facility_time_zone(db, schedule.facility_id).await?,
    };
    let zone = TimeZone::get(&name).unwrap_or(TimeZone::UTC);
    Ok((name, zone))
}

pub async fn facility_time_zone(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
) -> Result<String, DbErr> {
    Ok(crate::access::facilities::find(db, facility_id)
        .await?
        .map_or_else(|| "UTC".to_owned(), |f| f.time_zone))
}

/// The blocks of the providers and of the whole facility overlapping `period`.
async fn blocks_over(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    providers: &[Uuid],
    period: Span,
) -> Result<Vec<block::Model>, DbErr> {
    use block::Column;
    block::Entity::find()
        .filter(Column::FacilityId.eq(facility_id))
        .filter(
            Condition::any()
                .add(Column::ProviderId.is_in(providers.iter().copied()))
                .add(Column::ProviderId.is_null()),
        )
        .filter(Column::StartsAt.lt(period.end))
        .filter(Column::EndsAt.gt(period.start))
        .order_by_asc(Column::StartsAt)
        .all(db)
        .await
}

/// The time the providers' live appointments take overlapping `period`,
/// by provider, leaving out `excluding` (an appointment being
/// rescheduled), plus the slots held for waitlist offers that have not
/// run out at `now` (except the offer `holder`, which is being accepted).
async fn busy_over(
    db: &impl ConnectionTrait,
    providers: &[Uuid],
    period: Span,
    excluding: Option<Uuid>,
    holder: Option<Uuid>,
    now: Timestamp,
) -> Result<Vec<(Uuid, Span)>, DbErr> {
    let mut busy = appointment_busy(db, providers, period, excluding).await?;
    busy.extend(waitlist::holds_over(db, providers, period, holder, now).await?);
    Ok(busy)
}

/// The time the providers' live appointments take overlapping `period`,
/// by provider, leaving out `excluding`, read from the appointments: the
/// truth [`super::free_busy::busy_over`] answers the same as.
pub async fn appointment_busy(
    db: &impl ConnectionTrait,
    providers: &[Uuid],
    period: Span,
    excluding: Option<Uuid>,
) -> Result<Vec<(Uuid, Span)>, DbErr> {
    use appointments::Column;
    let mut query = appointments::Entity::find()
        .filter(Column::ProviderId.is_in(providers.iter().copied()))
        .filter(Column::BusyFrom.lt(period.end))
        .filter(Column::BusyFrom.gt(Timestamp::from_micros(
            period.start.as_micros() - LONGEST_BUSY_MICROS,
        )))
        .filter(Column::BusyUntil.gt(period.start))
        .filter(Column::Status.is_in(AppointmentStatus::LIVE.map(AppointmentStatus::as_str)));
    if let Some(id) = excluding {
        query = query.filter(Column::Id.ne(id));
    }
    // Only the three columns: the rows' sealed text is not needed here.
    let rows: Vec<(Uuid, Timestamp, Timestamp)> = query
        .select_only()
        .column(Column::ProviderId)
        .column(Column::BusyFrom)
        .column(Column::BusyUntil)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(provider, from, until)| (provider, Span::new(from, until)))
        .collect())
}

/// Everything that decides the provider's open time over `period`.
pub async fn calendar(
    db: &impl ConnectionTrait,
    schedule: &schedule::Model,
    period: Span,
    excluding: Option<Uuid>,
    holder: Option<Uuid>,
    now: Timestamp,
) -> Result<Calendar, DbErr> {
    let mut calendars = calendars(
        db,
        std::slice::from_ref(schedule),
        period,
        excluding,
        holder,
        now,
    )
    .await?;
    calendars
        .pop()
        .ok_or_else(|| DbErr::RecordNotFound(format!("schedule {}", schedule.id)))
}

/// The calendars of one facility's `schedules` over `period`, in their
/// order: the same handful of queries however many providers.
pub async fn calendars(
    db: &impl ConnectionTrait,
    schedules: &[schedule::Model],
    period: Span,
    excluding: Option<Uuid>,
    holder: Option<Uuid>,
    now: Timestamp,
) -> Result<Vec<Calendar>, DbErr> {
    let providers: Vec<Uuid> = schedules.iter().map(|s| s.provider_id).collect();
    let busy = busy_over(db, &providers, period, excluding, holder, now).await?;
    assembled(db, schedules, period, busy).await
}

/// As [`calendars`] for the open-slot search: the appointments' busy time
/// read from the days precomputed by the database (see
/// [`super::free_busy`]), which answer the same as the appointments.
pub async fn search_calendars(
    db: &impl ConnectionTrait,
    schedules: &[schedule::Model],
    period: Span,
    now: Timestamp,
) -> Result<Vec<Calendar>, DbErr> {
    let providers: Vec<Uuid> = schedules.iter().map(|s| s.provider_id).collect();
    let mut busy = free_busy::busy_over(db, &providers, period, LONGEST_BUSY_MICROS).await?;
    busy.extend(waitlist::holds_over(db, &providers, period, None, now).await?);
    assembled(db, schedules, period, busy).await
}

/// The calendars of `schedules` with `busy`, the time taken by provider.
async fn assembled(
    db: &impl ConnectionTrait,
    schedules: &[schedule::Model],
    period: Span,
    busy: Vec<(Uuid, Span)>,
) -> Result<Vec<Calendar>, DbErr> {
    let Some(first) = schedules.first() else {
        return Ok(Vec::new());
    };
    let facility_id = first.facility_id;
    let facility_zone = if schedules.iter().any(|s| s.time_zone.is_none()) {
        facility_time_zone(db, facility_id).await?
    } else {
        "UTC".to_owned()
    };
    let providers: Vec<Uuid> = schedules.iter().map(|s| s.provider_id).collect();
    let hours = working_hours::Entity::find()
        .filter(working_hours::Column::ScheduleId.is_in(schedules.iter().map(|s| s.id)))
        .all(db)
        .await?;
    // A day either side: working hours are whole local days.
    let wide = Span::new(
        period.start.plus_secs(-86_400),
        period.end.plus_secs(86_400),
    );
    let blocks = blocks_over(db, facility_id, &providers, wide).await?;
    let mut busy_of: HashMap<Uuid, Vec<Span>> = HashMap::new();
    for (provider, span) in busy {
        busy_of.entry(provider).or_default().push(span);
    }
    Ok(schedules
        .iter()
        .map(|schedule| {
            let zone = schedule.time_zone.as_deref().unwrap_or(&facility_zone);
            let own_hours: Vec<working_hours::Model> = hours
                .iter()
                .filter(|h| h.schedule_id == schedule.id)
                .cloned()
                .collect();
            Calendar {
                time_zone: TimeZone::get(zone).unwrap_or(TimeZone::UTC),
                hours: schedules::to_hours(&own_hours),
                blocks: super::weekends::opening_wins(
                    blocks
                        .iter()
                        .filter(|b| b.provider_id.is_none_or(|p| p == schedule.provider_id))
                        .map(|b| Block {
                            span: Span::new(b.starts_at, b.ends_at),
                            is_available: b.is_available,
                            reason: b.reason.clone(),
                        })
                        .collect(),
                ),
                busy: busy_of.remove(&schedule.provider_id).unwrap_or_default(),
                slot_minutes: schedule.slot_minutes,
                min_notice_minutes: schedule.min_notice_minutes,
            }
        })
        .collect())
}

pub async fn find_type(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    type_id: Uuid,
) -> Result<Option<appointment_type::Model>, DbErr> {
    appointment_type::Entity::find_by_id(type_id)
        .filter(appointment_type::Column::FacilityId.eq(scope.facility_id()))
        .one(db)
        .await
}

/// The providers who offer a type; empty means every provider.
pub async fn type_providers(
    db: &impl ConnectionTrait,
    type_ids: &[Uuid],
) -> Result<Vec<type_provider::Model>, DbErr> {
    if type_ids.is_empty() {
        return Ok(Vec::new());
    }
    type_provider::Entity::find()
        .filter(type_provider::Column::TypeId.is_in(type_ids.iter().copied()))
        .order_by_asc(type_provider::Column::ProviderId)
        .all(db)
        .await
}

/// The schedules of the providers `wanted` (any when empty) who offer
/// `appointment_type` (when given), at most `limit`: whom a search or a
/// slot check without a provider asks about.
pub async fn offering(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    wanted: &[Uuid],
    appointment_type: Option<&appointment_type::Model>,
    limit: u64,
) -> Result<Vec<schedule::Model>, DbErr> {
    let offered: Vec<Uuid> = match appointment_type {
        Some(t) => type_providers(db, &[t.id])
            .await?
            .into_iter()
            .map(|p| p.provider_id)
            .collect(),
        None => Vec::new(),
    };
    schedules_of(db, scope, wanted, &offered, limit).await
}

/// The most appointment types a name is looked for among.
const MAX_TYPES: u64 = 2_000;

/// The facility's appointment type called `name`: the exact name, else
/// the one name equal to it ignoring case and surrounding space.
pub async fn find_type_named(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    name: &str,
) -> Result<Option<appointment_type::Model>, DbErr> {
    use appointment_type::{Column, Entity};
    let wanted = name.trim();
    let of_facility = Entity::find().filter(Column::FacilityId.eq(scope.facility_id()));
    if let Some(exact) = of_facility
        .clone()
        .filter(Column::Name.eq(wanted))
        .one(db)
        .await?
    {
        return Ok(Some(exact));
    }
    // Folded in Rust, as SQLite's lower() folds ASCII only; a facility has
    // a handful of types (the list shows at most 500).
    let candidates = of_facility.limit(MAX_TYPES).all(db).await?;
    let mut folded = candidates
        .into_iter()
        .filter(|t| t.name.trim().to_lowercase() == wanted.to_lowercase());
    Ok(match (folded.next(), folded.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    })
}

/// Whether `provider_id` offers the type.
pub async fn offers(
    db: &impl ConnectionTrait,
    type_id: Uuid,
    provider_id: Uuid,
) -> Result<bool, DbErr> {
    let providers = type_providers(db, &[type_id]).await?;
    Ok(providers.is_empty() || providers.iter().any(|p| p.provider_id == provider_id))
}
