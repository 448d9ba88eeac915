//! `interact`: input to a running job's stdin, under the policy and in the audit log, then the
//! wait for the job's reply.

use std::sync::Arc;
use std::time::Duration;

use regex::bytes::Regex;
use tokio_util::sync::CancellationToken;

use super::JobError;
use super::manager::JobManager;
use super::wait::{Heartbeat, Reply, wait_for_reply};
use super::{Job, Phase};
use crate::audit::Record;
use crate::config::bounds;

/// What to send, and how to wait for the reply.
pub struct InteractRequest {
    /// Text for the job's stdin (may be empty: only wait, or only close).
    pub input: String,
    /// Append a newline to a non-empty `input`.
    pub newline: bool,
    /// Close stdin after writing.
    pub eof: bool,
    /// Longest wait for the reply.
    pub wait: Duration,
    /// Return as soon as a line of the reply matches.
    pub until: Option<Regex>,
    /// Return once the reply has been quiet this long (`None`: only `until` or `wait` end it).
    pub quiet: Option<Duration>,
}

/// What came of it.
pub struct InteractOutcome {
    /// Where the reply starts in the job's output.
    pub start: u64,
    /// Whether `until` matched.
    pub matched: bool,
    /// Whether the job can take more input.
    pub stdin_open: bool,
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl JobManager {
    /// Writes `r.input` to the job's stdin (if the policy lets it take input: input to a running
    /// program is code too), then waits for the reply. Every attempt is audited.
    pub async fn interact(
        &self,
        job: &Arc<Job>,
        r: InteractRequest,
        ct: &CancellationToken,
        heartbeat: &mut dyn Heartbeat,
    ) -> Result<InteractOutcome, JobError> {
        let record = |allowed: bool, reasons: &[String], input: &str| {
            self.audit().write(&Record {
                tool: "interact",
                host: &job.request.host,
                command: &job.request.command,
                cwd: None,
                job_id: Some(job.id.to_string()),
                allowed,
                rules: if allowed { job.rule.as_slice() } else { &[] },
                reasons,
                input: Some(cut(input, 1024)),
                sandbox: None,
            });
        };
        if !job.stdin_allowed() {
            let reason = format!(
                "the policy does not let job {} take input on stdin (input to a running program \
is code too; the policy must allow it with `stdin = true`)",
                job.id
            );
            record(false, std::slice::from_ref(&reason), &r.input);
            return Err(JobError::Refused(reason));
        }
        let process = match (job.phase(), job.process()) {
            (Phase::Running { .. }, Some(process)) => process,
            (Phase::Queued, _) => {
                return Err(JobError::BadRequest(format!(
                    "job {} is still queued and has no stdin yet; `wait` for it to start",
                    job.id
                )));
            }
            (phase, _) => {
                return Err(JobError::BadRequest(format!(
                    "job {} is not running ({}), so it takes no input; read what it printed \
with `output` or `tail`",
                    job.id,
                    phase.name().as_str()
                )));
            }
        };
        if !process.accepts_stdin() {
            return Err(JobError::BadRequest(format!(
                "job {}'s stdin is closed (it was started with `stdin` and no \
`keep_stdin_open`, or `eof` was sent); it cannot take input",
                job.id
            )));
        }
        let mut input = r.input.into_bytes();
        if input.contains(&0) {
            return Err(JobError::BadRequest(
                "`input` contains a NUL byte; only text can be sent".into(),
            ));
        }
        if r.newline && !input.is_empty() {
            input.push(b'\n');
        }
        if input.len() > bounds::MAX_INPUT {
            return Err(JobError::BadRequest(format!(
                "`input` is {} bytes; the limit is {} (write large data to a file instead)",
                input.len(),
                bounds::MAX_INPUT
            )));
        }
        record(true, &[], &String::from_utf8_lossy(&input));
        let start = job.output.len();
        let before = process.activity();
        {
            let _gate = job.stdin_gate.lock().await;
            if !input.is_empty() {
                let write_limit = r.wait.max(Duration::from_secs(1));
                let written = tokio::time::timeout(write_limit, process.write_stdin(&input)).await;
                job.note_input();
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(JobError::BadRequest(format!(
                            "cannot write to job {}: {e}",
                            job.id
                        )));
                    }
                    Err(_) => {
                        return Err(JobError::BadRequest(format!(
                            "job {} is not reading its stdin (the pipe stayed full for {}ms); \
part of the input may have been written",
                            job.id,
                            write_limit.as_millis()
                        )));
                    }
                }
            }
            if r.eof {
                let _ = process.close_stdin().await;
            }
        }
        let reply = Reply {
            start,
            until: r.until,
            quiet: r.quiet,
            wait: r.wait,
            before,
        };
        let matched = wait_for_reply(job, reply, ct, heartbeat)
            .await
            .map_err(|e| JobError::Output(job.id, e))?;
        Ok(InteractOutcome {
            start,
            matched,
            stdin_open: !job.is_ended() && process.accepts_stdin(),
        })
    }
}
