//! What every tool shares: its error type, and the checks and conversions of common arguments.

use std::time::Duration;

use regex::bytes::Regex;

use super::params::StreamName;
use crate::config::bounds;
use crate::jobs::{Job, JobError};
use crate::output::Select;
use crate::output::view::{self, compile_pattern};

/// Why a tool call failed; the message is what the agent reads.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The JobManager refused or could not do it.
    #[error(transparent)]
    Job(#[from] JobError),
    /// An argument is wrong; the message says which and how.
    #[error("{0}")]
    Argument(String),
}

impl From<String> for ToolError {
    fn from(message: String) -> Self {
        ToolError::Argument(message)
    }
}

impl From<&str> for ToolError {
    fn from(message: &str) -> Self {
        ToolError::Argument(message.to_string())
    }
}

pub(super) fn select_of(s: Option<StreamName>) -> (Select, &'static str) {
    match s.unwrap_or_default() {
        StreamName::Combined => (Select::Combined, "combined"),
        StreamName::Stdout => (Select::Stdout, "stdout"),
        StreamName::Stderr => (Select::Stderr, "stderr"),
    }
}

pub(super) fn max_bytes(v: Option<u64>) -> Result<usize, ToolError> {
    match v {
        None => Ok(bounds::DEFAULT_MAX_BYTES),
        Some(0) => Err("`max_bytes` must be at least 1".into()),
        Some(n) => Ok(usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(bounds::MAX_MAX_BYTES)),
    }
}

pub(super) fn seconds(v: f64, name: &str, max: f64) -> Result<Duration, ToolError> {
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{name}` must be a non-negative number of seconds, not {v}").into());
    }
    if v > max {
        return Err(format!("`{name}` is {v}s; the maximum is {max}s").into());
    }
    Ok(Duration::from_secs_f64(v))
}

pub(super) fn pattern(p: Option<&str>, name: &str) -> Result<Option<Regex>, ToolError> {
    p.map(|p| compile_pattern(p).map_err(|e| ToolError::Argument(format!("`{name}`: {e}"))))
        .transpose()
}

pub(super) fn tail_text(job: &Job, lines: usize) -> String {
    tail_within(job, lines, bounds::DEFAULT_MAX_BYTES)
}

/// The last `lines` of a job's output, in at most about `max_bytes`.
pub(super) fn tail_within(job: &Job, lines: usize, max_bytes: usize) -> String {
    view::tail(&job.output, lines, Select::Combined, None, max_bytes, false)
        .map(|t| t.text)
        .unwrap_or_else(|e| format!("(cannot read the output: {e})"))
}
