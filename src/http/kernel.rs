//! The kernel layer: what every request goes through, in one pass.
//!
//! It gives the request an id (or keeps the client's), refuses a body over
//! the limit, guards against panics, turns every error into a complete
//! problem, gzips the response for clients that accept it, echoes the id in
//! `x-request-id`, logs the outcome, and reads to its end a body the
//! handler left unread, so that the connection serves the next request
//! (see `drain`). These are one hand-written layer rather than six stacked
//! ones because each layer costs a future and a poll per request, and
//! together they halved the throughput of `/health` in `bench/load.sh`. Compression itself is tower-http's, entered only when
//! the client sends `Accept-Encoding: gzip`.
//!
//! Logging: failed requests (5xx) at ERROR with their cause, slow ones at
//! WARN, refused ones (4xx) at INFO, the rest at DEBUG. Set
//! `log_level = "info,carebase::http=debug"` to log every request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, Version, header};
use axum::response::Response;
use http_body_util::Limited;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tower_http::compression::{Compression, CompressionLayer};

use super::REQUEST_ID;
use super::drain::{self, Drain, Leftover};
use super::problem::{self, Limits};
use crate::error::InternalCause;

/// Requests slower than this are logged at WARN.
const SLOW: Duration = Duration::from_secs(2);
/// Longest client-supplied request id kept; longer ones are replaced.
const MAX_CLIENT_REQUEST_ID: usize = 128;

#[derive(Clone, Debug)]
pub struct KernelLayer {
    pub limits: Limits,
    pub proxies: std::sync::Arc<super::TrustedProxies>,
}

impl<S: Clone> Layer<S> for KernelLayer {
    type Service = Kernel<S>;

    fn layer(&self, inner: S) -> Kernel<S> {
        Kernel {
            gzip: CompressionLayer::new().gzip(true).layer(inner.clone()),
            plain: inner,
            limits: self.limits,
            proxies: self.proxies.clone(),
            peer: None,
        }
    }
}

#[derive(Clone)]
pub struct Kernel<S> {
    plain: S,
    gzip: Compression<S>,
    limits: Limits,
    proxies: std::sync::Arc<super::TrustedProxies>,
    /// The client of the connection this clone serves.
    peer: Option<SocketAddr>,
}

impl<S> Kernel<S> {
    /// This service for one connection from `peer`.
    pub fn for_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }
}

/// What handlers may want to know about the request beyond its headers:
/// its id (for the audit log) and the client address (for the audit log and
/// sign-in throttling). The kernel runs every handler with it in a
/// task-local ([`RequestMeta::current`]) rather than in the request's
/// extensions, which would cost every request, `/health` included, an
/// allocation.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub request_id: HeaderValue,
    pub client: Option<SocketAddr>,
}

tokio::task_local! {
    static CURRENT: RequestMeta;
}

impl RequestMeta {
    /// The request being handled, when called from inside a handler.
    pub fn current() -> Option<RequestMeta> {
        CURRENT.try_with(RequestMeta::clone).ok()
    }
}

/// The rare path's future (gzip), boxed so the common future stays small.
type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Kernel<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = KernelFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.gzip.poll_ready(cx),
            pending => pending,
        }
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = assign_request_id(&req);
        let meta = RequestMeta {
            request_id: request_id.clone(),
            client: self.proxies.client(self.peer, req.headers()),
        };
        let method = req.method().clone();
        // Uri clones share their buffer.
        let uri = req.uri().clone();
        let limit = self
            .limits
            .for_request(&method, uri.path())
            .body_limit_bytes;
        let (handled, leftover) = match limit_body(&mut req, limit) {
            Err(()) => (
                Handled::Refused {
                    http1: req.version() <= Version::HTTP_11,
                },
                None,
            ),
            Ok(leftover) if accepts_gzip(&req) => {
                let compressed = CURRENT.scope(meta, self.gzip.call(req));
                let future = Box::pin(async move { compressed.await.map(|r| r.map(Body::new)) });
                (Handled::Gzip { future }, leftover)
            }
            Ok(leftover) => {
                let future = CURRENT.scope(meta, self.plain.call(req));
                (Handled::Plain { future }, leftover)
            }
        };
        KernelFuture {
            handled,
            finish: Some(Finish {
                method,
                uri,
                request_id,
                limits: self.limits,
                started,
            }),
            leftover,
            draining: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// Polls the handler, catching a panic, then completes the response.
    pub struct KernelFuture<F> {
        #[pin]
        handled: Handled<F>,
        finish: Option<Finish>,
        // What the handler may leave unread of the request body.
        leftover: Option<Leftover>,
        // The answer, held while that is read (see `drain`).
        draining: Option<Box<Drain>>,
    }
}

