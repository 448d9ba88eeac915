//! Waiting on jobs: until they end, until their output matches a regex or one waits for input,
//! or until an interactive job's reply is in — always bounded in time, cancellable, and giving the caller a
//! heartbeat to report progress with.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use regex::bytes::Regex;
use schemars::JsonSchema;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{InputWait, Job};
use crate::output::text::render;
use crate::output::{OutputStore, Select, read_after_gaps};

/// The longest partial line kept while scanning for a pattern.
const MAX_CARRY: usize = 64 * 1024;
/// Bytes scanned per step.
const SCAN_STEP: u64 = 1 << 20;
/// How often an `interact` looks whether the job waits for input again.
const INPUT_POLL: Duration = Duration::from_millis(1);
/// Quiet after the last output before a job waiting for input is taken to have replied. None
/// is needed: output still in the job's pipes is seen (`FIONREAD`), and the pump appends what
/// it read before it reads again.
const SETTLE: Duration = Duration::ZERO;
/// After the input, how long before a job seen waiting for input is taken to have consumed it
/// even though it printed nothing (a process just given input is woken within microseconds).
const CONSUMED: Duration = Duration::from_millis(30);
/// How often a `wait` looks whether a job waits for input: a few `/proc` reads per process of
/// the job, so not at every chunk of output; a prompt is seen within this.
const INPUT_WAIT_POLL: Duration = Duration::from_millis(100);
/// Jobs a `wait` looks at per `INPUT_WAIT_POLL`, at most (on average).
const PROBES_PER_POLL: u32 = 8;

/// What a waiting operation calls while it waits, so that a client can be told of progress.
pub trait Heartbeat: Send {
    /// When the next beat is due.
    fn due(&self) -> Instant;
    /// Beats, if one is due.
    fn tick<'a>(&'a mut self, jobs: &'a [Arc<Job>]) -> BoxFuture<'a, ()>;
}

/// No heartbeat.
pub struct Silent;

impl Heartbeat for Silent {
    fn due(&self) -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    fn tick<'a>(&'a mut self, _jobs: &'a [Arc<Job>]) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

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

/// Why a wait returned: exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitEnd {
    // What was waited for happened.
    Done,
    // A job waits for input first: it will not end or print more until it gets some.
    WaitingForInput,
    // The time ran out first.
    TimedOut,
    // The client cancelled the call.
    Cancelled,
}

/// How a wait ended.
pub struct WaitOutcome {
    pub end: WaitEnd,
    /// Per job, the line that matched `until`.
    pub matched: Vec<Option<String>>,
    /// Per job, its wait for input, when that ended the wait.
    pub waiting: Vec<Option<InputWait>>,
}

/// Waits until all (or `any`) of `jobs` have ended or matched `until`, or one of them waits for
/// input, or `timeout` passes, or the client cancels.
pub async fn wait_jobs(
    jobs: &[Arc<Job>],
    until: Option<&Regex>,
    any: bool,
    timeout: Duration,
    ct: &CancellationToken,
    heartbeat: &mut dyn Heartbeat,
) -> io::Result<WaitOutcome> {
    let deadline = Instant::now() + timeout;
    let mut matchers: Vec<Option<LineMatcher>> = jobs
        .iter()
        .map(|_| until.map(|re| LineMatcher::new(re.clone(), 0)))
        .collect();
    let mut matched: Vec<Option<String>> = vec![None; jobs.len()];
    // At once: a job already at a prompt is what the caller needs to know.
    let mut next_probe = Instant::now();
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
        // Whether a job that is not done yet waits for input: read from /proc, so only every
        // INPUT_WAIT_POLL, not at every chunk of output.
        let mut waiting: Vec<Option<InputWait>> = vec![None; jobs.len()];
        let now = Instant::now();
        if !done && now >= next_probe {
            let mut probed: u32 = 0;
            for (i, job) in jobs.iter().enumerate() {
                if !done_flags[i] {
                    waiting[i] = job.input_wait();
                    probed = probed.saturating_add(1);
                }
            }
            // A wait on many jobs looks less often: the cost stays that of a few jobs.
            next_probe = now + INPUT_WAIT_POLL * (1 + probed / PROBES_PER_POLL);
        }
        let end = if done {
            Some(WaitEnd::Done)
        } else if waiting.iter().any(Option::is_some) {
            Some(WaitEnd::WaitingForInput)
        } else if ct.is_cancelled() {
            Some(WaitEnd::Cancelled)
        } else if now >= deadline {
            Some(WaitEnd::TimedOut)
        } else {
            None
        };
        if let Some(end) = end {
            return Ok(WaitOutcome {
                end,
                matched,
                waiting,
            });
        }
        heartbeat.tick(jobs).await;
        let wake = deadline.min(heartbeat.due()).min(next_probe);
        tokio::select! {
            _ = futures::future::select_all(wakers) => {}
            () = tokio::time::sleep_until(wake) => {}
            () = ct.cancelled() => {}
        }
    }
}

