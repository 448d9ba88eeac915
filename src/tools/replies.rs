//! Tool results: the structured JSON (with its schema) and the short text rendering beside it.

use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

pub use super::check_reply::*;
pub use super::list_reply::*;
use super::waiting::InputWaitReply;
use crate::jobs::state::describe_end;
use crate::jobs::state::signal_name;
use crate::jobs::{End, InputWait, Job, Phase, StateName};

/// A tool result that knows its short text rendering.
pub trait Reply: Serialize {
    fn text(&self) -> String;
}

/// Turns a tool's result into an MCP result: structured content plus text, or an error the
/// agent reads (`isError: true`).
pub fn reply<T: Reply>(result: Result<T, String>) -> CallToolResult {
    match result {
        Ok(value) => match serde_json::to_value(&value) {
            Ok(json) => {
                let mut r = CallToolResult::structured(json);
                r.content = vec![ContentBlock::text(value.text())];
                r
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "internal error: cannot encode the result: {e}"
            ))]),
        },
        Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
    }
}

/// Output sizes of a job.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OutputSizes {
    /// Bytes produced so far; also the cursor where new output will start.
    pub total_bytes: u64,
    /// Bytes written to stdout.
    pub stdout_bytes: u64,
    /// Bytes written to stderr.
    pub stderr_bytes: u64,
    /// Bytes dropped by the per-job log cap (the head and the tail are kept); absent: none.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted_bytes: u64,
}

/// Resource use of a finished job's main process and the children it waited for.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Usage {
    /// CPU time in user space, in milliseconds.
    pub user_cpu_ms: u64,
    /// CPU time in the kernel, in milliseconds.
    pub system_cpu_ms: u64,
    /// Peak resident memory of the main process, in bytes.
    pub max_rss_bytes: u64,
}

/// One job's status.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobStatus {
    /// The job id, e.g. `j3`.
    pub job_id: String,
    /// queued, running, exited, killed, timed_out, failed_to_start or lost.
    pub state: StateName,
    /// One line saying how the job is or how it ended.
    pub summary: String,
    /// The command line (left out of `execute` and `kill` replies: the caller has it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
    /// Where it runs: `local` or a configured SSH host.
    pub host: String,
    /// The label given at `execute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The fan-out it is one host's part of, e.g. `g1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Process id of the job's main process (on a remote host, its process group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Exit code, when it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Name of the signal that ended the job, e.g. SIGTERM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Why the job failed to start or was lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the job was created (RFC 3339), until it starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the job started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the job ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Running time so far, or in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The job's timeout, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The job runs under a pseudo-terminal (absent: it does not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pty: bool,
    /// stderr was sent into stdout (`merge_stderr`): all output is in the stdout stream.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub merge_stderr: bool,
    /// `interact` can write to the job now (absent: it cannot).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for_input: Option<InputWaitReply>,
    pub output: OutputSizes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The policy rule that allowed the job (when a policy is in force; absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_rule: Option<String>,
    /// The kernel sandbox the job runs in: what it may write, whether it may use the network
    /// (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<crate::sandbox::SandboxSummary>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn secs_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2}s")
    } else if s < 120.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

impl JobStatus {
    /// The job's status now (whether it waits for input included: a few `/proc` reads).
    pub fn of(job: &Job) -> Self {
        Self::seen(job, job.input_wait())
    }

    /// The job's status, with its wait for input as already seen.
    pub fn seen(job: &Job, waiting: Option<InputWait>) -> Self {
        let phase = job.phase();
        let extent = job.output.extent();
        let r = &job.request;
        let (mut pid, mut exit_code, mut signal, mut reason) = (None, None, None, None);
        let (mut started_at, mut ended_at, mut usage) = (None, None, None);
        let summary = match &phase {
            Phase::Queued => "queued, waiting for a free slot".to_string(),
            Phase::Running { started, pid: p } => {
                // A remote job's id (its process group) is only known once it has started.
                pid = p.or_else(|| job.process().and_then(|pr| pr.pid()));
                started_at = Some(started.wall.to_rfc3339());
                let running = format!("running for {}", secs_text(started.mono.elapsed()));
                match &waiting {
                    Some(w) => format!(
                        "{running}, waiting for input for {}",
                        secs_text(w.since.mono.elapsed())
                    ),
                    None => running,
                }
            }
            Phase::Ended {
                started,
                ended,
                end,
                usage: u,
            } => {
                started_at = started.map(|s| s.wall.to_rfc3339());
                ended_at = Some(ended.wall.to_rfc3339());
                usage = u.map(|u| Usage {
                    user_cpu_ms: ms(u.user_cpu),
                    system_cpu_ms: ms(u.system_cpu),
                    max_rss_bytes: u.max_rss_bytes,
                });
                match end {
                    End::Exited { code } => exit_code = Some(*code),
                    End::Killed { signal: s, .. } => signal = s.map(signal_name),
                    End::TimedOut { signal: s, code } => {
                        signal = s.map(signal_name);
                        exit_code = *code;
                    }
                    End::FailedToStart { reason: why } | End::Lost { reason: why } => {
                        reason = Some(why.clone());
                    }
                }
                match phase.duration() {
                    Some(d) => format!("{} after {}", describe_end(end), secs_text(d)),
                    None => describe_end(end),
                }
            }
        };
        let stdin_open = matches!(phase, Phase::Running { .. })
            && job.process().is_some_and(|p| p.accepts_stdin());
        JobStatus {
            job_id: job.id.to_string(),
            state: phase.name(),
            summary,
            command: r.command.clone(),
            host: r.host.clone(),
            label: r.label.clone(),
            cwd: r.cwd.as_ref().map(|c| c.display().to_string()),
            pid,
            exit_code,
            signal,
            reason,
            group: r.group.map(|g| g.to_string()),
            created_at: started_at.is_none().then(|| job.created.wall.to_rfc3339()),
            started_at,
            ended_at,
            duration_ms: phase.duration().map(ms),
            timeout_ms: r.timeout.map(ms),
            pty: r.pty,
            merge_stderr: r.merge_stderr,
            stdin_open,
            waiting_for_input: waiting.map(InputWaitReply::from),
            output: OutputSizes {
                total_bytes: extent.total,
                stdout_bytes: extent.stdout,
                stderr_bytes: extent.stderr,
                omitted_bytes: extent.omitted,
            },
            usage,
            // Without a policy file every job is allowed by the same default: nothing to say.
            policy_rule: job.rule.clone().filter(|r| !r.ends_with("(no policy)")),
            sandbox: job.sandbox(),
        }
    }

