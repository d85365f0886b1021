//! The scheduling part of `carebase demo`: the coaches' working weeks, a
//! consultation type, blocked weekends, and the next two weeks' bookings
//! (consultations for booked leads, follow-ups for patients), placed in
//! open slots by the same rules a booking follows.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, DatabaseTransaction};
use serde_json::json;

use super::appointments::{AppointmentStatus, Booking};
use super::schedules::{AppointmentKind, Weekday, appointment_type, schedule, working_hours};
use super::slots::Span;
use super::{reminders, store};
use crate::access::demo::DemoFacility;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::crm::demo::DemoLeads;
use crate::crypto::DataKey;
use crate::db::{Database, new_id};
use crate::demo::{Demo, JOB};
use crate::policy::Role;
use crate::time::Timestamp;

/// How far ahead the demo books.
const DAYS_AHEAD: i64 = 14;
/// The consultation the demo books: seed 001's 30 minutes, 10 to write up.
const CONSULTATION_MINUTES: i32 = 30;
const WRITE_UP_MINUTES: i32 = 10;

/// Who to book: a lead or a patient, with the coach they see.
pub struct Visit {
    pub coach: Uuid,
    pub lead_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
}

/// Books the demo's coaches, for the facility access made: consultations
/// for the booked leads the CRM left, follow-ups for the first 30 patients
/// on a care journey.
pub async fn load(demo: &mut Demo<'_>) -> anyhow::Result<()> {
    let facility = demo
        .made
        .get::<DemoFacility>()
        .ok_or_else(|| anyhow::anyhow!("the demo has no facility to book in"))?;
    let booked = demo
        .made
        .get::<DemoLeads>()
        .map(|leads| leads.booked.clone())
        .unwrap_or_default();
    let facility_id = facility.facility_id;
    let coaches = facility.ids(Role::HealthCoach);
    let db = &demo.state.db;
    let coached = crate::care::demo::coached(db, facility_id, 30).await?;
    let visits: Vec<Visit> = booked
        .into_iter()
        .filter_map(|(lead, coach)| {
            coach.map(|coach| Visit {
                coach,
                lead_id: Some(lead),
                patient_id: None,
            })
        })
        .chain(coached.into_iter().filter_map(|(patient, coach)| {
            coach.map(|coach| Visit {
                coach,
                lead_id: None,
                patient_id: Some(patient),
            })
        }))
        .collect();
    let key = demo.state.keyring.facility(facility_id).await?;
    let actor = AuditActor::System {
        job: JOB.to_owned(),
    };
    let appointments = book(db, &key, facility_id, &coaches, &visits, actor).await?;
    demo.count(format!("{appointments} appointments in the next two weeks"));
    Ok(())
}

/// Gives each coach a schedule (weekdays 09:00–17:00, the facility's time
/// zone), blocks the next three months' weekends, adds a Consultation type
/// and books `visits` into the earliest open slots of the next two weeks,
/// as many as fit. Returns how many appointments it made.
pub async fn book(
    db: &Database,
    key: &DataKey,
    facility_id: Uuid,
    coaches: &[Uuid],
    visits: &[Visit],
    actor: AuditActor,
) -> anyhow::Result<u64> {
    let now = Timestamp::now();
    super::maintenance::block_weekends(db, Some(facility_id), 3, now).await?;
    let txn = db.begin().await?;
    let mut events = Vec::new();
    for coach in coaches {
        working_week(&txn, facility_id, *coach, now).await?;
    }
    let consultation = appointment_type::ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(facility_id),
        name: ActiveValue::Set("Consultation".to_owned()),
        kind: ActiveValue::Set(AppointmentKind::Consultation.as_str().to_owned()),
        duration_minutes: ActiveValue::Set(CONSULTATION_MINUTES),
        buffer_before_minutes: ActiveValue::Set(0),
        buffer_after_minutes: ActiveValue::Set(WRITE_UP_MINUTES),
        active: ActiveValue::Set(true),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(&*txn)
    .await?;
    let period = Span::new(now, now.plus_secs(DAYS_AHEAD * 86_400));
    let mut booked = 0;
    for coach in coaches {
        let place = Place {
            key,
            facility_id,
            coach: *coach,
            type_id: consultation.id,
            period,
            now,
        };
        booked += book_coach(&txn, &place, visits, &actor, &mut events).await?;
    }
    audit::commit(txn, events).await?;
    Ok(booked)
}

