//! `/facilities/{facility_id}/open-slots` and `/slot-check`: what can be
//! booked, from the schedules, blocks, appointment types and appointments.
//! Both need `schedule:read` and read no PHI: an answer names providers and
//! times, never whom they see.

use axum::extract::State;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::booking::{self, SlotRequest};
use super::schedules::{self, DEFAULT_DURATION, appointment_type, schedule};
use super::slots::{SLOT_UNAVAILABLE, Span};
use super::store;
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;
use crate::validation::Checks;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_slots))
        .routes(routes!(check_slot))
}

/// The longest period one open-slot search covers.
pub const MAX_SEARCH_DAYS: i64 = 62;
/// The most providers one search covers.
pub const MAX_SEARCH_PROVIDERS: usize = 50;
/// The most slots one search returns.
pub const MAX_SLOTS: usize = 2_000;

/// An open-slot search (seed 000's `get_available_slots`).
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlotSearch {
    /// The start of the period searched.
    pub from: Timestamp,
    /// Its end; at most 62 days after `from`.
    pub to: Timestamp,
    /// Providers to search, comma-separated; every provider with a
    /// schedule (who offers the type) when absent. At most 50.
    pub provider_ids: Option<String>,
    /// An appointment type: its duration, buffers and providers apply.
    pub type_id: Option<Uuid>,
    /// The appointment type by name (seed 000's `type`), matched ignoring
    /// case, or by id; instead of `type_id`.
    #[serde(rename = "type")]
    #[param(rename = "type", example = "Consultation")]
    pub type_name: Option<String>,
    /// The slot length, 1 to 720 minutes; the type's, else 30.
    pub duration_minutes: Option<i64>,
    /// The IANA time zone to show local times in; the facility's when absent.
    pub time_zone: Option<String>,
    /// The most slots to return, 1 to 2000; 500 when absent.
    #[param(minimum = 1, maximum = 2000)]
    pub limit: Option<usize>,
}

/// An open slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OpenSlot {
    pub provider_id: Uuid,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The start in the requested time zone, RFC 3339 with its offset.
    pub local_start: String,
    pub local_end: String,
}

/// The open slots found, earliest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OpenSlots {
    pub time_zone: String,
    pub duration_minutes: i64,
    pub slots: Vec<OpenSlot>,
    /// True when `limit` cut the list short; search again from the last start.
    pub truncated: bool,
}

fn parse_providers(text: Option<&str>, c: &mut Checks) -> Vec<Uuid> {
    let Some(text) = text else {
        return Vec::new();
    };
    let ids: Vec<Uuid> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .filter_map(|s| match s.trim().parse() {
            Ok(id) => Some(id),
            Err(_) => {
                c.fail("provider_ids", "must be UUIDs separated by commas");
                None
            }
        })
        .collect();
    if ids.len() > MAX_SEARCH_PROVIDERS {
        c.fail("provider_ids", "at most 50 providers per search");
    }
    ids
}

fn local(zone: &jiff::tz::TimeZone, at: Timestamp) -> String {
    at.to_jiff()
        .to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Finds open slots of one or more providers over a period: within their
/// working hours and opening blocks, outside closing blocks, clear of
/// existing appointments and their buffers (and of slots held for the
/// waitlist), after the minimum notice, on each schedule's slot grid.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/open-slots",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), SlotSearch),
    responses((status = 200, description = "The open slots", body = OpenSlots), Problems),
    security(("bearer" = []))
)]
async fn open_slots(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(search): ApiQuery<SlotSearch>,
) -> Result<ApiJson<OpenSlots>, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let facility_id = scope.facility_id();
    let (limit, wanted) = checked_search(&search)?;
    let db = state.db.conn();
    let zone_name = match search.time_zone.clone() {
        Some(zone) => zone,
        None => store::facility_time_zone(db, facility_id).await?,
    };
    let zone = jiff::tz::TimeZone::get(&zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    let appointment_type =
        active_type(db, &scope, search.type_id, search.type_name.as_deref()).await?;
    let found = searched_schedules(db, &scope, &wanted, appointment_type.as_ref()).await?;
    let booking::Shape {
        minutes,
        before,
        after,
    } = booking::Shape::of(search.duration_minutes, appointment_type.as_ref());
    let period = Span::new(search.from, search.to);
    let now = Timestamp::now();
    let calendars = store::search_calendars(db, &found, period.widened(before, after), now).await?;
    let minutes_i32 = i32::try_from(minutes).unwrap_or(DEFAULT_DURATION);
    let mut slots = Vec::new();
    for (schedule, calendar) in found.iter().zip(&calendars) {
        for slot in calendar.open_slots(period, minutes_i32, before, after, now, limit + 1) {
            slots.push((slot, schedule.provider_id));
        }
    }
    slots.sort();
    let truncated = slots.len() > limit;
    slots.truncate(limit);
    Ok(ApiJson(OpenSlots {
        slots: slots
            .into_iter()
            .map(|(slot, provider_id)| OpenSlot {
                provider_id,
                starts_at: slot.start,
                ends_at: slot.end,
                local_start: local(&zone, slot.start),
                local_end: local(&zone, slot.end),
            })
            .collect(),
        time_zone: zone_name,
        duration_minutes: minutes,
        truncated,
    }))
}

