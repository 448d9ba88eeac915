//! The JobManager: ids, the concurrency limit and its queue, timeouts, kills, retention.
//!
//! Every job start goes through [`JobManager::execute`]: validation, then the policy, then the
//! executor. Nothing else starts a process.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use executors::{BoxFuture, Executor, JobSpec, OutputSink, SpawnError, Spawned};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use policies::Policy;

use super::JobError;
use super::group::Refusal;
use super::job::{GroupId, Job, JobId, JobRequest};
use super::journal::{self, Entry, Journal};
use super::queue::Started;
use super::state::{End, Phase, StateName};
use crate::audit::{AuditLog, Record};
use crate::config::Limits;
use crate::output::OutputStore;
use crate::sandbox::{Sandbox, SandboxSummary};
use crate::state_dir::Runs;

/// Filter for [`JobManager::list`].
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub state: Option<StateName>,
    pub host: Option<String>,
    pub label: Option<String>,
    pub group: Option<GroupId>,
}

/// Which ended jobs [`JobManager::clean`] forgets.
#[derive(Debug, Clone)]
pub enum CleanScope {
    All,
    OlderThan(Duration),
    Ids(Vec<JobId>),
}

/// What a kill did.
#[derive(Debug, Clone)]
pub struct KillReport {
    /// The job had already ended before the kill.
    pub already_ended: bool,
    /// Processes of the tree that survived SIGKILL, if any.
    pub survivors: Option<String>,
}

/// What a host's config entry adds: its own policy, and limits.
#[derive(Default)]
pub struct HostRules {
    /// Replaces the server's policy for this host.
    pub policy: Option<Arc<Policy>>,
    /// Jobs at once on this host (within the server's limit).
    pub max_concurrent: Option<usize>,
    /// Longest `timeout` on this host.
    pub max_timeout: Option<Duration>,
    /// The host's config says `sandbox = "off"`: its jobs may run although the server's
    /// sandbox cannot confine them.
    pub sandbox_off: bool,
    /// The host's tags (`execute {tag}`).
    pub tags: Vec<String>,
    /// How the host is reached (for `hosts`).
    pub address: Option<super::hosts::HostAddress>,
}

/// The slots a running job holds: one of the server's, and one of its host's if it has a limit.
pub(super) type Permits = (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>);

pub struct JobManager {
    pub(super) limits: Limits,
    pub(super) hosts: HashMap<String, (HostRules, Option<Arc<Semaphore>>)>,
    pub(super) policy: Arc<Policy>,
    pub(super) audit: Arc<AuditLog>,
    /// This run's directory in the state directory (`DIR/runs/<run>`): new jobs' logs.
    pub(super) jobs_dir: PathBuf,
    /// `DIR/runs`: logs are deleted only in its run directories.
    pub(super) runs: Runs,
    pub(super) executors: HashMap<String, Arc<dyn Executor>>,
    /// Per host, the line of its queued jobs: held by the one whose turn it is (see
    /// [`JobManager::queue`]).
    pub(super) lines: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    pub(super) jobs: Mutex<BTreeMap<JobId, Arc<Job>>>,
    pub(super) next_id: AtomicU64,
    pub(super) next_group: AtomicU64,
    /// The hosts that refused each recent fan-out (its jobs are found by their request).
    pub(super) group_refusals: Mutex<BTreeMap<GroupId, Vec<Refusal>>>,
    pub(super) slots: Arc<Semaphore>,
    /// Prefix of every job's tag: unique to this server run.
    pub(super) instance: String,
    pub(super) shutting_down: AtomicBool,
    /// Fires when jobs are added or forgotten (the resource list changes).
    pub(super) listing: tokio::sync::broadcast::Sender<()>,
    pub(super) journal: Journal,
    /// The kernel sandbox of local jobs, if one is asked for.
    pub(super) sandbox: Option<Arc<Sandbox>>,
}

