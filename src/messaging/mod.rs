//! Messaging (seeds 002 and 004): direct conversations per care-team link
//! and facility conversations with participants, messages with threads,
//! edits, soft deletion and read state, attachments, realtime delivery
//! over WebSockets (across servers through PostgreSQL) and video calls.
//! See docs/messaging.md.

pub mod attachment_routes;
pub mod attachments;
pub mod call_routes;
pub mod calls;
pub mod conversation_routes;
pub mod conversations;
pub mod direct;
pub mod files;
pub mod message_routes;
pub mod messages;
pub mod migration;
pub mod realtime;
pub mod realtime_routes;
pub mod senders;
pub mod video;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// The messaging context's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(conversation_routes::routes())
        .merge(message_routes::routes())
        .merge(realtime_routes::routes())
        .merge(call_routes::routes())
        .merge(attachment_routes::routes())
}