/// Checks a search: its period, duration, limit, time zone and providers.
/// Answers the limit and the providers asked for (none: all).
fn checked_search(search: &SlotSearch) -> Result<(usize, Vec<Uuid>), ApiError> {
    let mut c = Checks::default();
    if search.to <= search.from {
        c.fail("to", "must be after from");
    } else if search.to.as_micros() - search.from.as_micros() > MAX_SEARCH_DAYS * 86_400_000_000 {
        c.fail("to", "a search covers at most 62 days");
    }
    schedules::check_duration(&mut c, search.duration_minutes);
    let limit = search.limit.unwrap_or(500);
    c.within("limit", limit as i64, 1..=MAX_SLOTS as i64);
    if let Some(zone) = &search.time_zone
        && jiff::tz::TimeZone::get(zone).is_err()
    {
        c.fail(
            "time_zone",
            "not a known IANA time zone, such as Europe/Berlin",
        );
    }
    let wanted = parse_providers(search.provider_ids.as_deref(), &mut c);
    c.done()?;
    Ok((limit, wanted))
}

/// The appointment type asked for, by `type_id` or by `type` (a name or
/// an id), which must be active in the facility.
async fn active_type(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    type_id: Option<Uuid>,
    type_name: Option<&str>,
) -> Result<Option<appointment_type::Model>, ApiError> {
    let (found, field) = match (type_id, type_name) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "type",
                "name the appointment type once: `type` or `type_id`, not both",
            ));
        }
        (Some(id), None) => (store::find_type(db, scope, id).await?, "type_id"),
        (None, Some(name)) => match name.trim().parse::<Uuid>() {
            Ok(id) => (store::find_type(db, scope, id).await?, "type"),
            Err(_) => (store::find_type_named(db, scope, name).await?, "type"),
        },
    };
    let found = found.filter(|t| t.active).ok_or_else(|| {
        ApiError::invalid(
            field,
            "no active appointment type of this facility has this id or name",
        )
    })?;
    Ok(Some(found))
}

/// The schedules searched: of the providers `wanted` (all when empty) who
/// offer `appointment_type` (when given). A provider asked for by name
/// without such a schedule is an invalid search.
async fn searched_schedules(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    wanted: &[Uuid],
    appointment_type: Option<&appointment_type::Model>,
) -> Result<Vec<schedule::Model>, ApiError> {
    let limit = MAX_SEARCH_PROVIDERS as u64;
    let found = store::offering(db, scope, wanted, appointment_type, limit).await?;
    if let Some(missing) = wanted
        .iter()
        .find(|p| !found.iter().any(|s| s.provider_id == **p))
    {
        return Err(ApiError::invalid(
            "provider_ids",
            format!(
                "provider {missing} has no schedule in this facility or does not offer the type"
            ),
        ));
    }
    Ok(found)
}

/// A slot to check (seed 000's `is_slot_available(time, duration)`).
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlotQuestion {
    /// The provider to ask about; without one, every provider with a
    /// schedule who offers the type (at most 50, in id order).
    pub provider_id: Option<Uuid>,
    pub starts_at: Timestamp,
    pub type_id: Option<Uuid>,
    /// The appointment type by name (matched ignoring case) or id; instead
    /// of `type_id`.
    #[serde(rename = "type")]
    #[param(rename = "type", example = "Consultation")]
    pub type_name: Option<String>,
    /// 1 to 720 minutes; the type's, else 30.
    pub duration_minutes: Option<i64>,
}

