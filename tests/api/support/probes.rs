//! Routes that exist only in tests, to drive the kernel's extractors and
//! layers with bodies, panics and slow handlers.

use std::time::Duration;

use axum::routing::{get, post};
use carebase::AppState;
use carebase::http::ApiJson;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;

/// A body with every kind of field a request can get wrong.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub name: String,
    pub count: u32,
    pub nested: ProbeNested,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeNested {
    pub at: carebase::time::Timestamp,
}

pub(super) fn probe_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route(
            "/probe/echo",
            post(|ApiJson(probe): ApiJson<Probe>| async move { ApiJson(probe) }),
        )
        .route("/probe/panic", get(panics))
        .route("/probe/fail", get(fails))
        .route(
            "/probe/slow/{millis}",
            get(
                |axum::extract::Path(millis): axum::extract::Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    "done"
                },
            ),
        )
}

async fn fails() -> Result<&'static str, carebase::error::ApiError> {
    Err(
        anyhow::anyhow!("connection to postgres://app:s3cret@db failed for patient Jane Roe")
            .into(),
    )
}

async fn panics() -> &'static str {
    panic!("secret patient detail in a panic message")
}
