//! Request bodies on their way to the backend, checked as they stream, and response bodies on
//! their way back, counted.
//!
//! An upload is forwarded with a fixed `Content-Length`. What proves it intact (the SHA-256
//! the client signed, the chunk signatures, the trailer's checksum) is known only after its
//! last byte, so the body's last byte is held back until then (for an aws-chunked body by
//! `keyless_s3::chunked`'s decoder). A backend thus always sees bytes arrive before a refused
//! upload is cut short (some backends commit a body cut before its first byte as empty). On a failure the body ends with an
//! error instead, the client connection to the backend is dropped, and the backend, short of
//! its `Content-Length`, stores nothing. The failure is kept for the response to the client.
//!
//! Neither body has a deadline of its own, only one on waiting: an upload whose client sends
//! nothing for the idle time fails with `RequestTimeout`, a download whose backend sends
//! nothing for it ends with an error (the client's response is cut short). How long the
//! backend takes to accept an upload is the forwarder's to bound, from [`Failure::stalled`].

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use keyless_s3::S3Error;
use keyless_s3::chunked::{ChunkEncoder, Decoder, Event};
use keyless_s3::sigv4::PayloadHash;
use tokio::time::{Instant, Sleep};

/// The error an upload ends with; its S3 error is in its [`Failure`].
#[derive(Debug)]
pub(crate) struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upload was refused")
    }
}

impl std::error::Error for Aborted {}

/// Why an upload was refused, how many bytes it had delivered and when it last moved, shared
/// between the body and the request that forwards it.
#[derive(Clone)]
pub(crate) struct Failure {
    inner: Arc<Mutex<Progress>>,
}

struct Progress {
    error: Option<S3Error>,
    bytes_in: u64,
    /// When a byte last came from the client or went to the backend.
    last_moved: Instant,
    /// The upload is waiting for the client (whose silence is the upload's own to bound).
    waiting_for_client: bool,
}

impl Default for Failure {
    fn default() -> Failure {
        Failure {
            inner: Arc::new(Mutex::new(Progress {
                error: None,
                bytes_in: 0,
                last_moved: Instant::now(),
                waiting_for_client: false,
            })),
        }
    }
}

impl Failure {
    fn set(&self, error: S3Error) {
        let mut progress = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        progress.error.get_or_insert(error);
    }

    fn received(&self, bytes: u64) {
        let mut progress = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        progress.bytes_in += bytes;
        progress.last_moved = Instant::now();
    }

    fn moved(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_moved = Instant::now();
    }

    fn waiting_for_client(&self, waiting: bool) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting_for_client = waiting;
    }

    /// When the backend, as things stand, will have kept the request waiting for `timeout`:
    /// `None` once it has, `Some(deadline)` to look again then. Time the upload spends waiting
    /// for its client does not count.
    pub(crate) fn stalled(&self, timeout: Duration) -> Option<Instant> {
        let progress = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if progress.waiting_for_client {
            return Some(now + timeout);
        }
        let deadline = progress.last_moved + timeout;
        (deadline > now).then_some(deadline)
    }

    /// The error the upload was refused with, if it was.
    pub(crate) fn error(&self) -> Option<S3Error> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .error
            .clone()
    }

    /// The bytes the client sent.
    pub(crate) fn bytes_in(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes_in
    }
}

/// How the client's bytes become the backend's.
pub(crate) enum Transform {
    /// As sent; `hash` checks the SHA-256 the client signed.
    Raw { hash: Option<PayloadHash> },
    /// aws-chunked, decoded and verified; re-framed as unsigned chunks with the checksum
    /// trailer when `encoder` is set, plain bytes otherwise.
    Chunked {
        decoder: Box<Decoder>,
        encoder: Option<ChunkEncoder>,
    },
}

/// An upload to the backend: exactly `length` bytes, or an error.
pub(crate) struct Upload {
    inner: Body,
    transform: Transform,
    length: u64,
    sent: u64,
    /// The last byte received, withheld until the body has verified.
    held: Option<Bytes>,
    /// The rest of the last frame received, sent after `held`'s byte of the frame before.
    queued: Option<Bytes>,
    failure: Failure,
    done: bool,
    /// Refused: the next poll ends the body with an error.
    aborting: bool,
    /// How long the client may send nothing.
    idle: Duration,
    /// Set while waiting for the client, to `idle` after the wait began.
    idle_timer: Pin<Box<Sleep>>,
    waiting: bool,
}

impl Upload {
    pub(crate) fn new(
        inner: Body,
        transform: Transform,
        length: u64,
        failure: Failure,
        idle: Duration,
    ) -> Upload {
        Upload {
            inner,
            transform,
            length,
            sent: 0,
            held: None,
            queued: None,
            failure,
            done: false,
            aborting: false,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            waiting: false,
        }
    }

    /// The client has nothing yet: `true` once it has sent nothing for the idle time.
    fn client_idle(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.waiting {
            self.waiting = true;
            self.failure.waiting_for_client(true);
            self.idle_timer.as_mut().reset(Instant::now() + self.idle);
        }
        self.idle_timer.as_mut().poll(cx).is_ready()
    }

