//! No person is booked twice: whatever way an appointment gets its time
//! (a slot of a schedule, a call off the schedule, a reschedule, a waitlist
//! offer accepted), it is written only if its provider is free then
//! (buffers included) and its patient and lead have no other appointment
//! then, counting every appointment that takes or took its time (live or
//! completed), in any facility for the provider.
//!
//! Race-safe as the provider's schedule lock is: before it checks, a
//! booking bumps one `booking_locks` row per person it books (provider,
//! patient, lead), in id order so two bookings never wait on each other
//! in a circle. On PostgreSQL the row locks are held until commit, across
//! servers; on SQLite the transaction already holds the write lock. A
//! booking takes its schedule lock (if any) before these, never after.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue, Condition, ConnectionTrait, QuerySelect};

use super::appointments::{self, AppointmentStatus, Booking};
use super::schedules::{MAX_BUFFER, MAX_DURATION};
use super::slots::{SLOT_UNAVAILABLE, Span, Unavailable};
use crate::error::ApiError;

pub mod booking_lock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "booking_locks")]
    pub struct Model {
        /// A provider's account, a patient or a lead.
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
        /// Bumped by every booking of the person; its row lock serializes them.
        pub bookings: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The statuses in which an appointment takes, or took, its people's time.
pub const OCCUPYING: [AppointmentStatus; 6] = [
    AppointmentStatus::Pending,
    AppointmentStatus::Confirmed,
    AppointmentStatus::Reminded,
    AppointmentStatus::CheckedIn,
    AppointmentStatus::InProgress,
    AppointmentStatus::Completed,
];

const MINUTE: i64 = 60_000_000;

/// Takes the booking locks of `people` for the rest of `txn`, in id order.
pub async fn lock(txn: &impl ConnectionTrait, people: &[Uuid]) -> Result<(), DbErr> {
    use booking_lock::{ActiveModel, Column, Entity};
    let mut ids = people.to_vec();
    ids.sort();
    ids.dedup();
    for id in ids {
        let row = ActiveModel {
            person_id: ActiveValue::Set(id),
            bookings: ActiveValue::Set(0),
        };
        Entity::insert(row)
            .on_conflict(OnConflict::column(Column::PersonId).do_nothing().to_owned())
            .exec_without_returning(txn)
            .await?;
        Entity::update_many()
            .col_expr(Column::Bookings, Expr::col(Column::Bookings).add(1))
            .filter(Column::PersonId.eq(id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Whom a new appointment would book twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clash {
    Provider,
    Patient,
    Lead,
}

impl From<Clash> for ApiError {
    fn from(clash: Clash) -> Self {
        match clash {
            Clash::Provider => Unavailable::Taken.into(),
            Clash::Patient => SLOT_UNAVAILABLE.because(
                "attendee_busy",
                "the patient already has an appointment at this time",
            ),
            Clash::Lead => SLOT_UNAVAILABLE.because(
                "attendee_busy",
                "the lead already has an appointment at this time",
            ),
        }
    }
}

fn occupying() -> Vec<&'static str> {
    OCCUPYING.map(AppointmentStatus::as_str).to_vec()
}

/// Whether an appointment other than `excluding` occupies `column`'s
/// person over `span` (`from`/`until` columns: the slot or the busy time).
/// The lower bound on the start keeps the query an index range.
async fn taken(
    txn: &impl ConnectionTrait,
    condition: Condition,
    columns: (appointments::Column, appointments::Column),
    span: Span,
    longest_micros: i64,
    excluding: Option<Uuid>,
) -> Result<bool, DbErr> {
    use appointments::{Column, Entity};
    let (from, until) = columns;
    let mut query = Entity::find()
        .filter(condition)
        .filter(from.lt(span.end))
        .filter(from.gt(crate::time::Timestamp::from_micros(
            span.start.as_micros() - longest_micros,
        )))
        .filter(until.gt(span.start))
        .filter(Column::Status.is_in(occupying()));
    if let Some(id) = excluding {
        query = query.filter(Column::Id.ne(id));
    }
    let found: Option<Uuid> = query
        .select_only()
        .column(Column::Id)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(found.is_some())
}

/// Whom `booking` would book twice, if anyone: its provider over its busy
/// time (buffers included, any facility), its patient or lead over its slot.
pub async fn clash(
    txn: &impl ConnectionTrait,
    booking: &Booking,
    excluding: Option<Uuid>,
) -> Result<Option<Clash>, DbErr> {
    use appointments::Column;
    let busy = (Column::BusyFrom, Column::BusyUntil);
    let slot = (Column::StartsAt, Column::EndsAt);
    let longest_busy = (MAX_DURATION + 2 * MAX_BUFFER) * MINUTE;
    let provider = Condition::all().add(Column::ProviderId.eq(booking.provider_id));
    if taken(txn, provider, busy, booking.busy, longest_busy, excluding).await? {
        return Ok(Some(Clash::Provider));
    }
    let attendees = [
        (Column::PatientId, booking.patient_id, Clash::Patient),
        (Column::LeadId, booking.lead_id, Clash::Lead),
    ];
    for (column, person, clash) in attendees {
        let Some(person) = person else { continue };
        let theirs = Condition::all()
            .add(Column::FacilityId.eq(booking.facility_id))
            .add(column.eq(person));
        if taken(
            txn,
            theirs,
            slot,
            booking.slot,
            MAX_DURATION * MINUTE,
            excluding,
        )
        .await?
        {
            return Ok(Some(clash));
        }
    }
    Ok(None)
}

/// Locks the people `booking` books and refuses it when it would book one
/// of them twice (`excluding` the appointment it replaces, if any).
pub async fn keep_free(
    txn: &impl ConnectionTrait,
    booking: &Booking,
    excluding: Option<Uuid>,
) -> Result<(), ApiError> {
    let people: Vec<Uuid> = [
        Some(booking.provider_id),
        booking.patient_id,
        booking.lead_id,
    ]
    .into_iter()
    .flatten()
    .collect();
    lock(txn, &people).await?;
    match clash(txn, booking, excluding).await? {
        Some(clash) => Err(clash.into()),
        None => Ok(()),
    }
}