    /// `j3 exited with code 0 after 1.20s: cargo build`
    pub fn line(&self) -> String {
        let label = self
            .label
            .as_ref()
            .map(|l| format!(" [{l}]"))
            .unwrap_or_default();
        let host = if self.host == "local" {
            String::new()
        } else {
            format!(" on {}", self.host)
        };
        if self.command.is_empty() {
            return format!("{}{label}{host} {}", self.job_id, self.summary);
        }
        format!(
            "{}{label}{host} {}: {}",
            self.job_id,
            self.summary,
            one_line(&self.command, 120)
        )
    }
}

/// The first line of `s`, cut to `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

impl Reply for JobStatus {
    fn text(&self) -> String {
        let mut t = self.line();
        if let Some(pid) = self.pid {
            t.push_str(&format!("\npid {pid}"));
        }
        t.push_str(&format!(
            "\noutput: {} bytes ({} stdout, {} stderr{}{})",
            self.output.total_bytes,
            self.output.stdout_bytes,
            self.output.stderr_bytes,
            if self.merge_stderr {
                " merged into stdout"
            } else {
                ""
            },
            if self.output.omitted_bytes > 0 {
                format!(", {} omitted by the log cap", self.output.omitted_bytes)
            } else {
                String::new()
            }
        ));
        if let Some(w) = &self.waiting_for_input {
            t.push('\n');
            t.push_str(&w.line());
        }
        if let Some(u) = &self.usage {
            t.push_str(&format!(
                "\ncpu {}ms user + {}ms system, peak memory {} KiB",
                u.user_cpu_ms,
                u.system_cpu_ms,
                u.max_rss_bytes / 1024
            ));
        }
        t
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExecuteReply {
    #[serde(flatten)]
    pub status: JobStatus,
    /// The last lines of output, when the job ended within `wait`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
    /// Cursor where unread output starts (for `output`'s `since`); absent: 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub cursor: u64,
}

impl Reply for ExecuteReply {
    fn text(&self) -> String {
        let mut t = self.status.line();
        match &self.tail {
            Some(tail) => {
                t.push_str("\n--- output (tail) ---\n");
                t.push_str(tail);
            }
            None if self.status.state.is_ended() => t.push_str("\n(no output)"),
            None if self.status.state == StateName::Running => t.push_str(&format!(
                "\nUse status/tail/output/wait with job_id {} to follow it.",
                self.status.job_id
            )),
            None => {}
        }
        t
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TailReply {
    /// The job id, e.g. `j3`.
    pub job_id: String,
    /// Which output was read: combined, stdout or stderr.
    pub stream: String,
    /// The text, cleaned (ANSI escapes stripped) unless `raw`.
    pub text: String,
    /// Lines returned.
    pub lines: usize,
    /// Where new output will start: pass it to `output` as `since`.
    pub cursor: u64,
    /// Older lines were left out (size bound, or they fell out of the log cap).
    pub truncated: bool,
    pub state: StateName,
}

impl Reply for TailReply {
    fn text(&self) -> String {
        let mut t = self.text.clone();
        if t.is_empty() {
            t.push_str("(no output)");
        }
        t.push_str(&format!(
            "\n[{} {}; {} line(s); cursor {}]",
            self.job_id,
            self.state.as_str(),
            self.lines,
            self.cursor
        ));
        t
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct InteractReply {
    /// The job id, e.g. `j3`.
    pub job_id: String,
    /// Output produced after the input was written.
    pub text: String,
    /// Whether `until` matched.
    pub matched: bool,
    /// Cursor after the returned text.
    pub next: u64,
    /// Bytes after `next` not returned (read them with `output`).
    pub remaining_bytes: u64,
    pub state: StateName,
    /// Whether `interact` can write to the job now.
    pub stdin_open: bool,
}

impl Reply for InteractReply {
    fn text(&self) -> String {
        let mut t = self.text.clone();
        if t.is_empty() {
            t.push_str("(no new output)");
        }
        if self.remaining_bytes > 0 {
            t.push_str(&format!(
                "\n[{} bytes more; continue with output since={}]",
                self.remaining_bytes, self.next
            ));
        }
        if self.state != StateName::Running {
            t.push_str(&format!(
                "\n[{} has ended: {}]",
                self.job_id,
                self.state.as_str()
            ));
        }
        t
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct KillReply {
    /// The job had already ended before this kill: nothing was stopped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_ended: bool,
    /// Processes that outlived the kill, when some did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(flatten)]
    pub status: JobStatus,
}

impl Reply for KillReply {
    fn text(&self) -> String {
        let mut t = if self.already_ended {
            format!("{} had already ended: nothing to kill", self.status.line())
        } else {
            format!("stopped: {}", self.status.line())
        };
        if let Some(w) = &self.warning {
            t.push_str(&format!("\nwarning: {w}"));
        }
        t
    }
}