    /// Refuses the upload. The error reaches the backend connection on the next poll: the
    /// bytes already handed over are flushed first, so the backend sees a body cut short, not
    /// one cut before its first byte.
    fn fail(
        &mut self,
        error: S3Error,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        self.failure.set(error);
        self.done = true;
        self.aborting = true;
        self.held = None;
        self.queued = None;
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The next bytes for the backend from `data`, or nothing yet.
    fn take(&mut self, data: Bytes) -> Result<Option<Bytes>, S3Error> {
        match &mut self.transform {
            Transform::Raw { hash } => {
                if let Some(hash) = hash {
                    hash.update(&data);
                }
                if data.is_empty() {
                    return Ok(None);
                }
                let last = data.slice(data.len() - 1..);
                let head = data.slice(..data.len() - 1);
                match self.held.replace(last) {
                    Some(previous) => {
                        self.queued = (!head.is_empty()).then_some(head);
                        Ok(Some(previous))
                    }
                    None => Ok((!head.is_empty()).then_some(head)),
                }
            }
            Transform::Chunked { decoder, encoder } => {
                let mut out = Vec::new();
                let mut complete = None;
                for event in decoder.feed(&data)? {
                    match event {
                        Event::Data(bytes) => match encoder {
                            Some(encoder) => encoder.push(bytes, &mut out),
                            None => out.extend_from_slice(bytes),
                        },
                        Event::ChunkVerified => {}
                        Event::Complete { checksum } => complete = Some(checksum),
                    }
                }
                if let Some(checksum) = complete
                    && let Some(encoder) = encoder.take()
                {
                    encoder.finish(checksum.as_ref(), &mut out);
                }
                Ok((!out.is_empty()).then(|| Bytes::from(out)))
            }
        }
    }

    /// At the end of the client's body: the check that the whole body verified, and what
    /// was held back.
    fn end(&mut self) -> Result<Option<Bytes>, S3Error> {
        match &mut self.transform {
            Transform::Raw { hash } => {
                if let Some(hash) = hash.take() {
                    hash.finish()?;
                }
            }
            Transform::Chunked { decoder, .. } => decoder.finish()?,
        }
        Ok(self.held.take())
    }

    fn emit(
        &mut self,
        bytes: Bytes,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        self.sent += bytes.len() as u64;
        self.failure.moved();
        if self.sent > self.length {
            let error = S3Error::invalid_argument(
                "The body is longer than its declared length.",
                "Content-Length",
                &self.length.to_string(),
            );
            return self.fail(error, cx);
        }
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

impl http_body::Body for Upload {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        let this = self.get_mut();
        loop {
            if this.aborting {
                return Poll::Ready(Some(Err(Aborted)));
            }
            if let Some(queued) = this.queued.take() {
                return this.emit(queued, cx);
            }
            if this.done {
                return Poll::Ready(None);
            }
            let polled = Pin::new(&mut this.inner).poll_frame(cx);
            if polled.is_pending() {
                if this.client_idle(cx) {
                    return this.fail(S3Error::RequestTimeout, cx);
                }
                return Poll::Pending;
            }
            if std::mem::take(&mut this.waiting) {
                this.failure.waiting_for_client(false);
            }
            match ready!(polled) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.failure.received(data.len() as u64);
                    match this.take(data) {
                        Ok(Some(bytes)) => return this.emit(bytes, cx),
                        Ok(None) => continue,
                        Err(error) => return this.fail(error, cx),
                    }
                }
                Some(Err(_)) => return this.fail(S3Error::IncompleteBody, cx),
                None => {
                    let last = match this.end() {
                        Ok(last) => last,
                        Err(error) => return this.fail(error, cx),
                    };
                    let total = this.sent + last.as_ref().map_or(0, |b| b.len() as u64);
                    if total != this.length {
                        return this.fail(S3Error::IncompleteBody, cx);
                    }
                    this.done = true;
                    return match last {
                        Some(bytes) => this.emit(bytes, cx),
                        None => Poll::Ready(None),
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && !self.aborting && self.queued.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.length.saturating_sub(self.sent))
    }
}

/// Called once with the bytes a response delivered and whether its backend stalled, when it
/// ends or is dropped.
pub(crate) type OnEnd = Box<dyn FnOnce(u64, bool) + Send>;

/// The error a download ends with when its backend sent nothing for the idle time.
#[derive(Debug)]
pub(crate) struct Stalled;

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the S3 backend stopped sending the response body")
    }
}

impl std::error::Error for Stalled {}

/// A response body from the backend, counted and bounded in idle time; `on_end` runs when it
/// ends or is dropped.
pub(crate) struct Download<B> {
    inner: B,
    bytes: u64,
    on_end: Option<OnEnd>,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    waiting: bool,
    stalled: bool,
}

impl<B> Download<B> {
    pub(crate) fn new(inner: B, idle: Duration, on_end: OnEnd) -> Download<B> {
        Download {
            inner,
            bytes: 0,
            on_end: Some(on_end),
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            waiting: false,
            stalled: false,
        }
    }
}

impl<B> Drop for Download<B> {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.bytes, self.stalled);
        }
    }
}

impl<B> http_body::Body for Download<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.stalled {
            return Poll::Ready(None);
        }
        let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) else {
            // Only the backend's silence counts: a client that stops reading stops the polls,
            // and is the listener's to bound.
            if !this.waiting {
                this.waiting = true;
                this.idle_timer.as_mut().reset(Instant::now() + this.idle);
            }
            if this.idle_timer.as_mut().poll(cx).is_ready() {
                this.stalled = true;
                return Poll::Ready(Some(Err(Box::new(Stalled))));
            }
            return Poll::Pending;
        };
        this.waiting = false;
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.bytes += data.len() as u64;
        }
        Poll::Ready(frame.map(|result| result.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        !self.stalled && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
