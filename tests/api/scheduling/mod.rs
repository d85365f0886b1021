//! Scheduling (seeds 000 and 001): schedules and blocks, open slots across
//! a daylight-saving change, the slot check, booking without double
//! booking under 50 concurrent requests, the appointment machine,
//! rescheduling, today's list, reminders sent once across a crash and two
//! servers, the waitlist, and who sees and changes what. One module per
//! sub-feature; what they share is in `support`.

mod access;
mod appointments;
mod busy_days;
mod cases;
mod feeds;
mod reminders;
mod slots;
mod waitlist;

pub use cases::role_cases;
