//! Serving connections (CONTRACT section 18): HTTP/1 on hyper, with a header-read timeout, an idle
//! keep-alive timeout, a cap on open connections enforced at accept, and a shutdown deadline after
//! which the connections still open are dropped so the server can flush and exit.
//!
//! hyper's own `header_read_timeout` starts as soon as the connection waits for a request head,
//! which would close an idle keep-alive connection after the header timeout too. The two timeouts
//! differ (10 s and 60 s), so [`TimedStream`] keeps them: from the first byte of a request head
//! until the request reaches the router, the header timeout; from the end of a response (or accept)
//! until the next byte, the idle timeout; while a request is being answered, none (handlers bound
//! their own time).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

/// Connection limits. The defaults are the contract's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte until its head is complete (default 10 s).
    pub header_read_timeout: Duration,
    /// Between requests on a kept-alive connection, and before the first (default 60 s).
    pub idle_timeout: Duration,
    /// Connections open at once; more are closed as soon as they are accepted (default 10,000).
    pub max_connections: usize,
    /// After the shutdown signal, how long open connections may take to finish before they are
    /// dropped (default 5 s, leaving the rest of the contract's 10 s to stop and flush).
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Connections refused at accept because the cap was reached (for tests and metrics).
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// How many connections this process has refused at accept because the cap was reached.
pub fn refused_connections() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish for
/// at most `limits.shutdown_grace` and drops the rest.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    // Each open connection holds one permit; none left means the cap is reached.
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Every connection's task, so the ones still open at the deadline can be aborted.
    let mut tasks = JoinSet::new();
    let mut builder = http1::Builder::new();
    // TimedStream keeps both timeouts; hyper's header timer would also close idle connections.
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a little rather than spin.
                        tracing::warn!(%error, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    REFUSED.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("connection refused: --max-connections reached");
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let activity = Arc::new(Activity::new());
                let io = TokioIo::new(TimedStream::new(stream, activity.clone(), limits));
                let router = app.clone();
                let service = hyper::service::service_fn(move |request| {
                    let guard = activity.begin();
                    let mut router = router.clone();
                    async move {
                        let response = tower_service::Service::call(&mut router, request).await;
                        // The request counts as open until its response body is gone.
                        Ok::<_, Infallible>(response.unwrap_or_else(|e| match e {}).map(|body| {
                            Body::new(body.map_frame(move |frame| {
                                let _ = &guard;
                                frame
                            }))
                        }))
                    }
                });
                let connection = graceful.watch(builder.serve_connection(io, service));
                tasks.spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    let open = tasks.len();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(open, "shutdown deadline reached; dropping open connections");
        }
    }
    tasks.shutdown().await;
}

/// What one connection is doing, shared by its stream and its service.
struct Activity {
    state: Mutex<ActivityState>,
}

struct ActivityState {
    /// Requests handed to the router whose response body is not yet dropped.
    open: usize,
    /// When the current request head's first byte arrived (no request open).
    head_started: Option<Instant>,
    /// The end of the last response, or the last byte written, or accept.
    idle_since: Instant,
    /// The reader that waits with no deadline while a request is open; woken when the last
    /// request closes so that it arms the idle timer.
    reader: Option<std::task::Waker>,
}

/// Marks a request open until dropped.
struct OpenRequest(Arc<Activity>);

impl Drop for OpenRequest {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.open -= 1;
        state.idle_since = Instant::now();
        let reader = if state.open == 0 {
            state.reader.take()
        } else {
            None
        };
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(ActivityState {
                open: 0,
                head_started: None,
                idle_since: Instant::now(),
                reader: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // Every update is a few plain assignments: a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(self: &Arc<Self>) -> OpenRequest {
        let mut state = self.lock();
        state.open += 1;
        state.head_started = None;
        OpenRequest(self.clone())
    }

    fn on_read(&self) {
        let mut state = self.lock();
        if state.open == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
        }
    }

    fn on_write(&self) {
        self.lock().idle_since = Instant::now();
    }

    /// When the connection is to be closed unless something happens first; with none, `reader`
    /// is woken when there is one.
    fn deadline(&self, limits: &ConnectionLimits, reader: &std::task::Waker) -> Option<Instant> {
        let mut state = self.lock();
        if state.open > 0 {
            state.reader = Some(reader.clone());
            return None;
        }
        Some(match state.head_started {
            Some(started) => started + limits.header_read_timeout,
            None => state.idle_since + limits.idle_timeout,
        })
    }
}

/// A TCP stream whose reads fail with `TimedOut` once its connection's deadline passes.
struct TimedStream {
    io: TcpStream,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    timer: Pin<Box<Sleep>>,
}

impl TimedStream {
    fn new(io: TcpStream, activity: Arc<Activity>, limits: ConnectionLimits) -> TimedStream {
        let timer = Box::pin(tokio::time::sleep(limits.idle_timeout));
        TimedStream {
            io,
            activity,
            limits,
            timer,
        }
    }
}

impl AsyncRead for TimedStream {
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
                    this.activity.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.activity.deadline(&this.limits, cx.waker()) else {
                    return Poll::Pending;
                };
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection timed out (header read or idle)",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.on_write();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.on_write();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
