//! `/facilities/{facility_id}/availability-blocks`: closed time (a holiday,
//! surgery) and extra open time, for one provider or the whole facility.
//! Reading needs `schedule:read`; changing needs `schedule:manage`, which
//! reaches only the actor's own blocks unless the role administers the
//! facility (facility-wide blocks are the administrator's). A reason
//! outside the catalogue may name someone: it is sealed, and the audit log
//! records that it was given, not what it says; every change is audited.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::schedule_routes::require_own_schedule;
use super::schedule_store::{self, BlockFilter};
use super::schedules::{AvailabilityBlock, BLOCK_PHI_FIELDS, NewBlock};
use super::weekends;
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, Permission};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_block, list_blocks))
        .routes(routes!(delete_block))
}

/// Adds an availability block: closed time (a holiday, surgery) or, with
/// `is_available`, extra open time, for one provider or the whole facility.
/// An opening wins over a weekend closure (reason `Weekend`) for its hours;
/// a facility-wide opening on a Saturday or Sunday also keeps
/// `carebase schedule block-weekends` from closing that day.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/availability-blocks",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewBlock,
    responses((status = 201, description = "Added", body = AvailabilityBlock), Problems),
    security(("bearer" = []))
)]
async fn create_block(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewBlock>,
) -> Result<(StatusCode, ApiJson<AvailabilityBlock>), ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_MANAGE)?;
    require_own_schedule(&scope, new.provider_id)?;
    new.validate()?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    memberships::require_members(&*txn, facility_id, &[("provider_id", new.provider_id)]).await?;
    let now = Timestamp::now();
    let row = schedule_store::insert_block(&*txn, &key, &scope, &new, now).await?;
    let left_open = weekends::record(&*txn, &scope, &row, false, now).await?;
    let shown = AvailabilityBlock::open(&key, &row)?;
    let event = actor
        .event(AuditAction::Create, "availability_block")
        .resource(row.id)
        .facility(facility_id)
        .changes(redact(
            json!({ "after": &shown, "weekend_days_left_open": left_open }),
            BLOCK_PHI_FIELDS,
        ));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// Lists availability blocks, in id order.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/availability-blocks",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), BlockFilter),
    responses((status = 200, description = "A page of blocks", body = Page<AvailabilityBlock>), Problems),
    security(("bearer" = []))
)]
async fn list_blocks(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<BlockFilter>,
) -> Result<ApiJson<Page<AvailabilityBlock>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let rows = schedule_store::blocks_page(state.db.conn(), &scope, &filter, limit).await?;
    let key = state.keyring.facility(facility_id).await?;
    let items = rows
        .iter()
        .map(|row| AvailabilityBlock::open(&key, row))
        .collect::<Result<_, _>>()?;
    Ok(ApiJson(Page::new(items, limit, |b: &AvailabilityBlock| {
        b.id
    })))
}

/// Removes an availability block. Removing a facility-wide weekend
/// closure unblocks its days for good: `carebase schedule block-weekends`
/// does not add them again.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/availability-blocks/{block_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("block_id" = Uuid, Path, description = "The block"),
    ),
    responses((status = 204, description = "Removed"), Problems),
    security(("bearer" = []))
)]
async fn delete_block(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, block_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = actor.facility(facility_id, Permission::SCHEDULE_MANAGE)?;
    let key = state.keyring.facility(facility_id).await?;
    let txn = state.db.begin().await?;
    let row = schedule_store::find_block(&*txn, &scope, block_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    require_own_schedule(&scope, row.provider_id)?;
    let before = AvailabilityBlock::open(&key, &row)?;
    schedule_store::delete_block(&*txn, &scope, block_id).await?;
    weekends::forget_opening(&*txn, &scope, block_id).await?;
    let left_open = weekends::record(&*txn, &scope, &row, true, Timestamp::now()).await?;
    let event = actor
        .event(AuditAction::Delete, "availability_block")
        .resource(block_id)
        .facility(facility_id)
        .changes(redact(
            json!({ "before": before, "weekend_days_left_open": left_open }),
            BLOCK_PHI_FIELDS,
        ));
    audit::commit(txn, vec![event]).await?;
    Ok(StatusCode::NO_CONTENT)
}
