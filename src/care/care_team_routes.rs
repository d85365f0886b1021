//! `/facilities/{facility_id}/care-team-links`: patients and providers
//! connecting for care (seed 004). Requesting, accepting, ending and
//! blocking need `care_team:manage` and act for the caller's own side:
//! the patient (through their portal account) or the provider (the account
//! itself; a facility administrator acts for the provider side). Reading
//! needs `care_team:read` and shows the caller's own links and those of the
//! patients the caller can see. Every read and change is audited.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::care_team::{
    self, CareTeamLink, LinkMoved, LinkSide, LinkStatus, LinkStatusChange, NewLink, Reopen,
};
use super::care_team_store::{self, LinkFilter};
use super::store;
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, ComplianceFlag, redact};
use crate::context;
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

const RESOURCE: &str = "care_team_link";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_link, list_links))
        .routes(routes!(get_link))
        .routes(routes!(move_link_status))
}

fn link_event(actor: &Actor, action: AuditAction, row: &care_team::Model) -> AuditEvent {
    actor
        .event(action, RESOURCE)
        .resource(row.id)
        .facility(row.facility_id)
        .flag(ComplianceFlag::Phi)
        .patient(row.patient_id)
}

/// Which side of a link to `patient_id` and `provider_id` the caller acts
/// for, or 403.
fn side_of(
    scope: &FacilityScope,
    provider_id: Uuid,
    patient_account: Option<Uuid>,
) -> Result<LinkSide, ApiError> {
    let me = scope.account_id();
    if me == provider_id {
        Ok(LinkSide::Provider)
    } else if patient_account == Some(me) {
        Ok(LinkSide::Patient)
    } else if scope.assigned_to().is_none() {
        Ok(LinkSide::Provider)
    } else {
        Err(ApiError::Forbidden(
            "only the patient, the provider or a facility administrator changes this link"
                .to_owned(),
        ))
    }
}

/// A patient asks for a provider, or a provider invites a patient. The
/// pair's existing link is returned as it is when requested or active, and
/// reopened when it ended (or was blocked by the same side).
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/care-team-links",
    tag = "care",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewLink,
    responses(
        (status = 201, description = "Requested", body = CareTeamLink),
        (status = 200, description = "The pair's link, already requested or active", body = CareTeamLink),
        Problems
    ),
    security(("bearer" = []))
)]
async fn request_link(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewLink>,
) -> Result<(StatusCode, ApiJson<CareTeamLink>), ApiError> {
    let scope = actor.facility(facility_id, Permission::CARE_TEAM_MANAGE)?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let patient_account = store::portal_account_of(&*txn, &scope, new.patient_id)
        .await?
        .ok_or_else(|| {
            ApiError::invalid("patient_id", "no patient with this id in this facility")
        })?;
    memberships::require_members(
        &*txn,
        facility_id,
        &[("provider_id", Some(new.provider_id))],
    )
    .await?;
    if patient_account == Some(new.provider_id) {
        return Err(ApiError::invalid(
            "provider_id",
            "is the patient's own account",
        ));
    }
    let side = side_of(&scope, new.provider_id, patient_account)?;
    let (status, row, before) =
        match care_team::of_pair(&*txn, new.patient_id, new.provider_id).await? {
            None => {
                let row = care_team_store::insert(&*txn, &scope, &new, side, now).await?;
                (StatusCode::CREATED, row, None)
            }
            Some(existing) => match care_team::reopen(&existing, side)? {
                Reopen::Unchanged => {
                    txn.rollback().await?;
                    state
                        .audit
                        .record(vec![link_event(&actor, AuditAction::Read, &existing)])
                        .await?;
                    return Ok((StatusCode::OK, ApiJson(CareTeamLink::try_from(&existing)?)));
                }
                Reopen::Reopened => {
                    let row = care_team::reopen_as_request(&*txn, &existing, side, now).await?;
                    (StatusCode::CREATED, row, Some(existing.link_status()?))
                }
            },
        };
    let shown = CareTeamLink::try_from(&row)?;
    let action = if before.is_some() {
        AuditAction::Update
    } else {
        AuditAction::Create
    };
    let event = link_event(&actor, action, &row).changes(redact(
        json!({ "status": { "from": before, "to": LinkStatus::Requested }, "requested_by": side }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    Ok((status, ApiJson(shown)))
}

/// Lists care-team links in the order they were created.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/care-team-links",
    tag = "care",
    params(("facility_id" = Uuid, Path, description = "The facility"), LinkFilter),
    responses((status = 200, description = "A page of links", body = Page<CareTeamLink>), Problems),
    security(("bearer" = []))
)]
async fn list_links(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(filter): ApiQuery<LinkFilter>,
) -> Result<ApiJson<Page<CareTeamLink>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CARE_TEAM_READ)?;
    let limit = crate::http::extract::page_limit(filter.limit)?;
    let rows = care_team_store::page(state.db.conn(), &scope, &filter, limit).await?;
    state
        .audit
        .record(
            rows.iter()
                .map(|row| link_event(&actor, AuditAction::Read, row))
                .collect(),
        )
        .await?;
    let items = rows
        .iter()
        .map(CareTeamLink::try_from)
        .collect::<Result<_, _>>()?;
    Ok(ApiJson(Page::new(items, limit, |l: &CareTeamLink| l.id)))
}

