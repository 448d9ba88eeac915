//! Waiting on jobs for an agent: until they end, until their output matches a regex, or until
//! an interactive job goes quiet — always bounded in time, cancellable by the client, and
//! reporting progress while it waits.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use regex::bytes::Regex;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::jobs::Job;
use crate::output::text::render;
use crate::output::{OutputStore, Segments, Select, read_after_gaps};

/// How often a waiting call sends a progress notification (the contract says "every few
/// seconds"; hosts time calls out at about 60 s without them).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// The longest partial line kept while scanning for a pattern.
const MAX_CARRY: usize = 64 * 1024;
/// Bytes scanned per step.
const SCAN_STEP: u64 = 1 << 20;

/// Finds the first line matching a regex in output as it grows, scanning each byte once.
/// The line being written (not yet ended by a newline) is matched too: prompts have no newline.
pub struct LineMatcher {
    re: Regex,
    pos: u64,
    carry: Vec<u8>,
}

impl LineMatcher {
    pub fn new(re: Regex, from: u64) -> Self {
        Self {
            re,
            pos: from,
            carry: Vec::new(),
        }
    }

    /// Scans what was appended since the last call; returns the first matching line.
    pub fn scan(&mut self, store: &OutputStore) -> io::Result<Option<String>> {
        let total = store.len();
        while self.pos < total {
            let end = total.min(self.pos + SCAN_STEP);
            read_after_gaps(store, Select::Combined, self.pos, end, &mut self.carry)?;
            self.pos = end;
            if let Some(m) = self.re.find(&self.carry) {
                let s = memchr::memrchr(b'\n', &self.carry[..m.start()]).map_or(0, |i| i + 1);
                let e = memchr::memchr(b'\n', &self.carry[m.start()..])
                    .map_or(self.carry.len(), |i| m.start() + i);
                let line = render(&self.carry[s..e], false);
                self.carry.drain(..e);
                return Ok(Some(line));
            }
            if let Some(i) = memchr::memrchr(b'\n', &self.carry) {
                self.carry.drain(..=i);
            }
            if self.carry.len() > MAX_CARRY {
                let drop = self.carry.len() - MAX_CARRY;
                self.carry.drain(..drop);
            }
        }
        Ok(None)
    }
}

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
    pub async fn tick(&mut self, jobs: &[Arc<Job>]) {
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

    /// When the next heartbeat is due.
    pub fn due(&self) -> Instant {
        match (&self.token, self.last) {
            (None, _) => Instant::now() + Duration::from_secs(3600),
            (Some(_), None) => Instant::now(),
            (Some(_), Some(t)) => t + PROGRESS_EVERY,
        }
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
    let total = store.len();
    let lo = total.saturating_sub(4096);
    let mut bytes = Vec::new();
    // Across gaps, and past a failed read: this is only a progress message.
    let mut segments = Segments::new(store, Select::Combined, lo, total);
    while !matches!(segments.next_into(&mut bytes, usize::MAX), Ok(None)) {}
    let text = render(&bytes, false);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect())
        .unwrap_or_default()
}

/// How a wait ended.
pub struct WaitResult {
    pub done: bool,
    pub timed_out: bool,
    pub cancelled: bool,
    /// Per job, the line that matched `until`.
    pub matched: Vec<Option<String>>,
}

/// Waits until all (or `any`) of `jobs` have ended or matched `until`, or `timeout` passes, or
/// the client cancels.
pub async fn wait_jobs(
    jobs: &[Arc<Job>],
    until: Option<&Regex>,
    any: bool,
    timeout: Duration,
    ct: &CancellationToken,
    progress: &mut Progress,
) -> io::Result<WaitResult> {
    let deadline = Instant::now() + timeout;
    let mut matchers: Vec<Option<LineMatcher>> = jobs
        .iter()
        .map(|_| until.map(|re| LineMatcher::new(re.clone(), 0)))
        .collect();
    let mut matched: Vec<Option<String>> = vec![None; jobs.len()];
    loop {
        // Registered before the checks, so that no change between check and sleep is missed.
        let mut wakers: Vec<_> = jobs.iter().map(|j| Box::pin(j.output.changed())).collect();
        for w in &mut wakers {
            w.as_mut().enable();
        }
        let mut done_flags = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            if matched[i].is_none()
                && let Some(m) = &mut matchers[i]
            {
                matched[i] = m.scan(&job.output)?;
            }
            done_flags.push(matched[i].is_some() || job.is_ended());
        }
        let done = if any {
            done_flags.iter().any(|d| *d)
        } else {
            done_flags.iter().all(|d| *d)
        };
        if done || ct.is_cancelled() || Instant::now() >= deadline {
            return Ok(WaitResult {
                done,
                timed_out: !done && !ct.is_cancelled(),
                cancelled: !done && ct.is_cancelled(),
                matched,
            });
        }
        progress.tick(jobs).await;
        let wake = deadline.min(progress.due());
        tokio::select! {
            _ = futures::future::select_all(wakers) => {}
            () = tokio::time::sleep_until(wake) => {}
            () = ct.cancelled() => {}
        }
    }
}
