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
pub mod conversation_store;
pub mod conversations;
pub mod direct;
pub mod message_history;
pub mod message_input;
pub mod message_routes;
pub mod messages;
pub mod migration;
pub mod participants;
pub mod permissions;
pub mod realtime;
pub mod realtime_delivery;
pub mod realtime_hub;
pub mod realtime_routes;
pub mod realtime_tickets;
pub mod realtime_watch;
pub mod seal_migration;
pub mod senders;
pub mod settings;
pub mod video;
pub mod video_daily;

use sea_orm_migration::MigrationTrait;
use utoipa_axum::router::OpenApiRouter;

use crate::app::{AppState, Extensions, Opening};
use crate::care::care_team::{LinkMoved, LinkStatus};
use crate::config::Section;
use crate::context::{ApiTag, Context, Job, Reaction};
use crate::error::ApiError;
use crate::policy::Grant;
use crate::storage::FileStore;
use settings::MessagingSettings;
use std::any::Any;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use realtime::{Notice, Realtime};
use video::VideoRooms;

/// What messaging keeps for its handlers: the realtime hub, the video
/// room provider and the attachment store.
pub struct MessagingState {
    pub realtime: Realtime,
    pub video: Arc<dyn VideoRooms>,
    pub files: FileStore,
    /// SQLite: this server's own event queue, taken by the delivery job.
    local_events: Mutex<Option<UnboundedReceiver<Notice>>>,
}

/// Messaging's state from the server's.
pub fn state_of(state: &AppState) -> &MessagingState {
    state.ext::<MessagingState>()
}

/// The messaging context, as the kernel sees it.
pub struct Messaging;

#[async_trait::async_trait]
impl Context for Messaging {
    fn name(&self) -> &'static str {
        "messaging"
    }

    fn tags(&self) -> &'static [ApiTag] {
        &[ApiTag {
            name: "messaging",
            description: "Conversations, messages, read state, attachments, video calls and the realtime socket (seeds 002, 004)",
        }]
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .merge(conversation_routes::routes())
            .merge(message_routes::routes())
            .merge(realtime_routes::routes())
            .merge(realtime_tickets::routes())
            .merge(call_routes::routes())
            .merge(attachment_routes::routes())
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(migration::CreateMessaging),
            Box::new(migration::CreateRealtimeTickets),
            Box::new(seal_migration::SealMessagingFreeText),
        ]
    }

    fn permissions(&self) -> &'static [Grant] {
        permissions::GRANTS
    }

    fn settings(&self) -> Option<Section> {
        Some(Section::of::<MessagingSettings>())
    }

    async fn open(&self, opening: &Opening<'_>, extensions: &mut Extensions) -> anyhow::Result<()> {
        let config = opening.config;
        let sealed = seal_migration::seal_clear_rows(opening.db, opening.keyring).await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "messaging: sealed tags and checksums stored in clear"
            );
        }
        let (realtime, local_events) = Realtime::new(opening.db);
        let video = video::rooms_from(&config.section::<MessagingSettings>().video())
            .map_err(|e| anyhow::anyhow!("video settings: {e}"))?;
        let files = FileStore::from_settings(&config.files(), &config.data_dir)
            .map_err(|e| anyhow::anyhow!("attachment storage: {e}"))?;
        extensions.insert(MessagingState {
            realtime,
            video,
            files,
            local_events: Mutex::new(local_events),
        });
        Ok(())
    }

    async fn react(
        &self,
        reaction: &mut Reaction<'_>,
        event: &(dyn Any + Send + Sync),
    ) -> Result<(), ApiError> {
        let Some(moved) = event.downcast_ref::<LinkMoved>() else {
            return Ok(());
        };
        match moved.link.link_status()? {
            LinkStatus::Active => {
                direct::open(
                    reaction.txn,
                    &moved.link,
                    moved.patient_account,
                    reaction.now,
                )
                .await?;
            }
            LinkStatus::Ended | LinkStatus::Blocked => {
                let closed = direct::close_for_provider(reaction.txn, &moved.link, reaction.now);
                if let Some(notice) = closed.await? {
                    let realtime = state_of(reaction.state).realtime.clone();
                    reaction.after_commit(Box::pin(async move { realtime.publish(notice).await }));
                }
            }
            LinkStatus::Requested => {}
        }
        Ok(())
    }

    async fn jobs(&self, state: &AppState, stop: &CancellationToken) -> Vec<Job> {
        let local_events = state
            .ext::<MessagingState>()
            .local_events
            .lock()
            .ok()
            .and_then(|mut events| events.take());
        vec![
            Job::new(
                "missed-call sweep",
                calls::spawn_missed_sweep(state.clone(), stop.clone()),
            ),
            Job::new(
                "realtime access watch",
                realtime_watch::spawn(state.clone(), stop.clone()),
            ),
            Job::new(
                "realtime delivery",
                realtime_delivery::spawn(state.clone(), local_events, stop.clone()).await,
            ),
        ]
    }
}
