//! Accepting connections and serving HTTP/1.1 on them, within bounds.
//!
//! - **A cap on open connections.** At the cap, a new connection takes the place of the one
//!   that has waited longest without a request being served: an idle keep-alive, a silent or
//!   slow-header connection, or one still sending its request body. When every connection is
//!   serving a request, the new one is closed at once. A request whose body has arrived is never
//!   cut off to make room.
//! - **A header-read timeout**: a new connection, or one that has started sending a request,
//!   must deliver the whole request head within it.
//! - **An idle timeout**: a keep-alive connection may wait that long for its next request, and
//!   no connection may go that long without reading or writing a byte while it is the client's
//!   turn: sending its request, or taking its response. While a request whose body has
//!   arrived is being answered (the handler working, or its response body waiting for the next
//!   bytes from wherever they come), the handler bounds its own waits.
//! - Request bodies have their own timeout and minimum rate (`body.rs`).
//!
//! Connections are plain TCP or TLS (`tls.rs`). The routes learn the peer address
//! (`ConnectInfo`) and whether the connection is TLS ([`Transport`]) from request extensions.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// The bounds of the listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections open at once.
    pub(crate) max_connections: usize,
    /// Time to deliver a request head (and to complete a TLS handshake).
    pub(crate) header_read_timeout: Duration,
    /// Time a connection may wait for its next request, or make no progress.
    pub(crate) idle_timeout: Duration,
}

/// How a request's connection arrived, for the routes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transport {
    /// Whether the connection is TLS (`aws:SecureTransport`).
    pub(crate) secure: bool,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish and closes every connection.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut last_accept_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (or a connection reset before it was accepted): keep the
                // loop alive, say so at most once a second, and let descriptors free up.
                if last_accept_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!("accept error: {e}");
                    last_accept_warning = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(admitted) = registry.admit().await else {
            metrics::counter!("keyless_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let connection = Connection {
            router: router.clone(),
            limits,
            tls: tls.clone(),
            peer,
            registry: registry.clone(),
            admitted,
            stopping: stopping.clone(),
        };
        tokio::spawn(connection.serve(stream));
    }
    let _ = stop.send(true);
    registry.wait_empty(limits.idle_timeout).await;
}

/// The connections open, for the cap and for eviction.
struct Registry {
    slots: Mutex<HashMap<u64, Slot>>,
    next_id: AtomicU64,
    max: usize,
    left: Notify,
    emptied: Notify,
}

/// One open connection, as the registry sees it.
struct Slot {
    clock: Arc<Clock>,
    close: Arc<Notify>,
    /// Told to close to make room; it still holds its descriptor.
    closing: bool,
}

/// How long a new connection waits for the one told to make room to close.
const EVICTION_PATIENCE: Duration = Duration::from_millis(100);

/// A connection's place in the registry.
struct Admitted {
    id: u64,
    clock: Arc<Clock>,
    close: Arc<Notify>,
}

