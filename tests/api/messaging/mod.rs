//! Care-team links, conversations, messages and realtime delivery (seeds
//! 002 and 004): the link's state machine and what it grants, direct and
//! facility conversations, sealed messages with edits, deletion, threads,
//! read state and cursors, and WebSocket events that reach participants
//! only, across two servers. One module per sub-feature; what they share
//! (the clinic, the ward, the socket) is in `support`.

mod attachments;
mod calls;
mod cases;
mod conversations;
mod links;
mod messages;
mod realtime;
mod revocation;
mod upload_limits;

pub use cases::role_cases;
