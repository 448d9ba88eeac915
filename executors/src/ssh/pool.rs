//! The connections to one host: as many as its jobs need, up to `max_connections`.
//!
//! An sshd allows a limited number of channels per connection (OpenSSH's `MaxSessions`, 10 by
//! default). Each connection runs its own watchdog on one channel and keeps one more free for
//! the short commands that kill jobs (so that a kill never finds its connection full); the rest
//! carry jobs. A job goes to the first live connection with a free channel; when there is none
//! another connection is opened, up to the limit; beyond it the spawn answers "no capacity" and
//! the job waits in the queue until a job ends ([`Freed`]).
//!
//! A server whose real limit is lower than configured refuses a channel ("Channel open
//! failure"): that connection then counts as full until one of its jobs ends.
//!
//! A connection that has carried no job for a minute closes, unless it is the host's last.
//!
//! Connection failures back off (1 s, doubling up to 30 s): while a host is known to be down,
//! `execute` fails at once with the last error instead of waiting for another timeout.
//! The last failure to connect, and the last connection that dropped, are kept (with their
//! wall-clock time) until a connection opens: `hosts` shows them ([`Pool::connections`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

use super::SshHost;
use super::conn::{self, Queue};
use super::connect;
use crate::{Connections, SpawnError};

/// Channels of each connection not available to jobs: the watchdog's, and one for kills.
const RESERVED_CHANNELS: usize = 2;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a connection thread shares with the pool.
pub(crate) struct LinkState {
    /// The thread is running and its connection is usable.
    pub alive: AtomicBool,
    /// Job channels open or being opened on the connection.
    pub jobs: AtomicUsize,
    /// The server refused a channel: full until one of its jobs ends.
    pub refused: AtomicBool,
    /// Told whenever a channel frees up or the connection ends.
    pub freed: Arc<Freed>,
    /// Live connections to the host (this one counted until it closes).
    pub open: Arc<AtomicUsize>,
    /// The host's last dropped connection (shared by its connections).
    pub dropped: Arc<Dropped>,
    /// This connection was taken off `open` already.
    uncounted: AtomicBool,
}

/// Why and when a connection of the host last dropped (the host went down, the network
/// went): not a failed attempt, but as much a sign that the host is not there now.
#[derive(Default)]
pub(crate) struct Dropped(Mutex<Option<(String, SystemTime)>>);

impl Dropped {
    pub fn note(&self, why: &str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((why.to_string(), SystemTime::now()));
    }

    fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn last(&self) -> Option<(String, SystemTime)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl LinkState {
    /// A job's channel is gone (ended, lost, or never opened).
    pub fn release(&self) {
        self.jobs.fetch_sub(1, Ordering::SeqCst);
        self.refused.store(false, Ordering::SeqCst);
        self.freed.bump();
    }

    /// Marks an idle connection closed if it is not the host's last. Returns whether it was.
    pub fn close_if_spare(&self) -> bool {
        let spare = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n > 1).then_some(n - 1)
            })
            .is_ok();
        if spare {
            self.uncounted.store(true, Ordering::SeqCst);
            self.alive.store(false, Ordering::SeqCst);
        }
        spare
    }

    /// The connection thread has ended.
    pub fn closed(&self) {
        self.alive.store(false, Ordering::SeqCst);
        if !self.uncounted.swap(true, Ordering::SeqCst) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
        self.freed.bump();
    }
}

/// A generation counter of freed capacity, with a way to wait for it to change.
#[derive(Default)]
pub(crate) struct Freed {
    generation: AtomicU64,
    notify: Notify,
}

impl Freed {
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Resolves once the generation differs from `seen`.
    pub async fn changed_since(&self, seen: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.generation() != seen {
                return;
            }
            notified.await;
        }
    }
}

/// One connection: its thread's queue and shared state.
pub(crate) struct Link {
    pub tx: Queue,
    pub state: Arc<LinkState>,
}

#[derive(Default)]
struct Links {
    live: Vec<Arc<Link>>,
    /// Connections being opened (counted against the limit).
    connecting: usize,
    /// The last connection failure, cleared by the next success.
    down: Option<Down>,
}

/// A failed attempt to connect.
struct Down {
    /// Not tried again before this.
    until: Instant,
    error: String,
    /// The back-off after the next failure.
    next_backoff: Duration,
    /// When it failed, as wall-clock time (for `hosts`; `until` is monotonic).
    at: SystemTime,
}

/// What a caller of [`Pool::place`] needs of a connection.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Need {
    /// A channel reserved for a job.
    Job,
    /// Any live connection, no channel reserved: for the server's own short commands (a
    /// probe), which use the channel kept free for kills (the connection thread runs one such
    /// command at a time).
    Short,
}

pub(crate) struct Pool {
    host: SshHost,
    links: Mutex<Links>,
    /// Told when a connection attempt ends.
    opened: Condvar,
    pub freed: Arc<Freed>,
    /// Live connections (see [`LinkState::close_if_spare`]).
    open: Arc<AtomicUsize>,
    /// The last connection that dropped, cleared by the next that opens.
    dropped: Arc<Dropped>,
}

impl Pool {
    pub fn new(host: SshHost) -> Self {
        Self {
            host,
            links: Mutex::new(Links::default()),
            opened: Condvar::new(),
            freed: Arc::new(Freed::default()),
            open: Arc::new(AtomicUsize::new(0)),
            dropped: Arc::new(Dropped::default()),
        }
    }

    pub fn host(&self) -> &SshHost {
        &self.host
    }

    fn per_connection(&self) -> usize {
        self.host
            .max_sessions
            .saturating_sub(RESERVED_CHANNELS)
            .max(1)
    }

