//! Scheduling (seeds 000 and 001): schedules and blocks, open slots across
//! a daylight-saving change, the slot check, booking without double
//! booking under 50 concurrent requests, the appointment machine,
//! rescheduling, today's list, reminders sent once across a crash and two
//! servers, the waitlist, and who sees and changes what; seed 001's simple
//! flow, calls off the schedule, the facility's check-in and no-show
//! windows, Saturday clinics, slot questions by type. One module per
//! sub-feature; what they share is in `support`.

mod access;
mod appointments;
mod busy_days;
mod cases;
mod feeds;
mod off_schedule;
mod reminders;
mod simple_flow;
mod slot_questions;
mod slots;
mod sms_reminders;
mod waitlist;
mod waitlist_entry;
mod weekends;

pub use cases::role_cases;
