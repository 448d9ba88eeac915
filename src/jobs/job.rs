//! One job: what was asked, its output, and where it is in its life.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use executors::{ExitInfo, Outcome, Process};
use tokio::sync::Notify;

use super::input_wait::InputClock;
use super::state::{End, Phase, Stamp};
use crate::output::OutputStore;

/// A job id as the agent types it: `j` and a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "j{}", self.0)
    }
}

impl JobId {
    /// Accepts `j7`, `J7` and `7`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let digits = s.strip_prefix(['j', 'J']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(JobId)
    }
}

/// A fan-out's id as the agent types it: `g` and a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub u64);

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "g{}", self.0)
    }
}

impl GroupId {
    /// Accepts `g2`, `G2` and `2`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let digits = s.strip_prefix(['g', 'G']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(GroupId)
    }
}

/// What the agent asked for, validated.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub command: String,
    pub cwd: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    pub host: String,
    pub timeout: Option<Duration>,
    pub pty: bool,
    /// stderr goes to the stdout pipe (`2>&1`): one stream in the job's own write order.
    pub merge_stderr: bool,
    /// Text written to stdin at start.
    pub stdin: Option<String>,
    /// Keep stdin open after `stdin` was written (for `interact`).
    pub keep_stdin_open: bool,
    pub label: Option<String>,
    /// The fan-out (`execute {hosts}` or `{tag}`) this job is one host's part of.
    pub group: Option<GroupId>,
}

struct Life {
    phase: Phase,
    process: Option<Arc<dyn Process>>,
    /// The signal our `kill` sent, if any.
    kill_requested: Option<i32>,
    /// That kill was the server's shutdown.
    shutdown: bool,
    timed_out: bool,
}

/// A job known to the server.
pub struct Job {
    pub id: JobId,
    pub request: JobRequest,
    pub output: Arc<OutputStore>,
    pub created: Stamp,
    /// The policy rule that allowed the job, when a policy is in force.
    pub rule: Option<String>,
    life: Mutex<Life>,
    changed: Notify,
    /// Whether the policy lets this job take input on stdin.
    stdin_allowed: std::sync::atomic::AtomicBool,
    /// The environment the job starts with: (start from empty, variables).
    environment: Mutex<(bool, Vec<(String, String)>)>,
    /// The sandbox the job runs in (local jobs under a sandboxing policy).
    sandbox: Mutex<Option<crate::sandbox::SandboxSummary>>,
    /// The job's private temporary directory (sandboxed jobs): removed when the job is
    /// forgotten, or at the server's exit.
    tmpdir: Mutex<Option<tempfile::TempDir>>,
    /// Serialises writers of stdin (the initial `stdin` text, then `interact` calls), so that
    /// their bytes never interleave.
    pub stdin_gate: Arc<tokio::sync::Mutex<()>>,
    /// Set when the job ends: an executor still starting it must not run it (see
    /// [`executors::JobSpec::abandoned`]).
    pub(super) abandoned: Arc<std::sync::atomic::AtomicBool>,
    /// What a wait for input is dated from (see `input_wait`).
    pub(super) input_clock: Mutex<InputClock>,
}

impl Job {
    pub fn new(
        id: JobId,
        request: JobRequest,
        output: Arc<OutputStore>,
        rule: Option<String>,
    ) -> Self {
        Self {
            id,
            request,
            output,
            created: Stamp::now(),
            rule,
            life: Mutex::new(Life {
                phase: Phase::Queued,
                process: None,
                kill_requested: None,
                shutdown: false,
                timed_out: false,
            }),
            changed: Notify::new(),
            stdin_allowed: std::sync::atomic::AtomicBool::new(true),
            environment: Mutex::new((false, Vec::new())),
            sandbox: Mutex::new(None),
            tmpdir: Mutex::new(None),
            stdin_gate: Arc::new(tokio::sync::Mutex::new(())),
            abandoned: Arc::default(),
            input_clock: Mutex::new(InputClock::default()),
        }
    }

    /// A job of an earlier run, known from its journal: it has ended (see `journal`).
    pub(super) fn imported(
        id: JobId,
        request: JobRequest,
        output: Arc<OutputStore>,
        rule: Option<String>,
        created: Stamp,
        phase: Phase,
    ) -> Self {
        let job = Self {
            created,
            ..Self::new(id, request, output, rule)
        };
        job.set_stdin_allowed(false);
        job.life().phase = phase;
        job
    }

