//! The MCP server: one struct, one tool router; each tool validates its arguments, calls the
//! JobManager, and renders a bounded reply.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use regex::bytes::Regex;
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, CreateTaskResult,
    GetTaskParams, GetTaskResult, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use tokio::sync::broadcast::error::RecvError;

use super::params::*;
use super::replies::*;
use super::resources::{self, Subscriptions};
use super::tasks;
use super::waiting::{LineMatcher, Progress, wait_jobs};
use crate::audit::Record;
use crate::config::bounds;
use crate::jobs::state::parse_signal;
use crate::jobs::{CleanScope, Job, JobId, JobManager, JobRequest, ListFilter, Phase, StateName};
use crate::output::Select;
use crate::output::search;
use crate::output::view::{self, compile_pattern};
use crate::sandbox::SandboxSummary;
use policies::{CheckRequest, Decision};

const INSTRUCTIONS: &str = "\
mcp-jobs runs shell commands as background jobs and never blocks you.
- `execute` starts a command and returns a job id (j1, j2, ...) at once. For short commands pass \
`wait` (seconds): if the job ends in time you get its exit status and output tail in the same call.
- `status` says if a job is running or how it ended; `tail` shows its last lines; `output` reads \
from a cursor (`since`, follow `next`) or searches with `grep`. Responses are size-bounded.
- `wait` blocks until jobs end or a regex appears in their output (bounded by `timeout`).
- `interact` types into a running job's stdin (e.g. a REPL) and returns only the new output.
- `kill` stops a job's whole process tree. `list` shows jobs; `clean` forgets ended ones.
- A policy may refuse commands: `check` tells you whether a command would run, and why.";

/// The mcp-jobs MCP server.
#[derive(Clone)]
pub struct JobServer {
    manager: Arc<JobManager>,
    tool_router: ToolRouter<Self>,
    subscriptions: Subscriptions,
    cancelled_tasks: tasks::Cancelled,
}

/// Runs a tool body, turning a panic into an error result: a panicking handler would otherwise
/// send no response at all, and the client would wait until its own timeout.
async fn guarded<T: Reply>(body: impl Future<Output = Result<T, String>>) -> CallToolResult {
    let result = match AssertUnwindSafe(body).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!("tool handler panicked: {what}");
            Err(format!(
                "internal error ({what}); the server is still running, please retry"
            ))
        }
    };
    reply(result)
}

fn select_of(s: Option<StreamName>) -> (Select, &'static str) {
    match s.unwrap_or_default() {
        StreamName::Combined => (Select::Combined, "combined"),
        StreamName::Stdout => (Select::Stdout, "stdout"),
        StreamName::Stderr => (Select::Stderr, "stderr"),
    }
}

fn max_bytes(v: Option<u64>) -> Result<usize, String> {
    match v {
        None => Ok(bounds::DEFAULT_MAX_BYTES),
        Some(0) => Err("`max_bytes` must be at least 1".into()),
        Some(n) => Ok(usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(bounds::MAX_MAX_BYTES)),
    }
}

