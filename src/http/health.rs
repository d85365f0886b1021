//! Liveness and readiness, for load balancers and orchestrators.
//!
//! `/health` says the process answers and touches nothing else, so it stays
//! cheap under any load. `/ready` says this server can do useful work: the
//! database answers and its schema is exactly what this build expects.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use crate::app::AppState;
use crate::db::migrate;
use crate::error::{ApiError, Problem};

/// Bounds the whole readiness check; a probe must get an answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// The process is alive.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The carebase version answering.
    pub version: String,
}

/// Whether the process is alive. Never touches the database.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health))
)]
pub async fn health() -> impl IntoResponse {
    // A constant: probes call this often, and it should cost next to nothing.
    ([(header::CONTENT_TYPE, "application/json")], HEALTH_BODY)
}

/// [`Health`] as sent: `{"status":"ok","version":"<version>"}`.
const HEALTH_BODY: &str = concat!(
    r#"{"status":"ok","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

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
    let check = async {
        state.db.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            ApiError::Unavailable("the database is not reachable".to_owned())
        })?;
        migrate::status(&state.db).await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check: cannot read migration state");
            ApiError::Unavailable(
                "the database schema cannot be checked; it may be newer than this server"
                    .to_owned(),
            )
        })
    };
    let migrations = tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .map_err(|_| {
            ApiError::Unavailable(format!(
                "the database did not answer within {} seconds",
                CHECK_TIMEOUT.as_secs()
            ))
        })??;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constant_health_body_is_a_health() {
        let health: Health = serde_json::from_str(HEALTH_BODY).unwrap();
        assert_eq!(health.status, "ok");
        assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
    }
}
