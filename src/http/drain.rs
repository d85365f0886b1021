//! Keeping an HTTP/1.1 connection usable after a request refused before its
//! body was read.
//!
//! hyper reads the next request of a connection only once the current
//! request's body is off the wire. When a handler answers without reading
//! the body (a 401 before the JSON is parsed, a 404, a 415), hyper writes
//! the answer as a keep-alive one, then notices the body was dropped, makes
//! one cheap attempt to read the rest, and when the rest has not all
//! arrived yet closes the connection: after an answer that did not say
//! `Connection: close`. A client that reuses the connection, as HTTP/1.1
//! allows, loses its next request.
//!
//! So the kernel wraps each HTTP/1 request body: what a handler leaves
//! unread is handed back to the kernel when the handler drops it, and the
//! kernel reads it to its end, discarding it, before the answer goes out.
//! The body limit bounds what is read and [`DRAIN_WITHIN`] how long it may
//! take. When the rest cannot be read (past the limit, too slow, or a
//! client waiting for `100 Continue` before it sends the body) the answer
//! says `Connection: close`, so the client knows before it reuses the
//! connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::response::Response;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Sleep;

/// How long the kernel waits for the rest of a body its handler did not
/// read before it answers and closes the connection instead.
const DRAIN_WITHIN: Duration = Duration::from_secs(5);

/// What a request's handler left of its body, shared between the body
/// (which fills it when dropped) and the kernel (which drains it).
#[derive(Clone)]
pub(super) struct Leftover(Arc<Mutex<Unread>>);

#[derive(Default)]
struct Unread {
    body: Option<Body>,
    /// Reading the body failed (over the limit, or the client went away):
    /// the rest of it cannot be told apart from the next request.
    broken: bool,
    /// The client sends the body only once told `100 Continue`.
    expects_continue: bool,
}

impl Leftover {
    /// Wraps `req`'s body so that what its handler leaves unread comes back
    /// here. Only HTTP/1 needs it: an HTTP/2 stream ends on its own.
    pub(super) fn track(req: &mut Request) -> Option<Self> {
        if req.version() > Version::HTTP_11 {
            return None;
        }
        let expects_continue = req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let leftover = Leftover(Arc::new(Mutex::new(Unread {
            expects_continue,
            ..Unread::default()
        })));
        let body = std::mem::take(req.body_mut());
        *req.body_mut() = Body::new(Tracked {
            inner: body,
            finished: false,
            leftover: leftover.clone(),
        });
        Some(leftover)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Unread) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The answer as it may go out now, or the drain that must come first.
    pub(super) fn settle(self, response: Response) -> Result<Response, Box<Drain>> {
        let (body, broken, expects_continue) =
            self.with(|u| (u.body.take(), u.broken, u.expects_continue));
        match body {
            None if broken => Ok(closing(response)),
            None => Ok(response),
            // Asking for the body only to discard it would cost the client
            // the upload it held back; it reconnects instead.
            Some(_) if expects_continue => Ok(closing(response)),
            Some(body) => Err(Box::new(Drain {
                response: Some(response),
                body,
                deadline: Box::pin(tokio::time::sleep(DRAIN_WITHIN)),
            })),
        }
    }
}

/// `response`, telling the client the connection ends with it.
pub(super) fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that hands what is left of it to its [`Leftover`] when
/// dropped unfinished.
struct Tracked {
    inner: Body,
    finished: bool,
    leftover: Leftover,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    // The inner error unwrapped, so that extractors looking for the
    // limit's error one level down (axum's multipart) still find it.
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None => {
                this.finished = true;
                Poll::Ready(None)
            }
            Some(Err(error)) => {
                this.finished = true;
                this.leftover.with(|u| u.broken = true);
                Poll::Ready(Some(Err(error.into_inner())))
            }
            Some(Ok(frame)) => Poll::Ready(Some(Ok(frame))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.finished && !self.inner.is_end_stream() {
            let rest = std::mem::take(&mut self.inner);
            self.leftover.with(|u| u.body = Some(rest));
        }
    }
}

/// Reading a body nobody wanted to its end, holding its request's answer.
pub(super) struct Drain {
    response: Option<Response>,
    body: Body,
    deadline: Pin<Box<Sleep>>,
}

impl Drain {
    /// The answer, once the body is read (or cannot be).
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        loop {
            if self.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(self.answer(false));
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(None) => return Poll::Ready(self.answer(true)),
                Poll::Ready(Some(Err(_))) => return Poll::Ready(self.answer(false)),
            }
        }
    }

    fn answer(&mut self, drained: bool) -> Response {
        let response = self
            .response
            .take()
            .unwrap_or_else(super::problem::panicked);
        if drained { response } else { closing(response) }
    }
}