/// Whether a slot can be booked, and why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlotAnswer {
    pub available: bool,
    /// The providers free then: the one asked about, or every provider
    /// asked about without one, in id order (book the first).
    pub provider_ids: Vec<Uuid>,
    /// When not: `in_the_past`, `too_soon`, `blocked`,
    /// `outside_working_hours` or `taken`; without a provider, the reason
    /// every provider gave, else `no_provider_free` (they differ) or
    /// `no_provider` (none offers the type).
    pub reason: Option<String>,
    pub detail: Option<String>,
}

impl SlotAnswer {
    fn free(provider_ids: Vec<Uuid>) -> Self {
        Self {
            available: true,
            provider_ids,
            reason: None,
            detail: None,
        }
    }

    fn not_free(reason: &str, detail: String) -> Self {
        Self {
            available: false,
            provider_ids: Vec::new(),
            reason: Some(reason.to_owned()),
            detail: Some(detail),
        }
    }
}

/// Says whether a provider can be booked at a time for a duration, and
/// when not, why; without a provider, which providers offering the type
/// can. Booking checks the same rules under the provider's lock.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/slot-check",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), SlotQuestion),
    responses((status = 200, description = "The answer", body = SlotAnswer), Problems),
    security(("bearer" = []))
)]
async fn check_slot(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(question): ApiQuery<SlotQuestion>,
) -> Result<ApiJson<SlotAnswer>, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let mut c = Checks::default();
    schedules::check_duration(&mut c, question.duration_minutes);
    c.done()?;
    let db = state.db.conn();
    let appointment_type =
        active_type(db, &scope, question.type_id, question.type_name.as_deref()).await?;
    let now = Timestamp::now();
    let Some(provider_id) = question.provider_id else {
        let answer = any_provider(db, &scope, &question, appointment_type.as_ref(), now).await?;
        return Ok(ApiJson(answer));
    };
    let request = SlotRequest {
        provider_id,
        starts_at: question.starts_at,
        type_id: appointment_type.map(|t| t.id),
        duration_minutes: question.duration_minutes,
    };
    let answer = match booking::peek(db, &scope, &request, now).await {
        Ok(_) => SlotAnswer::free(vec![provider_id]),
        Err(ApiError::Refused {
            refusal,
            reason,
            detail,
        }) if std::ptr::eq(refusal, &SLOT_UNAVAILABLE) => SlotAnswer::not_free(reason, detail),
        Err(other) => return Err(other),
    };
    Ok(ApiJson(answer))
}

/// The slot check without a provider: every provider with a schedule who
/// offers the type, each checked against their own calendar.
async fn any_provider(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    question: &SlotQuestion,
    appointment_type: Option<&appointment_type::Model>,
    now: Timestamp,
) -> Result<SlotAnswer, ApiError> {
    let limit = MAX_SEARCH_PROVIDERS as u64;
    let found = store::offering(db, scope, &[], appointment_type, limit).await?;
    if found.is_empty() {
        return Ok(SlotAnswer::not_free(
            "no_provider",
            "no provider with a schedule in this facility offers this type".to_owned(),
        ));
    }
    let booking::Shape {
        minutes,
        before,
        after,
    } = booking::Shape::of(question.duration_minutes, appointment_type);
    let start = question.starts_at;
    let slot = Span::new(start, start.plus_secs(minutes * 60));
    let calendars =
        store::calendars(db, &found, slot.widened(before, after), None, None, now).await?;
    let mut free = Vec::new();
    let mut refusals = Vec::new();
    for (schedule, calendar) in found.iter().zip(&calendars) {
        match calendar.check(slot, before, after, now) {
            Ok(()) => free.push(schedule.provider_id),
            Err(why) => refusals.push(why),
        }
    }
    if !free.is_empty() {
        return Ok(SlotAnswer::free(free));
    }
    Ok(match refusals.first() {
        Some(first) if refusals.iter().all(|r| r.code() == first.code()) => {
            SlotAnswer::not_free(first.code(), first.detail())
        }
        _ => SlotAnswer::not_free(
            "no_provider_free",
            format!(
                "none of the {} providers offering this type is free then, for different reasons",
                refusals.len()
            ),
        ),
    })
}