impl Registry {
    fn new(max: usize) -> Registry {
        Registry {
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            max: max.max(1),
            left: Notify::new(),
            emptied: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection: a free one, or the place of the connection that has
    /// waited longest without a request being served, which is told to close and which this
    /// waits for (so that no more than `max` connections ever hold a descriptor). `None` when
    /// every connection is serving a request, or no place frees up in time.
    async fn admit(&self) -> Option<Admitted> {
        loop {
            let left = self.left.notified();
            {
                let mut slots = self.lock();
                if slots.len() < self.max {
                    return Some(self.insert(&mut slots));
                }
                if !slots.values().any(|s| s.closing) {
                    let (_, victim) = slots
                        .iter()
                        .filter_map(|(id, s)| s.clock.waiting_since().map(|since| (since, *id)))
                        .min()?;
                    if let Some(slot) = slots.get_mut(&victim) {
                        slot.closing = true;
                        slot.close.notify_one();
                        metrics::counter!("keyless_connections_evicted_total").increment(1);
                    }
                }
            }
            tokio::time::timeout(EVICTION_PATIENCE, left).await.ok()?;
        }
    }

    fn insert(&self, slots: &mut HashMap<u64, Slot>) -> Admitted {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let clock = Arc::new(Clock::new());
        let close = Arc::new(Notify::new());
        slots.insert(
            id,
            Slot {
                clock: clock.clone(),
                close: close.clone(),
                closing: false,
            },
        );
        metrics::gauge!("keyless_connections_open").set(slots.len() as f64);
        Admitted { id, clock, close }
    }

    fn leave(&self, id: u64) {
        let mut slots = self.lock();
        slots.remove(&id);
        metrics::gauge!("keyless_connections_open").set(slots.len() as f64);
        self.left.notify_waiters();
        if slots.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    /// Waits until every connection has closed, at most `patience` after the last one made
    /// progress.
    async fn wait_empty(&self, patience: Duration) {
        loop {
            let emptied = self.emptied.notified();
            if self.lock().is_empty() {
                return;
            }
            if tokio::time::timeout(patience, emptied).await.is_err() {
                return;
            }
        }
    }
}

/// One accepted connection.
struct Connection {
    router: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    peer: SocketAddr,
    registry: Arc<Registry>,
    admitted: Admitted,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        // Responses go out at once: without TCP_NODELAY, Nagle's algorithm and the client's
        // delayed ACK add up to 40 ms to a response written in two segments.
        let _ = stream.set_nodelay(true);
        let id = self.admitted.id;
        let registry = self.registry.clone();
        match self.tls.clone() {
            None => self.http(stream).await,
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) => self.http(tls).await,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %self.peer, "TLS handshake failed: {e}");
                        metrics::counter!("keyless_tls_handshake_failures_total").increment(1);
                    }
                    Err(_) => {
                        metrics::counter!("keyless_connections_timed_out_total").increment(1);
                    }
                }
            }
        }
        registry.leave(id);
    }

    async fn http<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            router,
            limits,
            tls,
            peer,
            admitted,
            mut stopping,
            ..
        } = self;
        let clock = admitted.clock;
        let transport = Transport {
            secure: tls.is_some(),
        };
        let io = TokioIo::new(Watched::new(stream, clock.clone(), limits));
        let service_clock = clock.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let router = router.clone();
            let reading = !request.body().is_end_stream();
            let guard = InFlight::start(service_clock.clone(), reading);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(transport);
            let request = request.map(|body| {
                axum::body::Body::new(WatchedBody {
                    body,
                    clock: service_clock.clone(),
                    reading,
                })
            });
            async move {
                // The request is in flight until its response body has been sent.
                let response = router.oneshot(request).await;
                response.map(|response| {
                    response.map(|body| {
                        axum::body::Body::new(ServedBody {
                            body,
                            in_flight: std::cell::Cell::new(Some(guard)),
                        })
                    })
                })
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            // The header-read and idle timeouts are the connection clock's (`Watched`).
            .header_read_timeout(None)
            .keep_alive(true)
            .serve_connection(io, service);
        tokio::pin!(connection);
        let stopped = async {
            if !*stopping.borrow_and_update() {
                let _ = stopping.changed().await;
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(peer = %peer, "connection ended: {e}");
                }
            }
            () = admitted.close.notified() => {
                tracing::debug!(peer = %peer, "connection closed to make room for a new one");
            }
            () = stopped => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
        if clock.timed_out.load(Ordering::Relaxed) {
            metrics::counter!("keyless_connections_timed_out_total").increment(1);
        }
    }
}

/// A connection's progress, shared by its IO and its requests.
struct Clock {
    state: Mutex<ClockState>,
    timed_out: AtomicBool,
}

struct ClockState {
    /// Requests whose handler is running.
    in_flight: usize,
    /// Of those, the ones whose body has not arrived whole yet.
    receiving: usize,
    /// When the last request was handed to its handler.
    request_started: Instant,
    /// The last time a byte was read or written.
    last_activity: Instant,
    /// When the request head being received started: the connection's start, or the first
    /// byte after the previous request. `None` while idle or while a request is in flight.
    head_started: Option<Instant>,
}