pin_project_lite::pin_project! {
    #[project = HandledProjection]
    enum Handled<F> {
        Plain { #[pin] future: TaskLocalFuture<RequestMeta, F> },
        Gzip { future: BoxedResponse },
        // The body is declared larger than the limit: it is not read, so
        // an HTTP/1 connection ends with the answer.
        Refused { http1: bool },
    }
}

/// What the kernel keeps from the request to complete the response.
struct Finish {
    method: Method,
    uri: axum::http::Uri,
    request_id: HeaderValue,
    limits: Limits,
    started: Instant,
}

impl<F> Future for KernelFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(draining) = this.draining {
            return draining.poll(cx).map(Ok);
        }
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match this.handled.project() {
            HandledProjection::Plain { future } => future.poll(cx),
            HandledProjection::Gzip { future } => future.as_mut().poll(cx),
            HandledProjection::Refused { http1: true } => {
                Poll::Ready(Ok(drain::closing(problem::payload_too_large())))
            }
            HandledProjection::Refused { http1: false } => {
                Poll::Ready(Ok(problem::payload_too_large()))
            }
        }));
        let response = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(response))) => response,
            Err(_panic) => problem::panicked(),
        };
        let Some(f) = this.finish.take() else {
            // Polled again after completion: a caller bug; answer, don't panic.
            return Poll::Ready(Ok(problem::panicked()));
        };
        let response = finish(
            response,
            &f.method,
            f.uri.path(),
            f.request_id,
            f.limits,
            f.started,
        );
        let Some(leftover) = this.leftover.take() else {
            return Poll::Ready(Ok(response));
        };
        match leftover.settle(response) {
            Ok(response) => Poll::Ready(Ok(response)),
            Err(mut drain) => match drain.poll(cx) {
                Poll::Ready(response) => Poll::Ready(Ok(response)),
                Poll::Pending => {
                    *this.draining = Some(drain);
                    Poll::Pending
                }
            },
        }
    }
}

fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .any(|v| {
            v.as_bytes()
                .windows(4)
                .any(|w| w.eq_ignore_ascii_case(b"gzip"))
        })
}

/// Keeps a sane client-supplied id (so a trace spans services), or makes a
/// UUID v7.
fn assign_request_id(req: &Request) -> HeaderValue {
    if let Some(id) = req.headers().get(REQUEST_ID)
        && !id.is_empty()
        && id.len() <= MAX_CLIENT_REQUEST_ID
        && id
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    {
        return id.clone();
    }
    // Without a shared clock-sequence context: ids made on different worker
    // threads need no lock, and 74 random bits keep them unique.
    let now = uuid::Timestamp::now(uuid::NoContext);
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v7(now)
        .hyphenated()
        .encode_lower(&mut buffer);
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Refuses a declared length over the limit at once, and caps a body of
/// unknown length so reading it fails at the limit; a body is tracked so
/// that what the handler leaves of it can be drained (see `drain`).
/// Bodiless requests (most GETs) are left untouched.
fn limit_body(req: &mut Request, limit: usize) -> Result<Option<Leftover>, ()> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(()),
        Some(0) => Ok(None),
        None if !req.headers().contains_key(header::TRANSFER_ENCODING) => Ok(None),
        _ => {
            let body = std::mem::take(req.body_mut());
            *req.body_mut() = Body::new(Limited::new(body, limit));
            Ok(Leftover::track(req))
        }
    }
}

fn finish(
    response: Response,
    method: &Method,
    path: &str,
    request_id: HeaderValue,
    limits: Limits,
    started: Instant,
) -> Response {
    let status = response.status();
    let mut response = if status.is_client_error() || status.is_server_error() {
        problem::complete(response, method, path, &request_id, limits)
    } else {
        response
    };
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let id = request_id.to_str().unwrap_or_default();
    let status = status.as_u16();
    // The path only: query strings may carry identifiers.
    if status >= 500 {
        let cause = response
            .extensions()
            .get::<InternalCause>()
            .map(|c| c.0.as_str())
            .unwrap_or("none recorded");
        tracing::error!(request_id = id, %method, path, status, latency_us, cause, "request failed");
    } else if latency_us >= SLOW.as_micros() as u64 {
        tracing::warn!(request_id = id, %method, path, status, latency_us, "slow request");
    } else if status >= 400 {
        tracing::info!(request_id = id, %method, path, status, latency_us, "request refused");
    } else {
        tracing::debug!(request_id = id, %method, path, status, latency_us, "request");
    }
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}
