//! Liveness and readiness, for load balancers and orchestrators.
//!
//! `/health` says the process answers and touches nothing else, so it stays
//! cheap under any load. `/ready` says this server can do useful work: the
//! database answers and its schema is exactly what this build expects.

use std::time::Duration;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use crate::app::AppState;
use crate::db::migrate;
use crate::error::{ApiError, Problem};

const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// The process is alive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    /// The carebase version answering.
    version: &'static str,
}

/// Whether the process is alive. Never touches the database.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health))
)]
pub async fn health() -> ApiJson<Health> {
    ApiJson(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The server can take traffic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// How many migrations the database has, all of them known to this build.
    migrations_applied: usize,
}

/// Whether the server can take traffic: the database answers and every
/// migration of this build is applied.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = Readiness),
        (status = 503, description = "The database is unreachable or its schema is not current",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Result<ApiJson<Readiness>, ApiError> {
    state.db.ping(PING_TIMEOUT).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check: database unreachable");
        ApiError::Unavailable("the database is not reachable".to_owned())
    })?;
    let migrations = migrate::status(&state.db).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check: cannot read migration state");
        ApiError::Unavailable(
            "the database schema cannot be checked; it may be newer than this server".to_owned(),
        )
    })?;
    let pending = migrations.iter().filter(|m| !m.applied).count();
    if pending > 0 {
        return Err(ApiError::Unavailable(format!(
            "{pending} database migration(s) are pending; run `carebase migrate up`"
        )));
    }
    Ok(ApiJson(Readiness {
        status: "ready",
        database: state.db.backend().name(),
        migrations_applied: migrations.len(),
    }))
}