fn seconds(v: f64, name: &str, max: f64) -> Result<Duration, String> {
    if !v.is_finite() || v < 0.0 {
        return Err(format!(
            "`{name}` must be a non-negative number of seconds, not {v}"
        ));
    }
    if v > max {
        return Err(format!("`{name}` is {v}s; the maximum is {max}s"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn pattern(p: Option<&str>, name: &str) -> Result<Option<Regex>, String> {
    p.map(|p| compile_pattern(p).map_err(|e| format!("`{name}`: {e}")))
        .transpose()
}

fn tail_text(job: &Job, lines: usize) -> String {
    view::tail(
        &job.output,
        lines,
        Select::Combined,
        None,
        bounds::DEFAULT_MAX_BYTES,
        false,
    )
    .map(|t| t.text)
    .unwrap_or_else(|e| format!("(cannot read the output: {e})"))
}

#[tool_router]
impl JobServer {
    pub fn new(manager: Arc<JobManager>) -> Self {
        Self {
            manager,
            tool_router: Self::tool_router(),
            subscriptions: Subscriptions::default(),
            cancelled_tasks: tasks::Cancelled::default(),
        }
    }

    fn job(&self, id: &str) -> Result<Arc<Job>, String> {
        self.manager.get(id).map_err(|e| e.to_string())
    }

    #[tool(
        description = "Start a shell command (bash) as a background job and return its id at once. \
Options: cwd, env, host, timeout (s, then the whole process tree is killed), pty, stdin (text \
written at start, then end of file unless keep_stdin_open), wait (s: a job that ends sooner comes \
back complete with exit status and output tail), label. Without `stdin`, the job's stdin stays \
open for `interact`.",
        output_schema = schema_for_output::<ExecuteReply>(),
        annotations(destructive_hint = true, open_world_hint = true)
    )]
    async fn execute(
        &self,
        Parameters(p): Parameters<ExecuteParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        guarded(async {
            let max_timeout = self.manager.limits().max_timeout.as_secs_f64();
            let timeout = p
                .timeout
                .map(|t| seconds(t, "timeout", max_timeout))
                .transpose()?;
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(
                    "`timeout` must be more than 0 seconds (omit it for no timeout)".into(),
                );
            }
            let wait = p
                .wait
                .map(|w| seconds(w, "wait", bounds::MAX_WAIT_SECS))
                .transpose()?
                .unwrap_or_default();
            if let Some(s) = &p.stdin
                && s.contains('\0')
            {
                return Err("`stdin` contains a NUL byte; only text can be sent".into());
            }
            let request = JobRequest {
                command: p.command,
                cwd: p.cwd.map(PathBuf::from),
                env: p.env.unwrap_or_default(),
                host: p.host.unwrap_or_else(|| "local".into()),
                timeout,
                pty: p.pty.unwrap_or(false),
                stdin: p.stdin,
                keep_stdin_open: p.keep_stdin_open.unwrap_or(false),
                label: p.label,
            };
            let job = self
                .manager
                .execute(request)
                .await
                .map_err(|e| e.to_string())?;
            if let Phase::Ended {
                end: crate::jobs::End::FailedToStart { reason },
                ..
            } = job.phase()
            {
                return Err(format!("job {} failed to start: {reason}", job.id));
            }
            if !wait.is_zero() {
                let mut progress = Progress::new(ctx.peer.clone(), ctx.meta.get_progress_token());
                wait_jobs(
                    &[Arc::clone(&job)],
                    None,
                    false,
                    wait,
                    &ctx.ct,
                    &mut progress,
                )
                .await
                .map_err(|e| format!("cannot read the job's output: {e}"))?;
            }
            let ended = job.is_ended();
            Ok(ExecuteReply {
                status: JobStatus::of(&job),
                tail: ended.then(|| tail_text(&job, bounds::DEFAULT_TAIL_LINES)),
                cursor: if ended { job.output.len() } else { 0 },
            })
        })
        .await
    }

    #[tool(
        description = "One job's status: state (queued, running, exited, killed, timed_out, \
failed_to_start, lost), exit code or signal, times, duration, pid, host, cwd, command, output \
sizes, resource use when finished, and the policy rule that allowed it.",
        output_schema = schema_for_output::<JobStatus>(),
        annotations(read_only_hint = true)
    )]
    async fn status(&self, Parameters(p): Parameters<JobIdParams>) -> CallToolResult {
        guarded(async { Ok(JobStatus::of(&*self.job(&p.job_id)?)) }).await
    }

    #[tool(
        description = "Read a job's output from a cursor: `since` (default 0), `stream` (combined, \
stdout, stderr), `max_bytes` (default 16384), `grep` (regex: only matching lines, with line \
numbers). Returns the text, the `next` cursor to continue from, whether the job ended, and how \
many bytes were omitted. Reads never consume: read again from any cursor. ANSI escapes are \
stripped and \\r progress lines collapsed unless `raw`.",
        output_schema = schema_for_output::<OutputReply>(),
        annotations(read_only_hint = true)
    )]
    async fn output(&self, Parameters(p): Parameters<OutputParams>) -> CallToolResult {
        guarded(async {
            let job = self.job(&p.job_id)?;
            let (select, stream) = select_of(p.stream);
            let max = max_bytes(p.max_bytes)?;
            let raw = p.raw.unwrap_or(false);
            let re = pattern(p.grep.as_deref(), "grep")?;
            let since = p.since.unwrap_or(0);
            let total = job.output.len();
            if since > total {
                return Err(format!(
                    "cursor {since} is past the end of {}'s output ({total} bytes so far); use a \
`next` or `cursor` value from an earlier call, or 0",
                    job.id
                ));
            }
            // Read `ended` before the output, so that `eof` never claims an end that a late
            // write could contradict.
            let ended = job.is_ended();
            let io_err = |e: std::io::Error| format!("cannot read {}'s output: {e}", job.id);
            let (text, matches, next, omitted, remaining) = match re {
                Some(re) => {
                    let how = search::Reading {
                        select,
                        max_bytes: max,
                        raw,
                        ended,
                    };
                    // A search may scan hundreds of MiB: not on the runtime's threads, which
                    // serve every other call meanwhile.
                    let searched = Arc::clone(&job);
                    let g = tokio::task::spawn_blocking(move || {
                        search::grep(&searched.output, since, &re, bounds::MAX_MATCHES, how)
                    })
                    .await
                    .map_err(|e| format!("the search of {} failed: {e}", job.id))?
                    .map_err(io_err)?;
                    let lines: Vec<GrepLine> = g
                        .matches
                        .into_iter()
                        .map(|m| GrepLine {
                            line: m.line,
                            text: m.text,
                        })
                        .collect();
                    let text = lines.iter().map(|l| format!("{}\n", l.text)).collect();
                    (text, Some(lines), g.next, g.omitted, g.remaining)
                }
                None => {
                    let c =
                        view::read(&job.output, since, select, max, raw, ended).map_err(io_err)?;
                    (c.text, None, c.next, c.omitted, c.remaining)
                }
            };
            Ok(OutputReply {
                job_id: job.id.to_string(),
                stream: stream.into(),
                text,
                matches,
                since,
                next,
                remaining_bytes: remaining,
                omitted_bytes: omitted,
                ended,
                eof: ended && remaining == 0,
            })
        })
        .await
    }

    #[tool(
        description = "The last `lines` lines (default 20) of a job's output, optionally of one \
`stream` and/or only lines matching `grep`, plus the `cursor` where new output will start.",
        output_schema = schema_for_output::<TailReply>(),
        annotations(read_only_hint = true)
    )]
    async fn tail(&self, Parameters(p): Parameters<TailParams>) -> CallToolResult {
        guarded(async {
            let job = self.job(&p.job_id)?;
            let lines = match p.lines {
                None => bounds::DEFAULT_TAIL_LINES,
                Some(0) => return Err("`lines` must be at least 1".into()),
                Some(n) => usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(bounds::MAX_TAIL_LINES),
            };
            let (select, stream) = select_of(p.stream);
            let re = pattern(p.grep.as_deref(), "grep")?;
            let max = max_bytes(p.max_bytes)?;
            let state = job.phase().name();
            let t = view::tail(
                &job.output,
                lines,
                select,
                re.as_ref(),
                max,
                p.raw.unwrap_or(false),
            )
            .map_err(|e| format!("cannot read {}'s output: {e}", job.id))?;
            Ok(TailReply {
                job_id: job.id.to_string(),
                stream: stream.into(),
                text: t.text,
                lines: t.lines,
                cursor: t.cursor,
                truncated: t.truncated,
                state,
            })
        })
        .await
    }

    #[tool(
        description = "Write `input` to a running job's stdin (a newline is appended unless \
`newline: false`; `eof: true` closes stdin), then wait up to `wait_ms` (default 2000) for new \
output, returning as soon as `until` (regex) matches or output has been quiet for `quiet_ms` \
(default 300; not used with `until` unless given). Returns only the output produced after the \
input. A cancelled call returns at once; the job keeps running.",
        output_schema = schema_for_output::<InteractReply>(),
        annotations(destructive_hint = true, open_world_hint = true)
    )]
    async fn interact(
        &self,
        Parameters(p): Parameters<InteractParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        guarded(async {
            let job = self.job(&p.job_id)?;
            if !job.stdin_allowed() {
                let reason = format!(
                    "the policy does not let job {} take input on stdin (input to a running \
program is code too; the policy must allow it with `stdin = true`)",
                    job.id
                );
                self.manager.audit().write(&Record {
                    tool: "interact",
                    host: &job.request.host,
                    command: &job.request.command,
                    cwd: None,
                    job_id: Some(job.id.to_string()),
                    allowed: false,
                    rules: &[],
                    reasons: std::slice::from_ref(&reason),
                    input: p.input.as_deref().map(|i| cut(i, 1024)),
                    sandbox: None,
                });
                return Err(reason);
            }
            let process = match (job.phase(), job.process()) {
                (Phase::Running { .. }, Some(process)) => process,
                (Phase::Queued, _) => {
                    return Err(format!(
                        "job {} is still queued and has no stdin yet; `wait` for it to start",
                        job.id
                    ));
                }
                (phase, _) => {
                    return Err(format!(
                        "job {} is not running ({}), so it takes no input; read what it printed \
with `output` or `tail`",
                        job.id,
                        phase.name().as_str()
                    ));
                }
            };
            if !process.accepts_stdin() {
                return Err(format!(
                    "job {}'s stdin is closed (it was started with `stdin` and no \
`keep_stdin_open`, or `eof` was sent); it cannot take input",
                    job.id
                ));
            }
            let mut input = p.input.clone().unwrap_or_default().into_bytes();
            if input.contains(&0) {
                return Err("`input` contains a NUL byte; only text can be sent".into());
            }
            if p.newline.unwrap_or(true) && !input.is_empty() {
                input.push(b'\n');
            }
            if input.len() > bounds::MAX_INPUT {
                return Err(format!(
                    "`input` is {} bytes; the limit is {} (write large data to a file instead)",
                    input.len(),
                    bounds::MAX_INPUT
                ));
            }
            let wait_ms = p
                .wait_ms
                .unwrap_or(bounds::DEFAULT_INTERACT_MS)
                .min(bounds::MAX_INTERACT_MS);
            let until = pattern(p.until.as_deref(), "until")?;
            let quiet = match (p.quiet_ms, &until) {
                (Some(q), _) => Some(Duration::from_millis(q)),
                (None, None) => Some(Duration::from_millis(bounds::DEFAULT_QUIET_MS)),
                (None, Some(_)) => None,
            };
            let max = max_bytes(p.max_bytes)?;
            let text = String::from_utf8_lossy(&input).into_owned();
            self.manager.audit().write(&Record {
                tool: "interact",
                host: &job.request.host,
                command: &job.request.command,
                cwd: None,
                job_id: Some(job.id.to_string()),
                allowed: true,
                rules: job.rule.as_slice(),
                reasons: &[],
                input: Some(cut(&text, 1024)),
                sandbox: None,
            });
            let start = job.output.len();
            {
                let _gate = job.stdin_gate.lock().await;
                if !input.is_empty() {
                    let write_limit = Duration::from_millis(wait_ms.max(1000));
                    match tokio::time::timeout(write_limit, process.write_stdin(&input)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(format!("cannot write to job {}: {e}", job.id)),
                        Err(_) => {
                            return Err(format!(
                                "job {} is not reading its stdin (the pipe stayed full for {}ms); \
part of the input may have been written",
                                job.id,
                                write_limit.as_millis()
                            ));
                        }
                    }
                }
                if p.eof.unwrap_or(false) {
                    let _ = process.close_stdin().await;
                }
            }
            let mut progress = Progress::new(ctx.peer.clone(), ctx.meta.get_progress_token());
            let matched = wait_for_reply(
                &job,
                start,
                until,
                quiet,
                Duration::from_millis(wait_ms),
                &ctx,
                &mut progress,
            )
            .await?;
            let ended = job.is_ended();
            let chunk = view::read(
                &job.output,
                start,
                Select::Combined,
                max,
                p.raw.unwrap_or(false),
                ended,
            )
            .map_err(|e| format!("cannot read {}'s output: {e}", job.id))?;
            Ok(InteractReply {
                job_id: job.id.to_string(),
                text: chunk.text,
                matched,
                next: chunk.next,
                remaining_bytes: chunk.remaining,
                state: job.phase().name(),
                stdin_open: !ended && process.accepts_stdin(),
            })
        })
        .await
    }

    #[tool(
        description = "Stop a job's whole process tree: `signal` (default TERM), then KILL after \
`grace_ms` (default 3000). Returns the final status. A queued job is removed from the queue. \
Killing an ended job is not an error (it says so, and sweeps any leftover background processes).",
        output_schema = schema_for_output::<KillReply>(),
        annotations(destructive_hint = true, idempotent_hint = true)
    )]
    async fn kill(&self, Parameters(p): Parameters<KillParams>) -> CallToolResult {
        guarded(async {
            let job = self.job(&p.job_id)?;
            let signal = match &p.signal {
                None => nix::sys::signal::Signal::SIGTERM as i32,
                Some(s) => parse_signal(&s.text()).ok_or_else(|| {
                    format!(
                        "unknown signal {:?}: use a name like TERM, INT, HUP, KILL or a number",
                        s.text()
                    )
                })?,
            };
            let grace = match p.grace_ms {
                None => self.manager.limits().kill_grace,
                Some(ms) if ms > bounds::MAX_GRACE_MS => {
                    return Err(format!("`grace_ms` is at most {}", bounds::MAX_GRACE_MS));
                }
                Some(ms) => Duration::from_millis(ms),
            };
            let report = self.manager.kill(&job, signal, grace).await;
            let status = JobStatus::of(&job);
            let mut message = if report.already_ended {
                format!(
                    "job {} had already ended ({}); nothing to kill",
                    job.id, status.summary
                )
            } else {
                format!("job {} stopped: {}", job.id, status.summary)
            };
            if let Some(s) = report.survivors {
                message.push_str(&format!("; warning: {s}"));
            }
            Ok(KillReply {
                already_ended: report.already_ended,
                message,
                status,
            })
        })
        .await
    }

    #[tool(
        description = "All jobs, newest first, one short row each; filter by `state`, `host`, \
`label`; `limit` rows (default 100).",
        output_schema = schema_for_output::<ListReply>(),
        annotations(read_only_hint = true)
    )]
    async fn list(&self, Parameters(p): Parameters<ListParams>) -> CallToolResult {
        guarded(async {
            let state = p
                .state
                .as_deref()
                .map(|s| {
                    StateName::parse(s).ok_or_else(|| {
                        format!(
                            "unknown state {s:?}: use queued, running, exited, killed, timed_out, \
failed_to_start or lost"
                        )
                    })
                })
                .transpose()?;
            let limit = p
                .limit
                .map_or(bounds::DEFAULT_LIST, |l| {
                    usize::try_from(l).unwrap_or(usize::MAX)
                })
                .min(bounds::MAX_LIST);
            let jobs = self.manager.list(&ListFilter {
                state,
                host: p.host,
                label: p.label,
            });
            let total = jobs.len();
            let rows = jobs
                .iter()
                .take(limit)
                .map(|j| {
                    let s = JobStatus::of(j);
                    JobRow {
                        job_id: s.job_id,
                        state: s.state,
                        summary: s.summary,
                        command: one_line(&s.command, 200),
                        host: s.host,
                        label: s.label,
                        exit_code: s.exit_code,
                        created_at: s.created_at,
                    }
                })
                .collect();
            Ok(ListReply { jobs: rows, total })
        })
        .await
    }

    #[tool(
        description = "Wait for one job (`job_id`) or several (`job_ids`) to end — all of them, or \
`any` — or for a line matching `until` (regex) to appear in their output, up to `timeout` \
seconds (default 30). Returns their status and the matching line or the output tail. Sends \
progress notifications while waiting; a cancelled wait returns at once and the jobs keep running.",
        output_schema = schema_for_output::<WaitReply>(),
        annotations(read_only_hint = true)
    )]
    async fn wait(
        &self,
        Parameters(p): Parameters<WaitParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        guarded(async {
            let mut ids: Vec<String> = p.job_ids.unwrap_or_default();
            ids.extend(p.job_id);
            if ids.is_empty() {
                return Err("give `job_id` or `job_ids`".into());
            }
            let mut jobs: Vec<Arc<Job>> = Vec::with_capacity(ids.len());
            for id in &ids {
                let job = self.job(id)?;
                if !jobs.iter().any(|j| j.id == job.id) {
                    jobs.push(job);
                }
            }
            let timeout = seconds(
                p.timeout.unwrap_or(bounds::DEFAULT_WAIT_SECS),
                "timeout",
                bounds::MAX_WAIT_SECS,
            )?;
            let until = pattern(p.until.as_deref(), "until")?;
            let lines = p
                .lines
                .map_or(10, |l| usize::try_from(l).unwrap_or(usize::MAX))
                .min(bounds::MAX_TAIL_LINES);
            let mut progress = Progress::new(ctx.peer.clone(), ctx.meta.get_progress_token());
            let r = wait_jobs(
                &jobs,
                until.as_ref(),
                p.any.unwrap_or(false),
                timeout,
                &ctx.ct,
                &mut progress,
            )
            .await
            .map_err(|e| format!("cannot read the jobs' output: {e}"))?;
            let items = jobs
                .iter()
                .zip(r.matched)
                .map(|(j, m)| WaitItem {
                    status: JobStatus::of(j),
                    tail: if lines == 0 {
                        String::new()
                    } else {
                        tail_text(j, lines)
                    },
                    matched_line: m,
                })
                .collect();
            Ok(WaitReply {
                done: r.done,
                timed_out: r.timed_out,
                cancelled: r.cancelled,
                jobs: items,
            })
        })
        .await
    }

    #[tool(
        description = "Ask the policy whether a command would be allowed on a host, and why, \
without running it: every program the command would run, and the rule that decides each.",
        output_schema = schema_for_output::<CheckReply>(),
        annotations(read_only_hint = true)
    )]
    async fn check(&self, Parameters(p): Parameters<CheckParams>) -> CallToolResult {
        guarded(async {
            let host = p.host.unwrap_or_else(|| "local".into());
            let cwd = p.cwd.map(PathBuf::from);
            let policy = self.manager.policy_for(&host);
            let v = policy.check(&CheckRequest {
                command: &p.command,
                host: &host,
                cwd: cwd.as_deref(),
                env: &[],
            });
            let summary = v.summary();
            let sandbox = match self.manager.sandbox() {
                Some(s) if host == "local" => Some(s.summary()),
                _ => None,
            };
            let sandbox_text = sandbox.as_ref().map(SandboxSummary::text);
            self.manager.audit().write(&Record {
                tool: "check",
                host: &host,
                command: &p.command,
                cwd: cwd.as_ref().and_then(|c| c.to_str()),
                job_id: None,
                allowed: v.allowed,
                rules: &v.rules,
                reasons: if v.allowed {
                    &[]
                } else {
                    std::slice::from_ref(&summary)
                },
                input: None,
                sandbox: sandbox_text.as_deref(),
            });
            Ok(CheckReply {
                allowed: v.allowed,
                summary,
                host,
                sandbox,
                commands: v
                    .commands
                    .into_iter()
                    .map(|c| CheckedCommand {
                        command: c.command,
                        decision: match c.decision {
                            Decision::Allowed => "allowed",
                            Decision::Denied => "denied",
                            Decision::Refused => "refused",
                        }
                        .into(),
                        rule: c.rule,
                        reason: c.reason,
                    })
                    .collect(),
                refusals: v.refusals,
                stdin: v.stdin,
                policy: policy.source.clone(),
            })
        })
        .await
    }

    #[tool(
        description = "Forget ended jobs and delete their logs: `job_id`/`job_ids`, or those that \
ended more than `older_than` seconds ago, or `all` (the default). Running jobs are never cleaned.",
        output_schema = schema_for_output::<CleanReply>(),
        annotations(destructive_hint = true, idempotent_hint = true)
    )]
    async fn clean(&self, Parameters(p): Parameters<CleanParams>) -> CallToolResult {
        guarded(async {
            let mut ids: Vec<String> = p.job_ids.unwrap_or_default();
            ids.extend(p.job_id);
            let scope = if !ids.is_empty() {
                let mut parsed = Vec::with_capacity(ids.len());
                for id in &ids {
                    parsed.push(JobId::parse(id).ok_or_else(|| {
                        format!("unknown job {id:?}: job ids look like j1, j2, ...")
                    })?);
                }
                CleanScope::Ids(parsed)
            } else if let Some(age) = p.older_than {
                CleanScope::OlderThan(seconds(age, "older_than", f64::from(u32::MAX))?)
            } else {
                CleanScope::All
            };
            let removed = self.manager.clean(&scope).map_err(|e| e.to_string())?;
            Ok(CleanReply {
                removed: removed.iter().map(ToString::to_string).collect(),
                remaining: self.manager.list(&ListFilter::default()).len(),
            })
        })
        .await
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Waits for the reply to an `interact`: until `until` matches, the output goes quiet, the job
/// ends, the wait runs out, or the client cancels. Returns whether `until` matched.
async fn wait_for_reply(
    job: &Arc<Job>,
    start: u64,
    until: Option<Regex>,
    quiet: Option<Duration>,
    wait: Duration,
    ctx: &RequestContext<RoleServer>,
    progress: &mut Progress,
) -> Result<bool, String> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut matcher = until.map(|re| LineMatcher::new(re, start));
    let mut seen = start;
    let mut last_change = tokio::time::Instant::now();
    loop {
        let changed = job.output.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Some(m) = &mut matcher
            && m.scan(&job.output)
                .map_err(|e| format!("cannot read {}'s output: {e}", job.id))?
                .is_some()
        {
            return Ok(true);
        }
        if job.is_ended() || ctx.ct.is_cancelled() {
            return Ok(false);
        }
        let now = tokio::time::Instant::now();
        let len = job.output.len();
        if len > seen {
            seen = len;
            last_change = now;
        }
        let quiet_at = match quiet {
            Some(q) if seen > start => last_change + q,
            _ => deadline,
        };
        let wake = deadline.min(quiet_at);
        if now >= wake {
            return Ok(false);
        }
        progress.tick(std::slice::from_ref(job)).await;
        let wake = wake.min(progress.due());
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(wake) => {}
            () = ctx.ct.cancelled() => {}
        }
    }
}