impl Clock {
    fn new() -> Clock {
        let now = Instant::now();
        Clock {
            state: Mutex::new(ClockState {
                in_flight: 0,
                receiving: 0,
                request_started: now,
                last_activity: now,
                head_started: Some(now),
            }),
            timed_out: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.last_activity = now;
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(now);
        }
    }

    fn wrote(&self) {
        self.lock().last_activity = Instant::now();
    }

    /// When the connection times out, as things stand, for a read (`reading`) or a write that
    /// cannot go on. `None` for a read while every request in flight has its body: the read
    /// only watches for the client leaving, and the handler bounds its own work.
    fn deadline(&self, limits: &Limits, reading: bool) -> Option<Instant> {
        let state = self.lock();
        match state.head_started {
            Some(started) if state.in_flight == 0 => Some(started + limits.header_read_timeout),
            _ if reading && state.in_flight > 0 && state.receiving == 0 => None,
            _ => Some(state.last_activity + limits.idle_timeout),
        }
    }

    /// Since when the connection has been waiting without a request being served (none in
    /// flight, or the ones in flight still receiving their bodies); `None` while it serves one.
    fn waiting_since(&self) -> Option<Instant> {
        let state = self.lock();
        if state.in_flight == 0 {
            Some(state.head_started.unwrap_or(state.last_activity))
        } else if state.receiving == state.in_flight {
            Some(state.request_started)
        } else {
            None
        }
    }

    /// A request's body has arrived whole.
    fn body_received(&self) {
        let mut state = self.lock();
        state.receiving = state.receiving.saturating_sub(1);
    }
}

/// A request in flight on a connection, from its head to its response.
struct InFlight(Arc<Clock>);

impl InFlight {
    /// A request handed to its handler; `receiving` when its body is still to come.
    fn start(clock: Arc<Clock>, receiving: bool) -> InFlight {
        {
            let mut state = clock.lock();
            state.in_flight += 1;
            state.receiving += usize::from(receiving);
            state.request_started = Instant::now();
            state.head_started = None;
        }
        InFlight(clock)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.receiving = state.receiving.min(state.in_flight);
        state.last_activity = Instant::now();
    }
}

/// A response body that keeps its request in flight until it ends or is dropped. hyper may
/// keep a finished body until the connection's next message, so the request leaves the
/// flight as soon as the body says it has ended.
struct ServedBody {
    body: axum::body::Body,
    in_flight: std::cell::Cell<Option<InFlight>>,
}

