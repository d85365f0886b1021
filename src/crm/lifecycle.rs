//! The lead follows what happens to it. A call or a communication logged
//! with a `new` lead moves it to `contacted`; an appointment booked for it
//! moves it to `booked`, that appointment's no-show to `no_show`, its
//! completion to `completed`; converting a booked lead completes it (and
//! any converted lead leaves `v_active_leads`, showing the patient it
//! became).
//!
//! Each such move is an ordinary transition of [`LeadStatus`]: the same
//! state machine, the same history row and the same audit event as a move
//! someone makes (`lifecycle_routes::move_lead_status`), written in the
//! transaction of the event that caused it, with that event named in both
//! (`cause`, `cause_id`).
//!
//! **The rule:** a fact moves the lead to the status it implies only when
//! the machine allows exactly that move from where the lead stands;
//! otherwise the lead stays. So a fact never drags a lead backwards (a
//! booked lead that is called again stays booked), never skips a step the
//! machine does not skip (a discovery call booked with a `new` lead leaves
//! it `new`: booking does not qualify it, and a qualified lead is what
//! clinical review sees), and never reopens a closed lead.
//!
//! Booking is also gated on clinical review ([`require_bookable`]).
//! Scheduling, which imports crm (never the reverse), tells it about
//! appointments through [`follow_appointment`].

use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use uuid::Uuid;

use super::history::Move;
use super::leads::{self, LeadStatus, PHI_FIELDS, ReviewStatus};
use super::routes::lead_event;
use super::store;
use crate::audit::{self, AuditAction, AuditEvent, redact};
use crate::db::Transaction;
use crate::error::{ApiError, Refusal};
use crate::policy::{Actor, FacilityScope};
use crate::time::Timestamp;
use crate::transition::{StateMachine, string_enum};

string_enum! {
    /// What moved a lead by itself.
    LeadMoveCause {
        CallLogged => "call_logged",
        CommunicationLogged => "communication_logged",
        AppointmentBooked => "appointment_booked",
        AppointmentNoShow => "appointment_no_show",
        AppointmentCompleted => "appointment_completed",
        LeadConverted => "lead_converted",
    }
}

impl LeadMoveCause {
    /// The status this event implies for the lead.
    pub fn implies(self) -> LeadStatus {
        use LeadMoveCause::*;
        match self {
            CallLogged | CommunicationLogged => LeadStatus::Contacted,
            AppointmentBooked => LeadStatus::Booked,
            AppointmentNoShow => LeadStatus::NoShow,
            AppointmentCompleted | LeadConverted => LeadStatus::Completed,
        }
    }
}

/// An event that happened to a lead, with its record when it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact {
    pub cause: LeadMoveCause,
    pub id: Option<Uuid>,
}

impl Fact {
    pub fn new(cause: LeadMoveCause, id: impl Into<Option<Uuid>>) -> Self {
        Self {
            cause,
            id: id.into(),
        }
    }
}

/// The audit event of a status move: the one a person's move records,
/// plus, for an automatic one, the event that caused it.
pub(super) fn status_event(
    actor: &Actor,
    row: &leads::Model,
    from: LeadStatus,
    to: LeadStatus,
    fact: Option<Fact>,
) -> AuditEvent {
    let mut changes = json!({ "status": { "from": from, "to": to } });
    if let Some(fact) = fact {
        changes["cause"] = json!({ "event": fact.cause, "id": fact.id });
    }
    lead_event(actor, AuditAction::Update, row.facility_id, row.id)
        .changes(redact(changes, PHI_FIELDS))
}