    pub(super) fn set_stdin_allowed(&self, allowed: bool) {
        self.stdin_allowed
            .store(allowed, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the policy lets this job take input on stdin.
    pub fn stdin_allowed(&self) -> bool {
        self.stdin_allowed.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(super) fn set_environment(&self, clear: bool, env: Vec<(String, String)>) {
        *self
            .environment
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (clear, env);
    }

    pub(super) fn environment(&self) -> (bool, Vec<(String, String)>) {
        self.environment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set_sandbox(
        &self,
        sandbox: Option<crate::sandbox::SandboxSummary>,
        tmpdir: Option<tempfile::TempDir>,
    ) {
        *self.sandbox.lock().unwrap_or_else(PoisonError::into_inner) = sandbox;
        *self.tmpdir.lock().unwrap_or_else(PoisonError::into_inner) = tmpdir;
    }

    /// The sandbox the job runs in, if any.
    pub fn sandbox(&self) -> Option<crate::sandbox::SandboxSummary> {
        self.sandbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The job's private temporary directory, if it has one.
    pub(super) fn tmpdir(&self) -> Option<PathBuf> {
        self.tmpdir
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|t| t.path().to_path_buf())
    }

    /// Removes the job's private temporary directory now.
    pub(super) fn remove_tmpdir(&self) {
        let taken = self
            .tmpdir
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = taken
            && let Err(e) = t.close()
        {
            tracing::debug!(job = %self.id, "cannot remove the temporary directory: {e}");
        }
    }

    fn life(&self) -> MutexGuard<'_, Life> {
        // Each critical section is a few assignments: a panic cannot leave it half done.
        self.life.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn phase(&self) -> Phase {
        self.life().phase.clone()
    }

    pub fn is_ended(&self) -> bool {
        self.life().phase.is_ended()
    }

    pub fn process(&self) -> Option<Arc<dyn Process>> {
        self.life().process.clone()
    }

    /// Marks the job running with `process`; false if it ended meanwhile (killed while it was
    /// being started), when it must not run.
    #[must_use]
    pub(super) fn set_running(&self, process: Arc<dyn Process>) -> bool {
        let mut life = self.life();
        if life.phase.is_ended() {
            return false;
        }
        life.phase = Phase::Running {
            started: Stamp::now(),
            pid: process.pid(),
        };
        life.process = Some(process);
        drop(life);
        self.changed.notify_waiters();
        self.output.wake();
        true
    }

    /// Records that our kill (or shutdown) sent `signal`. Returns false if the job already ended.
    pub(super) fn request_kill(&self, signal: i32, shutdown: bool) -> bool {
        let mut life = self.life();
        if life.phase.is_ended() {
            return false;
        }
        life.kill_requested.get_or_insert(signal);
        life.shutdown |= shutdown;
        true
    }

    pub(super) fn mark_timed_out(&self) {
        self.life().timed_out = true;
    }

    /// Ends a job that never ran (failed to start, or killed while queued).
    pub(super) fn end_without_running(&self, end: End) {
        self.finish(end, None);
    }

    /// Ends a job from its executor's outcome.
    pub(super) fn finish_from(&self, outcome: Outcome) {
        let (end, usage) = {
            let life = self.life();
            match outcome {
                Outcome::Lost(reason) => (End::Lost { reason }, None),
                Outcome::Exited(info) => (
                    end_of(&info, life.timed_out, life.kill_requested, life.shutdown),
                    info.usage,
                ),
            }
        };
        self.finish(end, usage);
    }

    fn finish(&self, end: End, usage: Option<executors::ResourceUsage>) {
        self.abandoned
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut life = self.life();
        if life.phase.is_ended() {
            return;
        }
        let started = match life.phase {
            Phase::Running { started, .. } => Some(started),
            _ => None,
        };
        life.phase = Phase::Ended {
            started,
            ended: Stamp::now(),
            end,
            usage,
        };
        drop(life);
        self.output.release();
        self.changed.notify_waiters();
        self.output.wake();
    }

    /// Waits until the job has ended.
    pub async fn ended(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_ended() {
                return;
            }
            notified.await;
        }
    }

    /// Waits until the job has left the queue (running or ended).
    pub async fn started(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !matches!(self.life().phase, Phase::Queued) {
                return;
            }
            notified.await;
        }
    }
}

fn end_of(info: &ExitInfo, timed_out: bool, kill_requested: Option<i32>, shutdown: bool) -> End {
    if timed_out {
        return End::TimedOut {
            signal: info.signal,
            code: info.code,
        };
    }
    if let Some(requested) = kill_requested {
        return End::Killed {
            signal: info.signal.or(Some(requested)),
            requested: true,
            shutdown,
        };
    }
    match (info.code, info.signal) {
        (_, Some(signal)) => End::Killed {
            signal: Some(signal),
            requested: false,
            shutdown: false,
        },
        (Some(code), None) => End::Exited { code },
        (None, None) => End::Lost {
            reason: "the process ended with an unknown status".into(),
        },
    }
}