    fn links(&self) -> std::sync::MutexGuard<'_, Links> {
        // Every critical section leaves the lists consistent.
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connections as they are now.
    pub fn connections(&self) -> Connections {
        let links = self.links();
        let open = links
            .live
            .iter()
            .filter(|l| l.state.alive.load(Ordering::SeqCst))
            .count();
        if open > 0 {
            return Connections::Connected { open };
        }
        // Whichever came last: a failed attempt, or a connection that dropped.
        let failed = links.down.as_ref().map(|d| (d.error.clone(), d.at));
        match (failed, self.dropped.last()) {
            (Some(f), Some(d)) => {
                let (error, at) = if d.1 > f.1 { d } else { f };
                Connections::Failed { error, at }
            }
            (Some((error, at)), None) | (None, Some((error, at))) => {
                Connections::Failed { error, at }
            }
            (None, None) => Connections::Idle,
        }
    }

    /// A connection with what `need` asks for: for a job, a channel reserved (release it
    /// through its state if the job does not start). Blocks while connecting: call it off the
    /// async runtime's threads.
    pub fn place(&self, need: Need) -> Result<Arc<Link>, SpawnError> {
        let per = self.per_connection();
        // Connections open one at a time: a burst of jobs waits for the connection being
        // opened (it may have room for them) instead of opening one each, and a host that is
        // down is not tried by every job at once.
        let deadline = Instant::now() + self.host.connect_timeout * 3 + Duration::from_secs(5);
        {
            let mut links = self.links();
            loop {
                links.live.retain(|l| l.state.alive.load(Ordering::SeqCst));
                if let Some(link) = Self::room(&links, per, need) {
                    return Ok(link);
                }
                if links.connecting == 0 {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(SpawnError::Unavailable(format!(
                        "timed out waiting for a connection to {}",
                        self.host.name
                    )));
                }
                links = self
                    .opened
                    .wait_timeout(links, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            let open = links.live.len() + links.connecting;
            if open >= self.host.max_connections {
                return Err(self.full(open));
            }
            if let Some(Down { until, error, .. }) = &links.down
                && Instant::now() < *until
            {
                if links.live.is_empty() {
                    let left = until.saturating_duration_since(Instant::now());
                    return Err(SpawnError::Unavailable(format!(
                        "{error} (the host is not tried again for {}s)",
                        left.as_secs() + 1
                    )));
                }
                // Connections are up but full: wait for a channel rather than fail.
                return Err(self.full(open));
            }
            links.connecting += 1;
        }
        let opened = self.open();
        let mut links = self.links();
        links.connecting -= 1;
        self.opened.notify_all();
        match opened {
            Ok(link) => {
                links.down = None;
                self.dropped.clear();
                if need == Need::Job {
                    link.state.jobs.fetch_add(1, Ordering::SeqCst);
                }
                links.live.push(Arc::clone(&link));
                Ok(link)
            }
            Err(e) => {
                let backoff = links
                    .down
                    .as_ref()
                    .map_or(FIRST_BACKOFF, |d| d.next_backoff);
                links.down = Some(Down {
                    until: Instant::now() + backoff,
                    error: e.clone(),
                    next_backoff: (backoff * 2).min(MAX_BACKOFF),
                    at: SystemTime::now(),
                });
                if links
                    .live
                    .iter()
                    .any(|l| l.state.alive.load(Ordering::SeqCst))
                {
                    tracing::warn!(host = %self.host.name, "cannot open another connection: {e}");
                    Err(self.full(links.live.len()))
                } else {
                    Err(SpawnError::Unavailable(e))
                }
            }
        }
    }

    /// A live connection with a free channel, reserved (for a job), or any live one.
    fn room(links: &Links, per: usize, need: Need) -> Option<Arc<Link>> {
        links.live.iter().find_map(|l| {
            let s = &l.state;
            if need == Need::Short {
                return s.alive.load(Ordering::SeqCst).then(|| Arc::clone(l));
            }
            if s.refused.load(Ordering::SeqCst) {
                return None;
            }
            s.jobs
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < per).then_some(n + 1)
                })
                .ok()
                .map(|_| Arc::clone(l))
        })
    }

    fn full(&self, open: usize) -> SpawnError {
        SpawnError::NoCapacity(format!(
            "{} connection(s) to {} carry {} job(s) each (max_connections, max_sessions)",
            open,
            self.host.name,
            self.per_connection()
        ))
    }

    /// Opens a connection and starts its thread.
    fn open(&self) -> Result<Arc<Link>, String> {
        let connected = connect::connect(&self.host).map_err(|e| e.to_string())?;
        let (tx, rx, woken) =
            conn::queue().map_err(|e| format!("cannot set up the connection thread: {e}"))?;
        let state = Arc::new(LinkState {
            alive: AtomicBool::new(true),
            jobs: AtomicUsize::new(0),
            refused: AtomicBool::new(false),
            freed: Arc::clone(&self.freed),
            open: Arc::clone(&self.open),
            dropped: Arc::clone(&self.dropped),
            uncounted: AtomicBool::new(false),
        });
        // Counted before the thread starts: it may close (and uncount) at once.
        self.open.fetch_add(1, Ordering::SeqCst);
        let thread_state = Arc::clone(&state);
        let keepalive = self.host.keepalive;
        std::thread::Builder::new()
            .name(format!("ssh-{}", self.host.name))
            .spawn(move || conn::run(connected, rx, &woken, &thread_state, keepalive))
            .map_err(|e| {
                state.closed();
                format!("cannot start the connection thread: {e}")
            })?;
        Ok(Arc::new(Link { tx, state }))
    }
}
