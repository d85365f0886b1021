//! Refused attempts on patient data are audited as failed access (HIPAA's
//! audit controls ask for attempts, not only successes): a request to a
//! route naming a `{patient_id}` that is answered 401, 403 or 404 records a
//! `permission_denied` event about that patient, once per actor, patient
//! and minute, so a script hammering one record cannot flood the log.
//!
//! The watcher runs after routing (it needs the route's template); the
//! actor, which only the handler's extractor establishes, reaches it
//! through an [`ActorSlot`] in the request's extensions.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use super::RequestInfo;
use crate::app::AppState;
use crate::audit::{AuditAction, AuditActor, AuditEvent, redact};
use crate::time::Timestamp;

/// The most (actor, patient) pairs remembered within one minute; beyond it
/// every refusal is recorded, which is still bounded by the request rate.
const MAX_REMEMBERED: usize = 100_000;

/// Where the actor extractor leaves who the caller turned out to be.
#[derive(Clone, Default)]
pub struct ActorSlot(Arc<Mutex<Option<AuditActor>>>);

impl ActorSlot {
    pub fn fill(&self, actor: AuditActor) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(actor);
        }
    }

    fn take(&self) -> Option<AuditActor> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// The watcher's state: the app, and the refusals already recorded this
/// minute.
#[derive(Clone)]
pub struct FailedAccess {
    state: AppState,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    minute: i64,
    pairs: HashSet<(String, Uuid)>,
}

impl FailedAccess {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            seen: Arc::default(),
        }
    }

    /// Whether this refusal is the first of `who` on `patient_id` this minute.
    fn first_this_minute(&self, who: String, patient_id: Uuid) -> bool {
        let minute = Timestamp::now().as_micros() / 60_000_000;
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if seen.minute != minute {
            seen.minute = minute;
            seen.pairs.clear();
        }
        if seen.pairs.len() >= MAX_REMEMBERED {
            return true;
        }
        seen.pairs.insert((who, patient_id))
    }
}

/// The middleware: passes the request on, and records the refusal.
pub async fn watch(
    State(watcher): State<FailedAccess>,
    route: MatchedPath,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    let params = params.ok();
    let param = |name| params.as_ref().and_then(|p| uuid_param(p, name));
    let Some(patient_id) = param("patient_id").filter(|_| route.as_str().contains("{patient_id}"))
    else {
        return next.run(request).await;
    };
    let facility_id = param("facility_id");
    let (mut parts, body) = request.into_parts();
    let info = RequestInfo::from_parts(&parts);
    let method = parts.method.to_string();
    let slot = ActorSlot::default();
    parts.extensions.insert(slot.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status().as_u16();
    if !matches!(status, 401 | 403 | 404) {
        return response;
    }
    let actor = slot.take().unwrap_or_else(|| AuditActor::System {
        job: "unauthenticated request".to_owned(),
    });
    let who = match &actor {
        AuditActor::Account { id, .. } | AuditActor::ApiKey { id } => id.to_string(),
        AuditActor::System { .. } => format!("address {:?}", info.client_addr),
    };
    if !watcher.first_this_minute(who, patient_id) {
        return response;
    }
    let mut event = AuditEvent::new(actor, AuditAction::PermissionDenied, "patient")
        .resource(patient_id)
        .patient(patient_id)
        .context(info.audit_context())
        .changes(redact(
            json!({ "status": status, "method": method, "route": route.as_str() }),
            &[],
        ));
    if let Some(facility_id) = facility_id {
        event = event.facility(facility_id);
    }
    if let Err(e) = watcher.state.audit.record(vec![event]).await {
        tracing::error!(error = %e, "could not record a failed access to patient data");
    }
    response
}

fn uuid_param(params: &RawPathParams, name: &str) -> Option<Uuid> {
    params
        .iter()
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| Uuid::parse_str(value).ok())
}
