//! Appointment reminders (seed 000's `appointment_reminders` and
//! `v_pending_reminders`). Booking schedules one reminder per configured
//! offset that is still ahead; cancelling, rescheduling or a no-show
//! cancels the pending ones. Each goes by email or text message: the
//! channel it names, else the patient's preference (see
//! [`super::reminder_delivery`]).
//!
//! Each server runs [`spawn_sender`]. It takes a batch of due reminders in
//! one transaction, writes each reminder's message to the notifier's outbox,
//! marks the reminder sent and moves a confirmed appointment to `reminded`,
//! and commits. Because the outbox row and the "sent" mark commit together,
//! a reminder reaches the outbox exactly once: a server that stops mid-run
//! rolls its batch back and the next run (on any server) takes it again,
//! and on PostgreSQL two servers skip each other's locked rows instead of
//! taking the same ones. Delivery from the outbox is the notifier's job.

use std::time::Duration;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ActiveValue, ConnectionTrait, QueryOrder, QuerySelect, QueryTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

use super::appointments::{self, AppointmentStatus};
use super::reminder_delivery::{self, InstantOrNow, ReminderChannel};
use super::settings;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::db::{Backend, new_id};
use crate::error::ApiError;
use crate::notify::OutgoingMessage;
use crate::time::Timestamp;
use crate::transition::{StateMachine, UnknownStoredValue, string_enum};

/// The name the sender signs its audit events with.
pub const JOB: &str = "appointment-reminders";
/// Reminders taken per transaction.
const BATCH: u64 = 50;

string_enum! {
    /// Where a reminder stands.
    ReminderStatus {
        Pending => "pending",
        Sent => "sent",
        Cancelled => "cancelled",
        Skipped => "skipped",
    }
}

