//! `/facilities/{facility_id}/calendar-feeds` (make, list, revoke one's
//! own feeds; `appointment:read`) and `/calendar/{token}.ics`, the feed
//! itself, which calendar apps fetch with the token as the credential.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::calendar::{self, CalendarFeed, NewCalendarFeed};
use super::store;
use crate::access::memberships;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, ComplianceFlag, redact};
use crate::error::ApiError;
use crate::http::api_docs::Problems;
use crate::http::{ApiJson, ApiPath, ApiQuery, Page, PageQuery};
use crate::identity::accounts::{self, Standing};
use crate::policy::{Actor, FacilityScope, Permission};
use crate::time::Timestamp;

const RESOURCE: &str = "calendar_feed";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_feed, list_feeds))
        .routes(routes!(revoke_feed))
        .routes(routes!(calendar_feed))
}

/// Whether the feed's owner may still see what it shows: the provider
/// still holds a role in the facility, the patient's record is still
/// linked to the owner's portal account; either way an account in good
/// standing.
async fn owner_still_allowed(
    db: &impl sea_orm::ConnectionTrait,
    feed: &calendar::Model,
) -> Result<bool, ApiError> {
    let owner = accounts::find(db, feed.created_by).await?;
    if owner.is_none_or(|a| a.standing(Timestamp::now()) != Standing::Good) {
        return Ok(false);
    }
    match (feed.provider_id, feed.patient_id) {
        (Some(_), _) => Ok(memberships::is_member(db, feed.created_by, feed.facility_id).await?),
        (None, Some(patient)) => {
            Ok(
                crate::care::contact::is_portal_of(db, feed.facility_id, patient, feed.created_by)
                    .await?,
            )
        }
        (None, None) => Ok(false),
    }
}

/// Checks whose feed a request may make: the caller's own provider feed,
/// or the feed of the patient record linked to the caller.
async fn check_owner(
    db: &impl sea_orm::ConnectionTrait,
    scope: &FacilityScope,
    new: &NewCalendarFeed,
) -> Result<(), ApiError> {
    let me = scope.account_id();
    match (new.provider_id, new.patient_id) {
        (Some(provider), None) => {
            if provider != me {
                return Err(ApiError::Forbidden(
                    "a provider makes a feed of their own appointments only".to_owned(),
                ));
            }
            if store::provider_schedule(db, scope, provider)
                .await?
                .is_none()
            {
                return Err(ApiError::invalid(
                    "provider_id",
                    "you have no schedule in this facility",
                ));
            }
            Ok(())
        }
        (None, Some(patient)) => {
            let linked =
                crate::care::store::portal_account_of(db, scope, patient).await? == Some(Some(me));
            if linked {
                Ok(())
            } else {
                Err(ApiError::invalid(
                    "patient_id",
                    "not the patient record linked to your portal account",
                ))
            }
        }
        _ => Err(ApiError::invalid(
            "provider_id",
            "give exactly one of provider_id and patient_id",
        )),
    }
}

/// Makes a private calendar feed of your appointments, as a provider, or
/// of your own record's, as a patient. The response carries its path with
/// the secret token, once; revoke the feed to stop it.
#[utoipa::path(
    post,
    path = "/facilities/{facility_id}/calendar-feeds",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility")),
    request_body = NewCalendarFeed,
    responses((status = 201, description = "The feed, with its path", body = CalendarFeed), Problems),
    security(("bearer" = []))
)]
async fn create_feed(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewCalendarFeed>,
) -> Result<(StatusCode, ApiJson<CalendarFeed>), ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_READ)?;
    let txn = state.db.begin().await?;
    check_owner(&*txn, &scope, &new).await?;
    let (row, token) = calendar::insert_feed(&*txn, &scope, &new, Timestamp::now()).await?;
    let mut event = actor
        .event(AuditAction::Create, RESOURCE)
        .resource(row.id)
        .facility(facility_id)
        .changes(redact(
            json!({ "provider_id": row.provider_id, "patient_id": row.patient_id }),
            &[],
        ));
    if let Some(patient) = row.patient_id {
        event = event.patient(patient);
    }
    audit::commit(txn, vec![event]).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CalendarFeed::from_row(&row, Some(&token))),
    ))
}