/// The reply an `interact` waits for.
pub struct Reply {
    /// Where it starts in the job's output.
    pub start: u64,
    /// Ends it as soon as a line matches.
    pub until: Option<Regex>,
    /// Ends it once the output has been quiet this long.
    pub quiet: Option<Duration>,
    /// The longest wait.
    pub wait: Duration,
    /// The job's activity (see `Process::activity`) before the input was written.
    pub before: Option<u64>,
}

/// Waits for the reply to an `interact`: until `until` matches, the output goes quiet, the job
/// ends, the wait runs out, or the client cancels. Returns whether `until` matched.
pub async fn wait_for_reply(
    job: &Arc<Job>,
    reply: Reply,
    ct: &CancellationToken,
    heartbeat: &mut dyn Heartbeat,
) -> io::Result<bool> {
    let Reply {
        start,
        until,
        quiet,
        wait,
        before,
    } = reply;
    let began = tokio::time::Instant::now();
    let deadline = began + wait;
    let mut matcher = until.map(|re| LineMatcher::new(re, start));
    let mut seen = start;
    let mut last_change = began;
    // Where the executor can see it, whether the job is back at its prompt.
    let watched = job.process().filter(|p| p.waiting_for_input().is_some());
    loop {
        let changed = job.output.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Some(m) = &mut matcher
            && m.scan(&job.output)?.is_some()
        {
            return Ok(true);
        }
        if job.is_ended() || ct.is_cancelled() {
            return Ok(false);
        }
        let now = tokio::time::Instant::now();
        let len = job.output.len();
        if len > seen {
            seen = len;
            last_change = now;
        }
        // The reply is in once the job waits for input again: after it printed something (the
        // line it read was consumed), or a while after the input (it printed nothing), and
        // once its output settled (the last bytes are pumped).
        let mut poll_at = deadline;
        if let Some(p) = &watched {
            let replied = seen > start || now >= began + CONSUMED;
            // It must have run since the input was written: a process seen blocked reading
            // may not have been woken for the input yet.
            let ran = before.is_none() || p.activity() != before;
            if replied && now >= last_change + SETTLE && ran && p.waiting_for_input() == Some(true)
            {
                // What arrived since the scan above may hold the line `until` waits for.
                let matched = match &mut matcher {
                    Some(m) => m.scan(&job.output)?.is_some(),
                    None => false,
                };
                return Ok(matched);
            }
            poll_at = now + INPUT_POLL;
        }
        let quiet_at = match quiet {
            Some(q) if seen > start => last_change + q,
            _ => deadline,
        };
        let wake = deadline.min(quiet_at).min(poll_at);
        if now >= wake {
            return Ok(false);
        }
        heartbeat.tick(std::slice::from_ref(job)).await;
        let wake = wake.min(heartbeat.due());
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(wake) => {}
            () = ct.cancelled() => {}
        }
    }
}
