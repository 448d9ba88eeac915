//! Tool arguments. Doc comments become the JSON schema descriptions an agent reads.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// Which output stream to read.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    /// stdout and stderr in the order they were produced.
    #[default]
    Combined,
    Stdout,
    Stderr,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecuteParams {
    /// The command line, run by `bash -c`.
    pub command: String,
    /// Working directory (must exist).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment variables to add.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// Where to run: `local` (default) or a configured host.
    #[serde(default)]
    pub host: Option<String>,
    /// Or several hosts: one job each, as a group (`g1`).
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// Or every host with this tag, as a group.
    #[serde(default)]
    pub tag: Option<String>,
    /// Seconds, then the job's tree is killed (`timed_out`).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Run under a pseudo-terminal (stdout and stderr merge).
    #[serde(default)]
    pub pty: Option<bool>,
    /// stderr into stdout (`2>&1`): one stream, in exact write order.
    #[serde(default)]
    pub merge_stderr: Option<bool>,
    /// Text for stdin at start, then end of file.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Keep stdin open after `stdin`, for `interact`.
    #[serde(default)]
    pub keep_stdin_open: Option<bool>,
    /// Seconds to wait for the job to end (default 0: return at once).
    #[serde(default)]
    pub wait: Option<f64>,
    /// A short name for the job (a `list` filter).
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatusParams {
    /// The job id returned by `execute`, e.g. `j3`.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Or a group id, e.g. `g1`: each host's job.
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct OutputParams {
    /// The job id, e.g. `j3`.
    pub job_id: String,
    /// `combined` (default), `stdout` or `stderr`.
    #[serde(default)]
    pub stream: Option<StreamName>,
    /// Cursor to read from (a `next` or `cursor` value). Default 0.
    #[serde(default)]
    pub since: Option<u64>,
    /// Or the 1-based line to read from.
    #[serde(default)]
    pub line: Option<u64>,
    /// How many lines to read (max 10000).
    #[serde(default)]
    pub lines: Option<u64>,
    /// Most bytes of text (default 16384, max 1048576).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Regex: only matching lines, with line numbers and cursors.
    #[serde(default)]
    pub grep: Option<String>,
    /// Lines around each `grep` match (max 50).
    #[serde(default)]
    pub context: Option<u64>,
    /// Keep ANSI escapes and carriage returns.
    #[serde(default)]
    pub raw: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TailParams {
    /// The job id, e.g. `j3`.
    pub job_id: String,
    /// How many lines (default 20, at most 10000).
    #[serde(default)]
    pub lines: Option<u64>,
    /// `combined` (default), `stdout` or `stderr`.
    #[serde(default)]
    pub stream: Option<StreamName>,
    /// Regex: the last lines that match it.
    #[serde(default)]
    pub grep: Option<String>,
    /// Most bytes of text (default 16384, max 1048576).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Keep ANSI escapes and carriage returns.
    #[serde(default)]
    pub raw: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InteractParams {
    /// The job id, e.g. `j3`. The job must be running with its stdin open.
    pub job_id: String,
    /// Text for the job's stdin; may be empty (to wait for output, or send `eof`).
    #[serde(default)]
    pub input: Option<String>,
    /// Append a newline to `input` (default true).
    #[serde(default)]
    pub newline: Option<bool>,
    /// Close stdin after writing (the job reads end of file).
    #[serde(default)]
    pub eof: Option<bool>,
    /// Most milliseconds to wait for output (default 2000, at most 120000).
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// Regex: return as soon as the new output matches it (e.g. a prompt like `>>> $`).
    #[serde(default)]
    pub until: Option<String>,
    /// Return once output is quiet this many ms (default 300).
    #[serde(default)]
    pub quiet_ms: Option<u64>,
    /// Most bytes of text (default 16384, max 1048576).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Keep ANSI escapes and carriage returns.
    #[serde(default)]
    pub raw: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct KillParams {
    /// The job id, e.g. `j3`.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Or a group id (`g1`): all its jobs.
    #[serde(default)]
    pub group: Option<String>,
    /// Signal sent first: `TERM` (default), `INT`, `HUP`, `KILL`, ... or a number.
    #[serde(default)]
    pub signal: Option<SignalArg>,
    /// Milliseconds before KILL (default 3000, max 60000).
    #[serde(default)]
    pub grace_ms: Option<u64>,
}

/// A signal, by name (`TERM`, `SIGTERM`) or number (`15`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SignalArg {
    Name(String),
    Number(i64),
}

impl SignalArg {
    pub fn text(&self) -> String {
        match self {
            SignalArg::Name(s) => s.clone(),
            SignalArg::Number(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListParams {
    /// Only jobs in this state: queued, running, exited, killed, timed_out, failed_to_start, lost.
    #[serde(default)]
    pub state: Option<String>,
    /// Only jobs on this host.
    #[serde(default)]
    pub host: Option<String>,
    /// Only jobs with this label.
    #[serde(default)]
    pub label: Option<String>,
    /// Only the jobs of this group (`g1`).
    #[serde(default)]
    pub group: Option<String>,
    /// Most rows (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitParams {
    /// One job id to wait for.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Several job ids to wait for.
    #[serde(default)]
    pub job_ids: Option<Vec<String>>,
    /// Or a group id (`g1`): its jobs.
    #[serde(default)]
    pub group: Option<String>,
    /// Most seconds to wait (default 30, max 3600); the jobs keep running.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Regex: return when a line of output matches it.
    #[serde(default)]
    pub until: Option<String>,
    /// Return when any one job is done (default: all).
    #[serde(default)]
    pub any: Option<bool>,
    /// Tail lines per job (default 10).
    #[serde(default)]
    pub lines: Option<u64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CleanParams {
    /// Forget this ended job.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Forget these ended jobs.
    #[serde(default)]
    pub job_ids: Option<Vec<String>>,
    /// Forget jobs that ended more than this many seconds ago.
    #[serde(default)]
    pub older_than: Option<f64>,
    /// Forget every ended job.
    #[serde(default)]
    pub all: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CheckParams {
    /// The command line to check (as it would be given to `execute`).
    pub command: String,
    /// The host it would run on (default `local`).
    #[serde(default)]
    pub host: Option<String>,
    /// The working directory it would run in.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment variables it would be given (as for `execute`).
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct HostsParams {
    /// Connect; add OS, CPUs, load, round trip.
    #[serde(default)]
    pub probe: Option<bool>,
    /// Only this host, probed.
    #[serde(default)]
    pub host: Option<String>,
}