/// A coach's schedule, weekdays 09:00–17:00.
async fn working_week(
    txn: &DatabaseTransaction,
    facility_id: Uuid,
    coach: Uuid,
    now: Timestamp,
) -> anyhow::Result<()> {
    let id = new_id();
    schedule::ActiveModel {
        id: ActiveValue::Set(id),
        facility_id: ActiveValue::Set(facility_id),
        provider_id: ActiveValue::Set(coach),
        time_zone: ActiveValue::Set(None),
        slot_minutes: ActiveValue::Set(30),
        min_notice_minutes: ActiveValue::Set(60),
        bookings: ActiveValue::Set(0),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    }
    .insert(txn)
    .await?;
    let days = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ];
    working_hours::Entity::insert_many(days.map(|day| working_hours::ActiveModel {
        id: ActiveValue::Set(new_id()),
        schedule_id: ActiveValue::Set(id),
        weekday: ActiveValue::Set(day.iso()),
        start_minute: ActiveValue::Set(9 * 60),
        end_minute: ActiveValue::Set(17 * 60),
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// Where and when a coach's visits are booked.
struct Place<'a> {
    key: &'a DataKey,
    facility_id: Uuid,
    coach: Uuid,
    type_id: Uuid,
    period: Span,
    now: Timestamp,
}

/// Books the coach's `visits` into every other open slot; returns how many.
async fn book_coach(
    txn: &DatabaseTransaction,
    place: &Place<'_>,
    visits: &[Visit],
    actor: &AuditActor,
    events: &mut Vec<AuditEvent>,
) -> anyhow::Result<u64> {
    let (key, facility_id, period, now) = (place.key, place.facility_id, place.period, place.now);
    let coach = &place.coach;
    let mut booked = 0;
    let Some(schedule) = store::find_schedule(txn, facility_id, *coach).await? else {
        return Ok(0);
    };
    let calendar = store::calendar(txn, &schedule, period, None, None, now).await?;
    let theirs = visits.iter().filter(|v| v.coach == *coach);
    let slots = calendar.open_slots(
        period,
        CONSULTATION_MINUTES,
        0,
        WRITE_UP_MINUTES,
        now,
        visits.len(),
    );
    // Every other slot: a coach's day keeps gaps.
    for (visit, slot) in theirs.zip(slots.into_iter().step_by(2)) {
        let kind = if visit.patient_id.is_some() {
            AppointmentKind::FollowUp
        } else {
            AppointmentKind::Consultation
        };
        let booking = Booking {
            id: new_id(),
            facility_id,
            provider_id: *coach,
            type_id: Some(place.type_id),
            kind,
            title: format!("Demo {}", kind.as_str().replace('_', "-")),
            notes: None,
            meeting_link: None,
            patient_id: visit.patient_id,
            lead_id: visit.lead_id,
            slot,
            busy: slot.widened(0, WRITE_UP_MINUTES),
            status: AppointmentStatus::Confirmed,
            rescheduled_from: None,
            created_by: *coach,
        };
        let row = booking.seal(key, now).insert(txn).await?;
        reminders::schedule(txn, &row, &[24 * 60, 2 * 60], now).await?;
        events.push(
            AuditEvent::new(actor.clone(), AuditAction::Create, "appointment")
                .resource(row.id)
                .facility(facility_id)
                .changes(redact(json!({ "demo": true }), &[]))
                .concerning(row.patient_id, row.lead_id),
        );
        booked += 1;
    }
    Ok(booked)
}