impl JobManager {
    pub fn new(
        mut limits: Limits,
        policy: Arc<Policy>,
        audit: Arc<AuditLog>,
        jobs_dir: PathBuf,
        executors: HashMap<String, Arc<dyn Executor>>,
        hosts: HashMap<String, HostRules>,
        instance: String,
    ) -> Self {
        // The policy can only tighten the server's limits.
        if let Some(n) = policy.limits.max_concurrent {
            limits.max_concurrent = limits.max_concurrent.min(n.max(1));
        }
        if let Some(cap) = policy.limits.log_cap_bytes {
            limits.log_cap = limits.log_cap.min(cap.max(1024));
        }
        if let Some(t) = policy.limits.max_timeout {
            limits.max_timeout = limits.max_timeout.min(t);
        }
        if let Some(t) = policy.limits.default_timeout {
            limits.default_timeout = Some(limits.default_timeout.map_or(t, |d| d.min(t)));
        }
        if let Some(d) = limits.default_timeout {
            limits.default_timeout = Some(d.min(limits.max_timeout));
        }
        let slots = Arc::new(Semaphore::new(limits.max_concurrent));
        let hosts = hosts
            .into_iter()
            .map(|(name, rules)| {
                let slots = rules
                    .max_concurrent
                    .map(|n| Arc::new(Semaphore::new(n.max(1))));
                (name, (rules, slots))
            })
            .collect();
        Self {
            limits,
            hosts,
            policy,
            audit,
            runs: Runs::of_run(&jobs_dir),
            jobs_dir,
            lines: executors
                .keys()
                .map(|h| (h.clone(), Arc::new(tokio::sync::Mutex::new(()))))
                .collect(),
            executors,
            jobs: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            next_group: AtomicU64::new(1),
            group_refusals: Mutex::new(BTreeMap::new()),
            slots,
            instance,
            shutting_down: AtomicBool::new(false),
            listing: tokio::sync::broadcast::channel(16).0,
            journal: Journal::disabled(),
            sandbox: None,
        }
    }

