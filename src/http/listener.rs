//! The accept loop: a fixed number of connections, each served by hyper with deadlines, so that
//! clients that connect and say nothing (or little) cannot pile up descriptors and memory.
//!
//! - A connection beyond the cap takes the place of the oldest one that has not sent a request
//!   yet (a legitimate client sends its first request at once; a flood's connections sit
//!   waiting), so a new client is served even while the cap is full of connections that say
//!   nothing. When every connection has been used, the new one is closed at once (reset), not
//!   queued: an already-connected client keeps its connection and is served whatever the flood.
//! - A new connection must send a complete request head within `header_timeout`.
//! - A kept-alive connection with no request in progress is closed after `idle_timeout` (hyper's
//!   header-read timer, which runs from the end of the previous response), and so is one that
//!   then starts a request head and does not finish it in that time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::Router;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Pause after a failed accept (out of descriptors, say): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long connections may take to finish once the server stops.
const DRAIN: Duration = Duration::from_secs(5);
/// How long a new connection waits for the place of one it displaced.
const DISPLACE_WAIT: Duration = Duration::from_secs(1);

/// What the accept loop knows of a connection it may displace.
struct Opened {
    /// The first request head has arrived.
    started: AtomicBool,
    /// Cancelled to close the connection for a newer one.
    displace: CancellationToken,
}

/// Connections in the order they were accepted, as long as they may not have sent a request.
#[derive(Default)]
struct Silent {
    order: Mutex<VecDeque<Weak<Opened>>>,
}

impl Silent {
    fn push(&self, c: &Arc<Opened>, cap: usize) {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if order.len() >= 2 * cap {
            order.retain(|w| {
                w.upgrade()
                    .is_some_and(|c| !c.started.load(Ordering::Relaxed))
            });
        }
        order.push_back(Arc::downgrade(c));
    }

    /// Closes the oldest connection that has not sent a request. Whether there was one.
    fn displace_oldest(&self) -> bool {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(w) = order.pop_front() {
            if let Some(c) = w.upgrade()
                && !c.started.load(Ordering::Relaxed)
            {
                c.displace.cancel();
                return true;
            }
        }
        false
    }
}

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` is cancelled.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refused = AtomicU64::new(0);
    let silent = Silent::default();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accepting an HTTP connection failed: {e}");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) if silent.displace_oldest() => {
                tokio::time::timeout(DISPLACE_WAIT, Arc::clone(&slots).acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(slot) = slot else {
            // Linger 0: the close is a reset, so the socket is freed now, not after TIME_WAIT.
            let _ = stream.set_zero_linger();
            drop(stream);
            let n = refused.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() || n == 0 {
                tracing::warn!(
                    "HTTP connection refused: {} are open, the most allowed (--http-max-connections); {} refused so far",
                    limits.max_connections,
                    n + 1
                );
            }
            continue;
        };
        let opened = Arc::new(Opened {
            started: AtomicBool::new(false),
            displace: CancellationToken::new(),
        });
        silent.push(&opened, limits.max_connections);
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            connection(stream, app, limits, stop, opened).await;
            drop(slot);
        });
    }
    // Every connection gives its slot back when it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN, slots.acquire_many(all)).await;
}

async fn connection(
    stream: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
    opened: Arc<Opened>,
) {
    let _ = stream.set_nodelay(true);
    let seen = Arc::clone(&opened);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        seen.started.store(true, Ordering::Relaxed);
        let app = app.clone();
        async move {
            let mut response = app.oneshot(req.map(axum::body::Body::new)).await?;
            // A refused request (no token, a bad Host or Origin) ends its connection: kept
            // alive, it would hold a place that a client with the token needs, and it has sent
            // a request, so it is never displaced.
            if matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let first_head = tokio::time::sleep(limits.header_timeout);
    tokio::pin!(first_head);
    let (mut waiting_first, mut stopping) = (true, false);
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("HTTP connection ended: {e}");
                }
                return;
            }
            _ = &mut first_head, if waiting_first => {
                if !opened.started.load(Ordering::Relaxed) {
                    tracing::debug!("HTTP connection closed: no request head within {:?}", limits.header_timeout);
                    return;
                }
                waiting_first = false;
            }
            _ = opened.displace.cancelled() => {
                tracing::debug!("HTTP connection closed before its first request: a newer one needs its place");
                return;
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
                // The SSE streams end with rmcp's cancellation; a client that does not let go is
                // dropped by the drain deadline in `run`, when the process exits.
            }
        }
    }
}