/// Moves `row` as `fact` implies, if the machine allows that move (see
/// the module's rule). Returns the lead as it now is, with the audit event
/// of the move for the caller to append, or none when the lead stays. The
/// move is made only if the lead is still where `row` says, so a
/// concurrent move is never overwritten.
pub(super) async fn follow(
    db: &impl ConnectionTrait,
    scope: &FacilityScope,
    actor: &Actor,
    row: leads::Model,
    fact: Fact,
) -> Result<(leads::Model, Option<AuditEvent>), ApiError> {
    let from = row.lead_status()?;
    let to = fact.cause.implies();
    if from.transition(to).is_err() {
        return Ok((row, None));
    }
    let now = Timestamp::now();
    let Some(moved) = store::follow_status(db, scope, &row, from, to, now).await? else {
        return Ok((row, None));
    };
    let change = Move {
        cause: Some(fact.cause),
        cause_id: fact.id,
        ..Move::status(Some(from), to)
    };
    store::record_move(db, row.id, change, Some(actor.account_id()), now).await?;
    let event = status_event(actor, &moved, from, to, Some(fact));
    Ok((moved, Some(event)))
}

/// The problem a lead that may not be booked is answered with; its
/// `reason` is `review_pending`, `review_declined` or `disqualified`.
pub static CLINICAL_REVIEW_REQUIRED: Refusal = Refusal {
    slug: "clinical-review-required",
    title: "The lead cannot be booked before its clinical review allows it",
    status: StatusCode::CONFLICT,
};

/// The facility setting that gates booking on clinical review: on unless
/// the facility's `settings` say `{"crm": {"booking_requires_clinical_review": false}}`.
pub const BOOKING_GATE_SETTING: &str = "crm.booking_requires_clinical_review";

/// Refuses to book a lead whose clinical review is pending or declined, or
/// that is disqualified, unless its facility switched the gate off. An
/// approved review (or one never asked for) lets it through.
pub async fn require_bookable(
    db: &impl ConnectionTrait,
    row: &leads::Model,
) -> Result<(), ApiError> {
    let gated =
        crate::access::facilities::flag(db, row.facility_id, BOOKING_GATE_SETTING, true).await?;
    if !gated {
        return Ok(());
    }
    let review =
        ReviewStatus::from_stored(&row.review_status, leads::TABLE, "review_status", row.id)?;
    let (reason, why) = match (row.lead_status()?, review) {
        (LeadStatus::Disqualified, _) => ("disqualified", "the lead is disqualified"),
        (_, ReviewStatus::Pending) => ("review_pending", "the lead's clinical review is pending"),
        (_, ReviewStatus::Declined) => {
            ("review_declined", "the lead's clinical review was declined")
        }
        _ => return Ok(()),
    };
    Err(CLINICAL_REVIEW_REQUIRED.because(
        reason,
        format!(
            "{why}: a lead is booked only once a clinical reviewer approved it \
             (the facility setting `{BOOKING_GATE_SETTING}` is on)"
        ),
    ))
}

/// What happened to an appointment with a lead, as scheduling tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppointmentFact {
    /// Newly booked (not a reschedule of a booking the lead already has).
    Booked,
    NoShow,
    Completed,
}

/// Makes lead `lead_id` of the scope's facility (if the appointment has
/// one) follow its appointment `appointment_id`, in the appointment's
/// transaction: a booking is refused for a lead the review gate holds
/// back ([`require_bookable`]), and each fact moves the lead by the
/// module's rule, its audit event appended here. The caller checked the
/// lead is of the facility; the move is by the actor that caused it and
/// needs no permission on the lead beyond that.
pub async fn follow_appointment(
    txn: &Transaction,
    actor: &Actor,
    scope: &FacilityScope,
    appointment_id: Uuid,
    lead_id: Option<Uuid>,
    fact: AppointmentFact,
) -> Result<(), ApiError> {
    let Some(lead_id) = lead_id else {
        return Ok(());
    };
    let row = store::find(&**txn, scope, lead_id)
        .await?
        .ok_or_else(|| ApiError::invalid("lead_id", "no lead with this id in this facility"))?;
    let cause = match fact {
        AppointmentFact::Booked => {
            require_bookable(&**txn, &row).await?;
            LeadMoveCause::AppointmentBooked
        }
        AppointmentFact::NoShow => LeadMoveCause::AppointmentNoShow,
        AppointmentFact::Completed => LeadMoveCause::AppointmentCompleted,
    };
    let (_, event) = follow(&**txn, scope, actor, row, Fact::new(cause, appointment_id)).await?;
    if let Some(event) = event {
        audit::append(txn, vec![event]).await?;
    }
    Ok(())
}
