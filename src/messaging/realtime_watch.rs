//! Keeps every open socket to what its caller may do now. Every
//! [`WATCH_EVERY`] each server re-reads, in a few queries for all its
//! sockets, the sessions and API keys they were opened with and their
//! accounts' standing and memberships (`Actor::recheck`):
//! - a socket whose session or key no longer counts (sign-out, revoked
//!   sessions, a password change or reset, a ban, a deleted account, a
//!   revoked or expired key) is closed with 4001;
//! - one whose caller reads no conversation anywhere any more is closed
//!   with 4003;
//! - one that lost the permission a subscription relied on (its membership
//!   in that facility, or the role that read conversations there) stops
//!   following it and is told with an `unsubscribed` frame.
//!
//! It reads the database rather than waiting for a message, so a revocation
//! made on another server, or by `carebase` on the command line, reaches
//! every server the same way, within one period.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbErr;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::realtime_hub::Revoked;
use crate::app::AppState;
use crate::policy::{Actor, Permission};

/// How often open sockets are re-checked: a revocation reaches them within
/// this period and one query's time.
pub const WATCH_EVERY: Duration = Duration::from_millis(400);

pub fn spawn(state: AppState, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = watch_once(&state).await {
                tracing::warn!(%error, "could not re-check the open sockets' access");
            }
        }
    })
}

async fn watch_once(state: &AppState) -> Result<(), DbErr> {
    let hub = super::state_of(state).realtime.hub();
    let (sockets, held): (Vec<_>, Vec<_>) = hub
        .connected()
        .into_iter()
        .filter_map(|socket| socket.actor().map(|actor| (socket, actor)))
        .unzip();
    if sockets.is_empty() {
        return Ok(());
    }
    let now_held = Actor::recheck(state.db.conn(), &held).await?;
    for (socket, now) in sockets.into_iter().zip(now_held) {
        let Some(now) = now else {
            socket.revoke(Revoked::SignedOut);
            continue;
        };
        if now
            .facilities_with(Permission::CONVERSATION_READ)
            .is_some_and(|f| f.is_empty())
        {
            socket.revoke(Revoked::NoLongerAllowed);
            continue;
        }
        let lost = socket.hold(now);
        if !lost.is_empty() {
            hub.unsubscribe(&socket, &lost);
            let frame = json!({
                "type": "unsubscribed", "conversation_ids": lost, "reason": "access_revoked",
            });
            socket.tell(Arc::from(frame.to_string()));
        }
    }
    Ok(())
}