    /// Records every job's life in `journal` from now on (for a later run on the same state
    /// directory).
    /// Runs every local job in `sandbox`.
    pub fn with_sandbox(mut self, sandbox: Option<Arc<Sandbox>>) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// The sandbox of local jobs, if any.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_deref()
    }

    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = journal;
        self
    }

    /// Records how `job` ended in the journal.
    pub(super) fn record_end(&self, job: &Job) {
        let Phase::Ended {
            ended, end, usage, ..
        } = job.phase()
        else {
            return;
        };
        let extent = job.output.extent();
        self.journal.record(&Entry::Ended {
            job: job.id.0,
            ended_at: ended.wall,
            ending: end,
            usage: usage.map(|u| journal::Usage {
                user_cpu_ms: u64::try_from(u.user_cpu.as_millis()).unwrap_or(u64::MAX),
                system_cpu_ms: u64::try_from(u.system_cpu.as_millis()).unwrap_or(u64::MAX),
                max_rss_bytes: u.max_rss_bytes,
            }),
            output: journal::Sizes {
                total: extent.total,
                stdout: extent.stdout,
                stderr: extent.stderr,
                // Known without reading the log, except for a log taken over without its
                // count (then it is counted once).
                lines: job.output.newlines().unwrap_or_else(|| {
                    job.output
                        .lines_before(extent.total, crate::output::Select::Combined)
                        .unwrap_or(0)
                }),
            },
        });
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(super) fn jobs(&self) -> MutexGuard<'_, BTreeMap<JobId, Arc<Job>>> {
        // Inserts and removes only: a poisoned map is still consistent.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks a job up by the id the agent typed.
    pub fn get(&self, id: &str) -> Result<Arc<Job>, JobError> {
        let parsed = JobId::parse(id).ok_or_else(|| JobError::UnknownJob(id.to_string()))?;
        self.jobs()
            .get(&parsed)
            .cloned()
            .ok_or_else(|| JobError::UnknownJob(id.to_string()))
    }

    /// Validates, vets and starts (or queues) a job. Returns once the job is running, queued,
    /// or has failed to start.
    pub async fn execute(self: &Arc<Self>, request: JobRequest) -> Result<Arc<Job>, JobError> {
        let (job, executor) = self.admit(request)?;
        self.place(Arc::clone(&job), executor).await;
        Ok(job)
    }

    /// The part of [`Self::execute`] that decides: validation, the policy, the job made and
    /// recorded. What is left is to [`Self::place`] it.
    pub(super) fn admit(
        &self,
        mut request: JobRequest,
    ) -> Result<(Arc<Job>, Arc<dyn Executor>), JobError> {
        // ` box` is `box`, as in `hosts: [..]`.
        let trimmed = request.host.trim();
        if trimmed.len() != request.host.len() {
            request.host = trimmed.to_string();
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(JobError::ShuttingDown);
        }
        self.validate(&request)?;
        let executor = self.executor(&request.host)?;
        let vetted = self.vet(&request)?;

        let id = JobId(self.next_id.fetch_add(1, Ordering::SeqCst));
        let sandbox_text = vetted.sandbox.as_ref().map(SandboxSummary::text);
        self.audit.write(&Record {
            tool: "execute",
            host: &request.host,
            command: &request.command,
            cwd: Some(&vetted.cwd.display().to_string()),
            job_id: Some(id.to_string()),
            allowed: true,
            rules: vetted.rule.as_slice(),
            reasons: &[],
            input: None,
            sandbox: sandbox_text.as_deref(),
        });
        let tmpdir = match (&vetted.sandbox, &self.sandbox) {
            (Some(_), Some(s)) if s.confines_files() => {
                Some(s.make_tmpdir(&id.to_string()).map_err(JobError::Storage)?)
            }
            _ => None,
        };
        let mut vetted = vetted;
        if let Some(t) = &tmpdir {
            vetted
                .env
                .push(("TMPDIR".into(), t.path().display().to_string()));
        }
        let path = self.jobs_dir.join(crate::state_dir::log_name(id.0));
        let store = OutputStore::create(&path, self.limits.log_cap, self.limits.ring_size)
            .map_err(JobError::Storage)?;
        let mut request = request;
        if request.timeout.is_none() {
            request.timeout = vetted.timeout;
        }
        let job = Arc::new(Job::new(id, request, Arc::new(store), vetted.rule.clone()));
        job.set_stdin_allowed(vetted.stdin);
        job.set_environment(vetted.clear_env, vetted.env);
        job.set_sandbox(vetted.sandbox.clone(), tmpdir);
        let (head_cap, tail_cap) = job.output.layout();
        self.journal.record(&Entry::Created(journal::Created {
            job: id.0,
            command: job.request.command.clone(),
            host: job.request.host.clone(),
            // A remote job's directory is the one it was given (or its login directory).
            cwd: if job.request.host == "local" {
                Some(vetted.cwd.clone())
            } else {
                job.request.cwd.clone()
            },
            label: job.request.label.clone(),
            pty: job.request.pty,
            merge_stderr: job.request.merge_stderr,
            rule: job.rule.clone(),
            created_at: job.created.wall,
            // This run's: the reader derives the log's path from its own directory and the id.
            run: None,
            layout: journal::Layout { head_cap, tail_cap },
            group: job.request.group.map(|g| g.0),
        }));
        self.jobs().insert(id, Arc::clone(&job));
        self.retain();
        let _ = self.listing.send(());
        Ok((job, executor))
    }

    /// Starts an admitted job, or queues it; returns once it runs, is queued, or has failed
    /// to start.
    pub(super) async fn place(self: &Arc<Self>, job: Arc<Job>, executor: Arc<dyn Executor>) {
        let host_slots = self
            .hosts
            .get(&job.request.host)
            .and_then(|(_, s)| s.clone());
        let line = self.line(&job.request.host);
        // A job waits its turn behind those already queued for this host.
        let nobody_waits = line.try_lock().is_ok();
        let now = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(_) if !nobody_waits => None,
            Ok(global) => match &host_slots {
                None => Some((global, None)),
                Some(h) => Arc::clone(h)
                    .try_acquire_owned()
                    .ok()
                    .map(|p| (global, Some(p))),
            },
            Err(_) => None,
        };
        let placed = match now {
            Some(permits) => {
                let freed = executor.capacity_freed();
                match self
                    .start(Arc::clone(&job), Arc::clone(&executor), permits)
                    .await
                {
                    Started::Yes => None,
                    Started::NoCapacity => Some(freed),
                }
            }
            None => Some(Box::pin(std::future::ready(())) as BoxFuture<'static, ()>),
        };
        if let Some(freed) = placed {
            self.queue(Arc::clone(&job), executor, host_slots, line, freed);
        }
    }

    /// The line of jobs queued for `host`.
    pub(super) fn line(&self, host: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.lines
            .get(host)
            .map(Arc::clone)
            // Every host has a line (made with its executor); a new one only serves one job.
            .unwrap_or_default()
    }

    /// A receiver that fires when jobs are added or forgotten.
    pub fn listing(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.listing.subscribe()
    }

    /// The policy in force (the server's).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy for jobs on `host`: the host's own, if its config names one.
    pub fn policy_for(&self, host: &str) -> &Policy {
        self.hosts
            .get(host)
            .and_then(|(h, _)| h.policy.as_deref())
            .unwrap_or(&self.policy)
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub(super) fn executor(&self, host: &str) -> Result<Arc<dyn Executor>, JobError> {
        if let Some(e) = self.executors.get(host) {
            return Ok(Arc::clone(e));
        }
        let mut names: Vec<&str> = self.executors.keys().map(String::as_str).collect();
        names.sort_unstable();
        Err(JobError::UnknownHost {
            host: host.to_string(),
            known: names.join(", "),
        })
    }

    /// Starts `job` now, or ends it if it cannot start, unless the executor has no capacity
    /// now: then the job stays queued and the slots are given back.
    pub(super) async fn start(
        self: &Arc<Self>,
        job: Arc<Job>,
        executor: Arc<dyn Executor>,
        permit: Permits,
    ) -> Started {
        let r = &job.request;
        let (clear_env, env) = job.environment();
        let sandbox = match (&self.sandbox, r.host.as_str()) {
            (Some(s), "local") => Some(s),
            _ => None,
        };
        // Checked again now: the job may have waited in the queue while another one moved
        // things around.
        let mut cwd = r.cwd.clone();
        if let Some(s) = sandbox {
            let at = cwd
                .clone()
                .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
            if let Some(reason) = s.refuse_start().or_else(|| s.refuse_cwd(&at)) {
                job.end_without_running(End::FailedToStart { reason });
                self.record_end(&job);
                return Started::Yes;
            }
            cwd = std::fs::canonicalize(&at).ok().or(cwd);
        }
        let sandbox_spec = match sandbox
            .map(|s| s.spec(self.policy_for("local"), job.tmpdir().as_deref()))
            .transpose()
        {
            Ok(spec) => spec,
            Err(reason) => {
                job.end_without_running(End::FailedToStart { reason });
                self.record_end(&job);
                return Started::Yes;
            }
        };
        let spec = JobSpec {
            command: r.command.clone(),
            cwd,
            env,
            clear_env,
            pty: r.pty,
            merge_stderr: r.merge_stderr,
            stdin: job.stdin_allowed(),
            tag: format!("{}:{}", self.instance, job.id),
            sandbox: sandbox_spec,
            abandoned: Some(Arc::clone(&job.abandoned)),
        };
        let sink: Arc<dyn OutputSink> = Arc::clone(&job.output) as Arc<dyn OutputSink>;
        let Spawned { process, outcome } = match executor.spawn(spec, sink).await {
            Ok(s) => s,
            Err(SpawnError::NoCapacity(why)) => {
                tracing::debug!(job = %job.id, "stays queued: {why}");
                return Started::NoCapacity;
            }
            Err(e) => {
                job.end_without_running(End::FailedToStart {
                    reason: e.to_string(),
                });
                self.record_end(&job);
                return Started::Yes;
            }
        };
        // The initial stdin is written by a task (a job that does not read would block us), but
        // the gate is taken now, so that an `interact` that follows writes after it, and so
        // that a job blocked reading before its stdin text arrives is not taken for waiting
        // for input.
        let gate = Arc::clone(&job.stdin_gate).lock_owned().await;
        if !job.set_running(Arc::clone(&process)) {
            // Killed while it was being started: it must not run.
            drop(gate);
            let _ = process.kill_tree(libc_sigkill(), Duration::ZERO).await;
            return Started::Yes;
        }
        if let Phase::Running { started, pid } = job.phase() {
            self.journal.record(&Entry::Started {
                job: job.id.0,
                started_at: started.wall,
                pid,
            });
        }

        let text = r.stdin.clone();
        let close = !r.keep_stdin_open && text.is_some();
        let writer = Arc::clone(&process);
        let reader = Arc::clone(&job);
        tokio::spawn(async move {
            let _gate = gate;
            if let Some(text) = text {
                if let Err(e) = writer.write_stdin(text.as_bytes()).await {
                    tracing::debug!("initial stdin not fully written: {e}");
                }
                reader.note_input();
            }
            if close {
                let _ = writer.close_stdin().await;
            }
        });

        let timeout = r.timeout;
        let grace = self.limits.kill_grace;
        let manager = Arc::clone(self);
        tokio::spawn(async move {
            let _permit = permit;
            let mut outcome = outcome;
            let result = match timeout {
                None => outcome.await,
                Some(t) => {
                    tokio::select! {
                        o = &mut outcome => o,
                        () = tokio::time::sleep(t) => {
                            job.mark_timed_out();
                            if let Err(e) = process.kill_tree(libc_sigterm(), grace).await {
                                tracing::warn!(job = %job.id, "timeout kill: {e}");
                            }
                            outcome.await
                        }
                    }
                }
            };
            job.finish_from(result);
            manager.record_end(&job);
        });
        Started::Yes
    }

    /// Prefix of every job tag of this server run.
    pub fn instance(&self) -> &str {
        &self.instance
    }
}

pub(super) fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

pub(super) fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}
