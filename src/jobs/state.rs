//! A job's life: the phases it goes through and how it ended. States that cannot happen cannot be
//! written down: an ended job always has an end, a running one always a start.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use executors::ResourceUsage;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When something happened, for both display (wall clock) and durations (monotonic).
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub wall: DateTime<Utc>,
    pub mono: Instant,
}

impl Stamp {
    pub fn now() -> Self {
        Self {
            wall: Utc::now(),
            mono: Instant::now(),
        }
    }

    /// A past moment known by its wall-clock time only (from an earlier run's journal).
    pub fn at(wall: DateTime<Utc>) -> Self {
        let now = Self::now();
        let ago = (now.wall - wall).to_std().unwrap_or_default();
        Self {
            wall,
            mono: now.mono.checked_sub(ago).unwrap_or(now.mono),
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone)]
pub enum Phase {
    Queued,
    Running {
        started: Stamp,
        pid: Option<u32>,
    },
    Ended {
        started: Option<Stamp>,
        ended: Stamp,
        end: End,
        usage: Option<ResourceUsage>,
    },
}

/// How a job ended (serialised as the job journal records it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum End {
    Exited {
        code: i32,
    },
    /// Ended by a signal; `requested` when it was our `kill` (or shutdown) that sent it,
    /// `shutdown` when it was the server's shutdown.
    Killed {
        signal: Option<i32>,
        requested: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        shutdown: bool,
    },
    TimedOut {
        signal: Option<i32>,
        code: Option<i32>,
    },
    FailedToStart {
        reason: String,
    },
    Lost {
        reason: String,
    },
}

/// The state names of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    Queued,
    Running,
    Exited,
    Killed,
    TimedOut,
    FailedToStart,
    Lost,
}

impl StateName {
    pub fn is_ended(self) -> bool {
        !matches!(self, StateName::Queued | StateName::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Queued => "queued",
            StateName::Running => "running",
            StateName::Exited => "exited",
            StateName::Killed => "killed",
            StateName::TimedOut => "timed_out",
            StateName::FailedToStart => "failed_to_start",
            StateName::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            StateName::Queued,
            StateName::Running,
            StateName::Exited,
            StateName::Killed,
            StateName::TimedOut,
            StateName::FailedToStart,
            StateName::Lost,
        ]
        .into_iter()
        .find(|n| n.as_str() == s)
    }
}

impl Phase {
    pub fn name(&self) -> StateName {
        match self {
            Phase::Queued => StateName::Queued,
            Phase::Running { .. } => StateName::Running,
            Phase::Ended { end, .. } => match end {
                End::Exited { .. } => StateName::Exited,
                End::Killed { .. } => StateName::Killed,
                End::TimedOut { .. } => StateName::TimedOut,
                End::FailedToStart { .. } => StateName::FailedToStart,
                End::Lost { .. } => StateName::Lost,
            },
        }
    }

    pub fn is_ended(&self) -> bool {
        matches!(self, Phase::Ended { .. })
    }

    /// Time spent running: so far, or in all.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            Phase::Queued => None,
            Phase::Running { started, .. } => Some(started.mono.elapsed()),
            Phase::Ended { started, ended, .. } => {
                started.map(|s| ended.mono.saturating_duration_since(s.mono))
            }
        }
    }
}

/// `SIGTERM`-style name of a signal number.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// Parses `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.trim().parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok().map(|s| s as i32);
    }
    let upper = s.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// A description of how a job ended, for messages.
pub fn describe_end(end: &End) -> String {
    match end {
        End::Exited { code } => format!("exited with code {code}"),
        End::Killed {
            signal,
            requested,
            shutdown,
        } => {
            let by = match (*shutdown, *requested) {
                (true, _) => " (the server was shutting down)",
                (false, true) => " (by kill)",
                (false, false) => "",
            };
            match signal {
                Some(s) => format!("killed by {}{by}", signal_name(*s)),
                None => format!("killed before it started{by}"),
            }
        }
        End::TimedOut { .. } => "timed out and was killed".to_string(),
        End::FailedToStart { reason } => format!("failed to start: {reason}"),
        End::Lost { reason } => format!("lost: {reason}"),
    }
}