impl hyper::body::Body for ServedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_))))
            || this.body.is_end_stream()
        {
            this.in_flight.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.body.is_end_stream();
        if ended {
            self.in_flight.take();
        }
        ended
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A request body that tells its connection's clock when it has arrived whole.
struct WatchedBody {
    body: Incoming,
    clock: Arc<Clock>,
    reading: bool,
}

impl WatchedBody {
    fn received(&mut self) {
        if std::mem::take(&mut self.reading) {
            self.clock.body_received();
        }
    }
}

impl hyper::body::Body for WatchedBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        if frame.is_none() || this.body.is_end_stream() {
            this.received();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's IO with its clock: every byte read or written counts as progress, and a
/// read or write that waits past the clock's deadline fails with `TimedOut`, which closes the
/// connection.
struct Watched<S> {
    io: S,
    clock: Arc<Clock>,
    limits: Limits,
    sleep: Pin<Box<Sleep>>,
}

impl<S> Watched<S> {
    fn new(io: S, clock: Arc<Clock>, limits: Limits) -> Watched<S> {
        let deadline = clock
            .deadline(&limits, true)
            .unwrap_or_else(|| Instant::now() + limits.idle_timeout);
        Watched {
            io,
            clock,
            limits,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Called when the IO is not ready (`reading`, or writing): fails once the deadline has
    /// passed, else arranges to be woken at it.
    fn check_deadline(&mut self, cx: &mut Context<'_>, reading: bool) -> Poll<io::Error> {
        loop {
            let Some(deadline) = self.clock.deadline(&self.limits, reading) else {
                // A request whose body has arrived is being answered, and its handler bounds
                // its own waits. Look again after an idle period: by then the answer may have
                // ended, and the connection's own deadline applies again (nothing else would
                // wake this read to arm it).
                if self.sleep.deadline() <= Instant::now() {
                    self.sleep
                        .as_mut()
                        .reset(Instant::now() + self.limits.idle_timeout);
                }
                ready!(self.sleep.as_mut().poll(cx));
                continue;
            };
            if self.sleep.deadline() != deadline {
                self.sleep.as_mut().reset(deadline);
            }
            ready!(self.sleep.as_mut().poll(cx));
            // The sleep fired: the deadline may have moved (or gone) since it was armed.
            match self.clock.deadline(&self.limits, reading) {
                Some(deadline) if Instant::now() >= deadline => {
                    self.clock.timed_out.store(true, Ordering::Relaxed);
                    return Poll::Ready(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection timed out",
                    ));
                }
                _ => continue,
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.check_deadline(cx, true).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.clock.wrote();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.check_deadline(cx, false).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.clock.wrote();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.check_deadline(cx, false).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.check_deadline(cx, false).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_connection_state() {
        let clock = Clock::new();
        let start = Instant::now();
        assert_eq!(
            clock.deadline(&LIMITS, true),
            Some(start + LIMITS.header_read_timeout)
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        clock.read();
        assert_eq!(
            clock.deadline(&LIMITS, true),
            Some(start + LIMITS.header_read_timeout),
            "a slow head keeps its deadline"
        );

        let clock = Arc::new(Clock::new());
        let request = InFlight::start(clock.clone(), true);
        assert!(
            clock.waiting_since().is_some(),
            "a request still receiving its body may make room"
        );
        assert_eq!(
            clock.deadline(&LIMITS, true),
            Some(Instant::now() + LIMITS.idle_timeout),
            "a body that stops coming times out"
        );
        clock.body_received();
        assert_eq!(
            clock.deadline(&LIMITS, true),
            None,
            "while its request is answered, the connection only watches for the client leaving"
        );
        assert_eq!(
            clock.waiting_since(),
            None,
            "a request being served is never evicted"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        clock.wrote();
        assert_eq!(
            clock.deadline(&LIMITS, false),
            Some(Instant::now() + LIMITS.idle_timeout),
            "a client that stops taking its response times out"
        );
        drop(request);
        let idle_since = Instant::now();
        assert_eq!(clock.waiting_since(), Some(idle_since));
        assert_eq!(
            clock.deadline(&LIMITS, true),
            Some(idle_since + LIMITS.idle_timeout)
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        clock.read();
        assert_eq!(
            clock.deadline(&LIMITS, true),
            Some(Instant::now() + LIMITS.header_read_timeout),
            "the next request's head starts its own clock"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_waiting_connection_makes_room() {
        let registry = Arc::new(Registry::new(2));
        let first = registry.admit().await.expect("room");
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = registry.admit().await.expect("room");
        let busy = InFlight::start(second.clock.clone(), false);
        // The first connection is told to close; the new one waits for it to leave.
        let admitting = tokio::spawn({
            let registry = registry.clone();
            async move { registry.admit().await }
        });
        first.close.notified().await;
        registry.leave(first.id);
        let third = admitting
            .await
            .unwrap()
            .expect("the first connection made room");
        assert!(!registry.lock().contains_key(&first.id));
        let _busy_too = InFlight::start(third.clock.clone(), false);
        assert!(
            registry.admit().await.is_none(),
            "every connection serves a request: the new one is refused"
        );
        drop(busy);
        // The second is waiting again: it is told to close, but does not leave in time.
        assert!(registry.admit().await.is_none());
        assert!(registry.lock()[&second.id].closing);
    }
}