/// Lists the caller's feeds in this facility (without their tokens).
#[utoipa::path(
    get,
    path = "/facilities/{facility_id}/calendar-feeds",
    tag = "scheduling",
    params(("facility_id" = Uuid, Path, description = "The facility"), PageQuery),
    responses((status = 200, description = "A page of feeds", body = Page<CalendarFeed>), Problems),
    security(("bearer" = []))
)]
async fn list_feeds(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(facility_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<CalendarFeed>>, ApiError> {
    let scope = actor.facility(facility_id, Permission::APPOINTMENT_READ)?;
    let limit = page.limit()?;
    let rows = calendar::own_feeds(state.db.conn(), &scope, page.after, limit).await?;
    let items = rows
        .iter()
        .map(|row| CalendarFeed::from_row(row, None))
        .collect();
    Ok(ApiJson(Page::new(items, limit, |f: &CalendarFeed| f.id)))
}

/// Revokes a feed; its URL stops working at once. Your own feeds need
/// `appointment:read`; anyone else's in the facility (a departed
/// provider's, a leaked one) need `facility:manage`.
#[utoipa::path(
    delete,
    path = "/facilities/{facility_id}/calendar-feeds/{feed_id}",
    tag = "scheduling",
    params(
        ("facility_id" = Uuid, Path, description = "The facility"),
        ("feed_id" = Uuid, Path, description = "The feed"),
    ),
    responses((status = 204, description = "Revoked"), Problems),
    security(("bearer" = []))
)]
async fn revoke_feed(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath((facility_id, feed_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    if actor.permissions_in(facility_id).is_empty() {
        return Err(ApiError::NotFound);
    }
    let txn = state.db.begin().await?;
    let row = calendar::find_feed(&*txn, facility_id, feed_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let needed = if row.created_by == actor.account_id() {
        Permission::APPOINTMENT_READ
    } else {
        Permission::FACILITY_MANAGE
    };
    let scope = actor.facility(facility_id, needed)?;
    calendar::revoke(&*txn, &scope, row, Timestamp::now()).await?;
    let event = actor
        .event(AuditAction::Delete, RESOURCE)
        .resource(feed_id)
        .facility(facility_id);
    audit::commit(txn, vec![event]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The feed, as `text/calendar` (RFC 5545). The token in the path is the
/// credential; a revoked feed, or one whose owner lost access, is not found.
#[utoipa::path(
    get,
    path = "/calendar/{token}",
    tag = "scheduling",
    params(("token" = String, Path, description = "The feed's token, followed by `.ics`")),
    responses(
        (status = 200, description = "The calendar", body = String, content_type = "text/calendar"),
        Problems
    )
)]
async fn calendar_feed(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, ApiError> {
    let token = file.strip_suffix(".ics").unwrap_or(&file);
    let db = state.db.conn();
    let feed = calendar::by_token(db, token)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !owner_still_allowed(db, &feed).await? {
        return Err(ApiError::NotFound);
    }
    let facility = crate::access::facilities::find(db, feed.facility_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = Timestamp::now();
    let rows = calendar::appointments_of(db, &feed, now).await?;
    let key = state.keyring.facility(feed.facility_id).await?;
    let body = calendar::render(&key, &facility.name, &rows, now)?;
    // The owner read these appointments through their feed.
    let mut event = AuditEvent::new(
        AuditActor::Account {
            id: feed.created_by,
            session_id: None,
        },
        AuditAction::Read,
        RESOURCE,
    )
    .resource(feed.id)
    .facility(feed.facility_id)
    .flag(ComplianceFlag::Phi)
    .changes(redact(json!({ "appointments": rows.len() }), &[]));
    if let Some(patient) = feed.patient_id {
        event = event.patient(patient);
    }
    state.audit.record(vec![event]).await?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
