//! Path and query extractors that answer bad input with a precise problem,
//! and the cursor pagination every list uses.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, FieldError};

/// Path parameters of type `T`; a malformed one (such as an id that is not
/// a UUID) is a 400 naming it.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| {
                ApiError::MalformedRequest(format!(
                    "a path parameter is invalid: {}",
                    rejection.body_text()
                ))
            })
    }
}

/// Query parameters of type `T`. An unknown parameter or a value the type
/// does not take is a 422 naming the parameter, as a body field would be
/// (an enumeration's allowed values included).
#[derive(Debug, Clone, Copy)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query()).map(ApiQuery)
    }
}

/// Parses a query string as a `T`, naming the offending parameter.
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    super::nul::check_query(query)?;
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs)).map_err(|e| {
        let path = e.path().to_string();
        super::json::field_error(&path, &e.into_inner().to_string())
    })
}

/// Items per page when the client does not say.
pub const DEFAULT_PAGE: u64 = 50;
/// Most items one page returns.
pub const MAX_PAGE: u64 = 200;

/// Cursor pagination: `?after=<id of the last item seen>&limit=<n>`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u64, ApiError> {
        page_limit(self.limit)
    }
}

/// The page size a list's `limit` parameter asks for: [`DEFAULT_PAGE`] when
/// absent, refused outside 1 to [`MAX_PAGE`]. For lists whose query has
/// its own filters beside `after` and `limit`.
pub fn page_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    limit_within(limit, DEFAULT_PAGE, MAX_PAGE)
}

/// `limit`, or `default` when absent; a 422 naming `limit` outside 1 to
/// `max`. For lists whose pages are longer than [`MAX_PAGE`].
pub fn limit_within(limit: Option<u64>, default: u64, max: u64) -> Result<u64, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            "limit",
            format!("must be between 1 and {max}"),
        )])),
    }
}

/// One page of a list, and the cursor of the next page if there may be one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

impl<T> Page<T> {
    /// A page of `items` fetched with `limit`; `id` gives an item's cursor.
    pub fn new(items: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> Self {
        let next_cursor = next_cursor(&items, limit, id);
        Self { items, next_cursor }
    }
}

/// The cursor of the page after `items`, fetched with `limit`: the last
/// item's, when the page is full (there may be more). For lists whose
/// cursor is not an id (a message's `seq`).
pub fn next_cursor<T, C>(items: &[T], limit: u64, cursor: impl Fn(&T) -> C) -> Option<C> {
    if items.len() as u64 == limit {
        items.last().map(cursor)
    } else {
        None
    }
}