/// One care-team link.
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/care-team-links/{link_id}",
    tag = "care",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("link_id" = Uuid, Path, description = "The link"),
    ),
    responses((status = 200, description = "The link", body = CareTeamLink), Problems),
    security(("bearer" = []))
)]
async fn get_link(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, link_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<ApiJson<CareTeamLink>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CARE_TEAM_READ)?;
    let row = care_team_store::find(state.db.conn(), &scope, link_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    state
        .audit
        .record(vec![link_event(&actor, AuditAction::Read, &row)])
        .await?;
    Ok(ApiJson(CareTeamLink::try_from(&row)?))
}

/// Accepts (`active`: only the side that did not request), ends or blocks
/// a link. Accepting opens the pair's direct conversation; ending or
/// blocking takes the provider's access to the patient away at once.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/care-team-links/{link_id}/status",
    tag = "care",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("link_id" = Uuid, Path, description = "The link"),
    ),
    request_body = LinkStatusChange,
    responses((status = 200, description = "Moved", body = CareTeamLink), Problems),
    security(("bearer" = []))
)]
async fn move_link_status(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, link_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(change): ApiJson<LinkStatusChange>,
) -> Result<ApiJson<CareTeamLink>, ApiError> {
    let scope = actor.facility(facility_id, Permission::CARE_TEAM_MANAGE)?;
    let now = Timestamp::now();
    let txn = state.db.begin().await?;
    let link = care_team_store::find(&*txn, &scope, link_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let patient_account = store::portal_account_of(&*txn, &scope, link.patient_id)
        .await?
        .flatten();
    let side = side_of(&scope, link.provider_id, patient_account)?;
    if change.status == LinkStatus::Active
        && side == link.requested_side()?
        && scope.assigned_to().is_some()
    {
        return Err(ApiError::Forbidden(format!(
            "the {} side asked for this link; the {} side accepts it",
            side,
            side.other()
        )));
    }
    let row = care_team::move_to(&*txn, &link, change.status, side, now).await?;
    let after_commit = context::publish(
        &state,
        &txn,
        now,
        &LinkMoved {
            link: row.clone(),
            patient_account,
        },
    )
    .await?;
    let event = link_event(&actor, AuditAction::Update, &row).changes(redact(
        json!({ "status": { "from": link.link_status()?, "to": row.link_status()? }, "by": side }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    after_commit.run().await;
    Ok(ApiJson(CareTeamLink::try_from(&row)?))
}
