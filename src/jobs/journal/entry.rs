//! The journal's lines: one entry per job event, as JSON.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::jobs::state::End;

/// How a job's output was stored, to read its log again.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Layout {
    pub head_cap: u64,
    pub tail_cap: u64,
}

/// A job's output when it ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sizes {
    pub total: u64,
    pub stdout: u64,
    pub stderr: u64,
    /// Newlines in the whole output (for line numbers).
    pub lines: u64,
}

/// Resource use of an ended job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    pub user_cpu_ms: u64,
    pub system_cpu_ms: u64,
    pub max_rss_bytes: u64,
}

/// A job as it was asked for: the first entry of each job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Created {
    pub job: u64,
    pub command: String,
    pub host: String,
    pub cwd: Option<PathBuf>,
    pub label: Option<String>,
    pub pty: bool,
    /// Absent in journals written before `merge_stderr` existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge_stderr: bool,
    pub rule: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The run whose directory holds the log, when it is not the journal's own: a job taken
    /// over from an earlier run keeps its log where it was. A plain name, never a path. (Older
    /// journals had a `log` path instead: it is ignored, as any path a journal holds.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    pub layout: Layout,
    /// The fan-out the job belongs to (absent: none, or a journal from before groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u64>,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// The first line: when this run started (runs are read in this order).
    Run {
        started_at: DateTime<Utc>,
    },
    Created(Created),
    Started {
        job: u64,
        started_at: DateTime<Utc>,
        pid: Option<u32>,
    },
    Ended {
        job: u64,
        ended_at: DateTime<Utc>,
        ending: End,
        usage: Option<Usage>,
        output: Sizes,
    },
    /// Forgotten by `clean` or by retention (its log was deleted).
    Forgotten {
        job: u64,
    },
}
