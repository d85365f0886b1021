//! `/facilities/{facility_id}/availability-blocks`: closed time (a holiday,
//! surgery) and extra open time, for one provider or the whole facility.
//! Reading needs `schedule:read`; changing needs `schedule:manage`, which
//! reaches only the actor's own blocks unless the role administers the
//! facility (facility-wide blocks are the administrator's). None of it is
//! PHI; every change is audited.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ActiveValue, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schedule_routes::require_own_schedule;
use super::schedules::{AvailabilityBlock, NewBlock, block};
use crate::access::{Actor, Permission, memberships};
use crate::app::AppState;
use crate::audit::{self, AuditAction, redact};
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_block, list_blocks))
        .routes(routes!(delete_block))
}

/// Adds an availability block: closed time (a holiday, surgery) or, with
/// `is_available`, extra open time, for one provider or the whole facility.
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
    let txn = state.db.begin().await?;
    memberships::require_members(&*txn, facility_id, &[("provider_id", new.provider_id)]).await?;
    let row = block::ActiveModel {
        id: ActiveValue::Set(new_id()),
        facility_id: ActiveValue::Set(facility_id),
        provider_id: ActiveValue::Set(new.provider_id),
        starts_at: ActiveValue::Set(new.starts_at),
        ends_at: ActiveValue::Set(new.ends_at),
        is_available: ActiveValue::Set(new.is_available),
        reason: ActiveValue::Set(new.reason.trim().to_owned()),
        created_by: ActiveValue::Set(Some(actor.account_id())),
        created_at: ActiveValue::Set(Timestamp::now()),
    }
    .insert(&*txn)
    .await?;
    let shown = AvailabilityBlock::from(&row);
    let event = actor
        .event(AuditAction::Create, "availability_block")
        .resource(row.id)
        .facility(facility_id)
        .changes(redact(json!({ "after": &shown }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok((StatusCode::CREATED, ApiJson(shown)))
}

/// Which blocks a list returns.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlockFilter {
    /// The provider's blocks and the facility-wide ones.
    pub provider_id: Option<Uuid>,
    /// Only blocks ending after this time.
    pub from: Option<Timestamp>,
    /// Only blocks starting before this time.
    pub to: Option<Timestamp>,
    pub after: Option<Uuid>,
    pub limit: Option<u64>,
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
    let facility_id = actor
        .facility(facility_id, Permission::SCHEDULE_READ)?
        .facility_id();
    let limit = crate::http::extract::page_limit(filter.limit)?;
    use block::Column;
    let mut query = block::Entity::find()
        .filter(Column::FacilityId.eq(facility_id))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(provider) = filter.provider_id {
        query = query.filter(
            sea_orm::sea_query::Condition::any()
                .add(Column::ProviderId.eq(provider))
                .add(Column::ProviderId.is_null()),
        );
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::EndsAt.gt(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::StartsAt.lt(to));
    }
    if let Some(after) = filter.after {
        query = query.filter(Column::Id.gt(after));
    }
    let rows = query.all(state.db.conn()).await?;
    let items = rows.iter().map(AvailabilityBlock::from).collect();
    Ok(ApiJson(Page::new(items, limit, |b: &AvailabilityBlock| {
        b.id
    })))
}

/// Removes an availability block.
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
    let txn = state.db.begin().await?;
    let row = block::Entity::find_by_id(block_id)
        .filter(block::Column::FacilityId.eq(facility_id))
        .one(&*txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    require_own_schedule(&scope, row.provider_id)?;
    let before = AvailabilityBlock::from(&row);
    block::Entity::delete_by_id(block_id).exec(&*txn).await?;
    let event = actor
        .event(AuditAction::Delete, "availability_block")
        .resource(block_id)
        .facility(facility_id)
        .changes(redact(json!({ "before": before }), &[]));
    audit::commit(txn, vec![event]).await?;
    Ok(StatusCode::NO_CONTENT)
}
