//! Progress notifications for a waiting tool call: the heartbeat the JobManager's waits call,
//! sent as MCP progress with the job's own counter (`[3/10]`, `42%`) when its last line has one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use tokio::time::Instant;

use crate::jobs::Job;
use crate::jobs::wait::Heartbeat;
use crate::output::OutputStore;
use crate::output::view::last_line;

/// How often a waiting call sends a progress notification (the contract says "every few
/// seconds"; hosts time calls out at about 60 s without them).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// The longest progress message, in characters.
const MAX_MESSAGE: usize = 200;

/// Sends progress notifications for one request, if the client asked for them.
pub struct Progress {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
    last: Option<Instant>,
    /// The last progress value sent.
    sent: f64,
}

impl Progress {
    pub fn new(peer: Peer<RoleServer>, token: Option<ProgressToken>) -> Self {
        Self {
            peer,
            token,
            last: None,
            sent: -1.0,
        }
    }

    /// Sends a notification if the last one is older than the heartbeat interval.
    async fn beat(&mut self, jobs: &[Arc<Job>]) {
        let Some(token) = &self.token else {
            return;
        };
        if self.last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let bytes: u64 = jobs.iter().map(|j| j.output.len()).sum();
        let latest = jobs
            .iter()
            .find(|j| !j.is_ended())
            .or(jobs.first())
            .map(|j| latest_line(&j.output))
            .unwrap_or_default();
        // A build's own counter (`[3/10]`, `42%`) says more than a byte count.
        let mut p = match parse_fraction(&latest) {
            Some((done, total)) => {
                ProgressNotificationParam::new(token.clone(), done).with_total(total)
            }
            None => ProgressNotificationParam::new(token.clone(), bytes as f64),
        };
        // Progress must increase: a counter that went back (a new build step) falls back to
        // bytes, which only grow.
        if p.progress <= self.sent {
            p = ProgressNotificationParam::new(token.clone(), (bytes as f64).max(self.sent + 1.0));
        }
        self.sent = p.progress;
        if !latest.is_empty() {
            p = p.with_message(latest);
        }
        // A client that stopped listening is not our failure.
        let _ = self.peer.notify_progress(p).await;
    }
}

impl Heartbeat for Progress {
    fn due(&self) -> Instant {
        match (&self.token, self.last) {
            (None, _) => Instant::now() + Duration::from_secs(3600),
            (Some(_), None) => Instant::now(),
            (Some(_), Some(t)) => t + PROGRESS_EVERY,
        }
    }

    fn tick<'a>(&'a mut self, jobs: &'a [Arc<Job>]) -> BoxFuture<'a, ()> {
        Box::pin(self.beat(jobs))
    }
}

/// `[3/10]`, ` 3/10 ` or `42%` in a progress line, as (done, total).
fn parse_fraction(line: &str) -> Option<(f64, f64)> {
    static FRACTION: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    static PERCENT: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let fraction =
        FRACTION.get_or_init(|| regex::Regex::new(r"\[?\b(\d{1,9})\s*/\s*(\d{1,9})\b\]?").ok());
    let percent = PERCENT.get_or_init(|| regex::Regex::new(r"\b(\d{1,3}(?:\.\d+)?)\s?%").ok());
    if let Some(c) = fraction.as_ref().and_then(|r| r.captures(line)) {
        let done: f64 = c[1].parse().ok()?;
        let total: f64 = c[2].parse().ok()?;
        if total > 0.0 && done <= total {
            return Some((done, total));
        }
    }
    let c = percent.as_ref()?.captures(line)?;
    let pct: f64 = c[1].parse().ok()?;
    (pct <= 100.0).then_some((pct, 100.0))
}

/// The last non-empty line of a job's output, cleaned, for progress messages.
pub fn latest_line(store: &OutputStore) -> String {
    last_line(store, MAX_MESSAGE).unwrap_or_default()
}