pub const TABLE: &str = "appointment_reminders";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointment_reminders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub appointment_id: Uuid,
    pub facility_id: Uuid,
    pub offset_minutes: i32,
    pub due_at: Timestamp,
    pub status: String,
    pub note: Option<String>,
    pub outbox_message_id: Option<Uuid>,
    pub sent_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// `email` or `sms`; none for the patient's preference.
    pub channel: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A reminder as the API shows it (no PHI: the appointment is by id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reminder {
    pub id: Uuid,
    pub appointment_id: Uuid,
    pub offset_minutes: i32,
    pub due_at: Timestamp,
    pub status: ReminderStatus,
    /// Why it was skipped, when it was.
    pub note: Option<String>,
    /// The outbox message it was sent as.
    pub outbox_message_id: Option<Uuid>,
    pub sent_at: Option<Timestamp>,
    /// The channel asked for (`null`: the patient's preference, else
    /// email); once sent, the one it went by.
    pub channel: Option<ReminderChannel>,
}

impl TryFrom<&Model> for Reminder {
    type Error = UnknownStoredValue;

    fn try_from(m: &Model) -> Result<Self, UnknownStoredValue> {
        Ok(Self {
            id: m.id,
            appointment_id: m.appointment_id,
            offset_minutes: m.offset_minutes,
            due_at: m.due_at,
            status: ReminderStatus::from_stored(&m.status, TABLE, "status", m.id)?,
            note: m.note.clone(),
            outbox_message_id: m.outbox_message_id,
            sent_at: m.sent_at,
            channel: m
                .channel
                .as_deref()
                .map(|c| ReminderChannel::from_stored(c, TABLE, "channel", m.id))
                .transpose()?,
        })
    }
}

/// Schedules a reminder for each offset whose time is still ahead.
pub async fn schedule(
    txn: &impl ConnectionTrait,
    appointment: &appointments::Model,
    offsets: &[u32],
    now: Timestamp,
) -> Result<(), DbErr> {
    let mut offsets = offsets.to_vec();
    offsets.sort_unstable();
    offsets.dedup();
    let rows: Vec<ActiveModel> = offsets
        .into_iter()
        .filter_map(|minutes| {
            let due_at = appointment.starts_at.plus_secs(-i64::from(minutes) * 60);
            (due_at > now).then(|| ActiveModel {
                id: ActiveValue::Set(new_id()),
                appointment_id: ActiveValue::Set(appointment.id),
                facility_id: ActiveValue::Set(appointment.facility_id),
                offset_minutes: ActiveValue::Set(i32::try_from(minutes).unwrap_or(i32::MAX)),
                due_at: ActiveValue::Set(due_at),
                status: ActiveValue::Set(ReminderStatus::Pending.as_str().to_owned()),
                note: ActiveValue::Set(None),
                outbox_message_id: ActiveValue::Set(None),
                sent_at: ActiveValue::Set(None),
                created_at: ActiveValue::Set(now),
                channel: ActiveValue::Set(None),
            })
        })
        .collect();
    if !rows.is_empty() {
        Entity::insert_many(rows).exec(txn).await?;
    }
    Ok(())
}

/// Cancels the appointment's reminders that have not gone out.
pub async fn cancel_pending(txn: &impl ConnectionTrait, appointment_id: Uuid) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(
            Column::Status,
            sea_orm::sea_query::Expr::value(ReminderStatus::Cancelled.as_str()),
        )
        .filter(Column::AppointmentId.eq(appointment_id))
        .filter(Column::Status.eq(ReminderStatus::Pending.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Which reminders a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReminderFilter {
    /// `pending` when absent: seed 000's `v_pending_reminders`.
    pub status: Option<ReminderStatus>,
    /// Only those due at or before this time (`due_before=now` for due ones).
    #[param(inline)]
    pub due_before: Option<InstantOrNow>,
    pub appointment_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// A page of the facility's reminders by `filter`, in id order.
pub async fn page(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    visible_appointments: sea_orm::Select<appointments::Entity>,
    filter: &ReminderFilter,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let status = filter.status.unwrap_or(ReminderStatus::Pending);
    let mut query = Entity::find()
        .filter(Column::FacilityId.eq(facility_id))
        .filter(Column::Status.eq(status.as_str()))
        .filter(
            Column::AppointmentId.in_subquery(
                visible_appointments
                    .select_only()
                    .column(appointments::Column::Id)
                    .as_query()
                    .to_owned(),
            ),
        )
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(due) = filter.due_before {
        query = query.filter(Column::DueAt.lte(due.at(Timestamp::now())));
    }
    if let Some(id) = filter.appointment_id {
        query = query.filter(Column::AppointmentId.eq(id));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await
}

/// The facility's reminder `id`, if its appointment is among `visible_appointments`.
pub async fn find(
    db: &impl ConnectionTrait,
    facility_id: Uuid,
    visible_appointments: sea_orm::Select<appointments::Entity>,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::FacilityId.eq(facility_id))
        .filter(
            Column::AppointmentId.in_subquery(
                visible_appointments
                    .select_only()
                    .column(appointments::Column::Id)
                    .as_query()
                    .to_owned(),
            ),
        )
        .one(db)
        .await
}

/// Sets the channel a pending reminder goes by (none: the preference).
pub async fn set_channel(
    txn: &impl ConnectionTrait,
    row: Model,
    channel: Option<ReminderChannel>,
) -> Result<Model, DbErr> {
    let mut active: ActiveModel = row.into();
    active.channel = ActiveValue::Set(channel.map(|c| c.as_str().to_owned()));
    active.update(txn).await
}

/// Why a reminder cannot be sent, for good: it is skipped with this note
/// instead of holding up the reminders behind it.
pub(super) type Unsendable = &'static str;

/// Where to write to someone with an appointment or on the waitlist: the
/// patient's email, else the lead's.
pub(super) async fn email_of(
    txn: &impl ConnectionTrait,
    key: &crate::crypto::DataKey,
    patient_id: Option<Uuid>,
    lead_id: Option<Uuid>,
) -> Result<Result<String, Unsendable>, DbErr> {
    if let Some(patient_id) = patient_id {
        match crate::care::contact::email_of_patient(txn, key, patient_id).await? {
            Ok(Some(email)) => return Ok(Ok(email)),
            Ok(None) => {}
            Err(_) => return Ok(Err("the patient record cannot be opened")),
        }
    }
    if let Some(lead_id) = lead_id {
        return Ok(
            match crate::crm::contact::email_of_lead(txn, key, lead_id).await? {
                Ok(Some(email)) => Ok(email),
                Ok(None) => Err("no email address for the patient or lead"),
                Err(_) => Err("the lead cannot be opened"),
            },
        );
    }
    Ok(Err("no email address for the patient or lead"))
}

/// A time as a message to a patient says it, in the facility's zone:
/// "Tuesday 9 March 2027 at 09:00 (PST)".
pub(super) fn spoken_time(zone: &str, at: Timestamp) -> String {
    let zone = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    at.to_jiff()
        .to_zoned_datetime(zone)
        .strftime("%A %-d %B %Y at %H:%M (%Z)")
        .to_string()
}

/// The reminder to send: to whom (on the channel asked, or preferred),
/// when and where, and the meeting link; never what the appointment is
/// about.
async fn prepare(
    state: &AppState,
    txn: &impl ConnectionTrait,
    appointment: &appointments::Model,
    asked: Option<ReminderChannel>,
) -> Result<Result<OutgoingMessage, Unsendable>, DbErr> {
    let Ok(key) = state.keyring.facility(appointment.facility_id).await else {
        return Ok(Err("the facility's data key cannot be opened"));
    };
    let (patient, lead) = (appointment.patient_id, appointment.lead_id);
    let to = match reminder_delivery::recipient(txn, &key, patient, lead, asked).await? {
        Ok(to) => to,
        Err(why) => return Ok(Err(why)),
    };
    let Some(facility) = crate::access::facilities::find(txn, appointment.facility_id).await?
    else {
        return Ok(Err("the facility is gone"));
    };
    let when = spoken_time(&facility.time_zone, appointment.starts_at);
    let seal = crate::crypto::RowSealer::new(&key, appointments::TABLE, appointment.id);
    let Ok(link) = seal.open_optional_text("meeting_link", &appointment.meeting_link) else {
        return Ok(Err("the appointment cannot be opened"));
    };
    let mut body = format!(
        "This is a reminder of your appointment at {} on {when}.\n",
        facility.name
    );
    let mut text = format!("Reminder: your appointment at {} on {when}.", facility.name);
    if let Some(link) = link {
        body.push_str(&format!("Join it here: {link}\n"));
        text.push_str(&format!(" Join: {link}"));
    }
    body.push_str("If you cannot come, please let us know.\n");
    text.push_str(" If you cannot come, please let us know.");
    Ok(Ok(to.message(
        format!("Appointment reminder: {when}"),
        body,
        text,
    )))
}

/// Sends one batch of reminders due at `now`; returns how many it took
/// (sent or skipped). Everything it does commits together.
pub async fn send_due_batch(state: &AppState, now: Timestamp) -> Result<usize, ApiError> {
    let txn = state.db.begin().await?;
    let mut due = Entity::find()
        .filter(Column::Status.eq(ReminderStatus::Pending.as_str()))
        .filter(Column::DueAt.lte(now))
        .order_by_asc(Column::DueAt)
        .limit(BATCH);
    if state.db.backend() == Backend::Postgres {
        due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let due = due.all(&*txn).await?;
    let mut events = Vec::with_capacity(due.len());
    for reminder in &due {
        events.push(send_one(state, &txn, reminder, now).await?);
    }
    let taken = due.len();
    audit::commit(txn, events).await?;
    Ok(taken)
}

/// Sends or skips one reminder inside the batch's transaction.
async fn send_one(
    state: &AppState,
    txn: &crate::db::Transaction,
    reminder: &Model,
    now: Timestamp,
) -> Result<AuditEvent, ApiError> {
    let appointment = appointments::Entity::find_by_id(reminder.appointment_id)
        .one(&**txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let status = appointment.appointment_status()?;
    let mut active: ActiveModel = reminder.clone().into();
    let outcome = if !status.is_live() || appointment.starts_at <= now {
        skip(&mut active, "the appointment is no longer upcoming")
    } else {
        let asked = Reminder::try_from(reminder)?.channel;
        match prepare(state, &**txn, &appointment, asked).await? {
            Err(why) => skip(&mut active, why),
            Ok(letter) => match state
                .ext::<crate::notify::Notifier>()
                .send(&**txn, letter.clone())
                .await
            {
                Err(crate::notify::NotifyError::Database(e)) => return Err(e.into()),
                Err(_) => skip(&mut active, "the address cannot be sent to"),
                Ok(id) => {
                    let went_by = match letter.channel {
                        crate::notify::Channel::Email => ReminderChannel::Email,
                        crate::notify::Channel::Sms => ReminderChannel::Sms,
                    };
                    active.channel = ActiveValue::Set(Some(went_by.as_str().to_owned()));
                    active.status = ActiveValue::Set(ReminderStatus::Sent.as_str().to_owned());
                    active.outbox_message_id = ActiveValue::Set(Some(id));
                    active.sent_at = ActiveValue::Set(Some(now));
                    if status == AppointmentStatus::Confirmed {
                        let to = status.transition(AppointmentStatus::Reminded)?;
                        // Checked in (or moved on) meanwhile: it stays so.
                        appointments::move_to(&**txn, &appointment, to, now).await?;
                    }
                    ReminderStatus::Sent
                }
            },
        }
    };
    let updated = active.update(&**txn).await?;
    let event = AuditEvent::new(
        AuditActor::System {
            job: JOB.to_owned(),
        },
        AuditAction::Update,
        "appointment_reminder",
    )
    .resource(reminder.id)
    .facility(reminder.facility_id)
    .flag(ComplianceFlag::Phi)
    .changes(redact(
        json!({ "appointment_id": appointment.id, "status": outcome, "channel": updated.channel }),
        &[],
    ))
    .concerning(appointment.patient_id, appointment.lead_id);
    Ok(event)
}

fn skip(active: &mut ActiveModel, why: &str) -> ReminderStatus {
    active.status = ActiveValue::Set(ReminderStatus::Skipped.as_str().to_owned());
    active.note = ActiveValue::Set(Some(why.to_owned()));
    ReminderStatus::Skipped
}

/// Sends every reminder due at `now`, batch by batch; returns how many.
pub async fn send_due(state: &AppState, now: Timestamp) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let taken = send_due_batch(state, now).await?;
        total += taken;
        if (taken as u64) < BATCH {
            return Ok(total);
        }
    }
}

/// This server's reminder sender and waitlist offer sweeper, until `stop`.
pub fn spawn_sender(state: AppState, stop: CancellationToken) -> JoinHandle<()> {
    let every = Duration::from_secs(settings::of(&state).reminder_poll_secs);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            let now = Timestamp::now();
            match send_due(&state, now).await {
                Ok(0) => {}
                Ok(sent) => tracing::info!(sent, "appointment reminders handled"),
                Err(e) => tracing::error!(error = %e, "sending appointment reminders failed"),
            }
            if let Err(e) = super::waitlist::expire_offers(&state, now).await {
                tracing::error!(error = %e, "expiring waitlist offers failed");
            }
        }
    })
}
