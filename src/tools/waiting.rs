//! Results about waiting: a job's wait for input (in `status`, `list` and `wait`) and the
//! `wait` tool's result.

use schemars::JsonSchema;
use serde::Serialize;

use super::replies::{JobStatus, Reply};
use crate::jobs::InputWait;
use crate::jobs::wait::WaitEnd;

/// The job is blocked reading its stdin (absent when it is not, or where this cannot be seen:
/// SSH jobs). Answer with `interact`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InputWaitReply {
    /// Since when, as far as seen: its last output or input (RFC 3339).
    pub since: String,
    /// The last line of its output, cleaned: the prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

impl From<InputWait> for InputWaitReply {
    fn from(w: InputWait) -> Self {
        Self {
            since: w.since.wall.to_rfc3339(),
            prompt: w.prompt,
        }
    }
}

impl InputWaitReply {
    /// `waiting for input: Continue? [y/N]`
    pub fn line(&self) -> String {
        match &self.prompt {
            Some(p) => format!("waiting for input: {p}"),
            None => "waiting for input".into(),
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WaitItem {
    #[serde(flatten)]
    pub status: JobStatus,
    /// The last lines of output.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tail: String,
    /// The line that matched `until`, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_line: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WaitReply {
    /// Why the wait returned: `done` (the jobs ended, or `until` matched), `waiting_for_input`
    /// (a job is blocked reading its stdin: see its `waiting_for_input.prompt`), `timed_out`
    /// or `cancelled` (the jobs keep running).
    pub reason: WaitEnd,
    /// The jobs, each with its status.
    pub jobs: Vec<WaitItem>,
}

impl Reply for WaitReply {
    fn text(&self) -> String {
        let mut t = String::new();
        match self.reason {
            WaitEnd::Done => {}
            WaitEnd::WaitingForInput => t.push_str("wait ended: a job waits for input\n"),
            WaitEnd::TimedOut => t.push_str("wait timed out; the jobs keep running\n"),
            WaitEnd::Cancelled => t.push_str("wait cancelled; the jobs keep running\n"),
        }
        for j in &self.jobs {
            t.push_str(&j.status.line());
            t.push('\n');
            if let Some(w) = &j.status.waiting_for_input {
                t.push_str(&w.line());
                t.push('\n');
            }
            if let Some(m) = &j.matched_line {
                t.push_str(&format!("matched: {m}\n"));
            }
            if !j.tail.is_empty() {
                t.push_str("--- tail ---\n");
                t.push_str(&j.tail);
                if !j.tail.ends_with('\n') {
                    t.push('\n');
                }
            }
        }
        t
    }
}