// The router is built once, in `new`: the macro's default would rebuild it (and every schema)
// on each call.
#[tool_handler(router = self.tool_router)]
impl ServerHandler for JobServer {
    fn get_info(&self) -> ServerConfig {
        let mut implementation = rmcp::model::Implementation::from_build_env();
        implementation.name = "mcp-jobs".into();
        implementation.version = env!("CARGO_PKG_VERSION").into();
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_tasks()
                .build(),
        )
        .with_server_info(implementation)
        .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // A client that speaks the tasks extension gets a task for a job still running when
        // `execute` returns; everyone else gets the plain result.
        let wants_task = request.name == "execute"
            && context
                .client_capabilities()
                .is_some_and(|c| c.supports_tasks());
        let call = ToolCallContext::new(self, request, context);
        let response = self.tool_router.call(call).await?;
        if wants_task
            && let CallToolResponse::Complete(result) = &response
            && result.is_error != Some(true)
            && let Some(id) = result
                .structured_content
                .as_ref()
                .and_then(|v| v.get("job_id"))
                .and_then(|v| v.as_str())
            && let Ok(job) = self.manager.get(id)
            && !job.is_ended()
        {
            return Ok(CallToolResponse::Task(CreateTaskResult::new(
                tasks::task_of(&job),
            )));
        }
        Ok(response)
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        tasks::get(&self.manager, &self.cancelled_tasks, &request.task_id).map(GetTaskResult::new)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        tasks::cancel(&self.manager, &self.cancelled_tasks, &request.task_id).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // Tell this client when jobs come and go (its resource list changes), at most twice a
        // second.
        let mut listing = self.manager.listing();
        let peer = context.peer;
        tokio::spawn(async move {
            loop {
                match listing.recv().await {
                    Ok(()) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                while listing.try_recv().is_ok() {}
                if peer.notify_resource_list_changed().await.is_err() {
                    return;
                }
            }
        });
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(resources::list(&self.manager))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.manager, &request.uri).map(Into::into)
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions
            .subscribe(&self.manager, &request.uri, context.peer)
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.unsubscribe(&request.uri);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_tool_body_becomes_an_error_result() {
        let r = guarded::<JobStatus>(async { panic!("boom") }).await;
        assert_eq!(r.is_error, Some(true));
        let text = r.content[0]
            .as_text()
            .map(|t| t.text.clone())
            .unwrap_or_default();
        assert!(
            text.contains("boom") && text.contains("still running"),
            "{text}"
        );
    }
}
