//! Why the JobManager refused or could not do something: messages an agent acts on.

use super::JobId;

/// Why a request was refused. The messages are for the agent: they say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("unknown job {0:?}: job ids look like j1, j2, ...; use `list` to see the jobs")]
    UnknownJob(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "unknown group {0:?}: group ids look like g1, g2, ... (from `execute` with `hosts` or `tag`)"
    )]
    UnknownGroup(String),
    #[error("no host has the tag {tag:?}; {known}")]
    UnknownTag { tag: String, known: String },
    #[error("nothing was started: {0}")]
    AllRefused(String),
    #[error("unknown host {host:?}: configured hosts are {known}")]
    UnknownHost { host: String, known: String },
    #[error("the server is shutting down and starts no new jobs")]
    ShuttingDown,
    #[error("cannot create the job's log: {0}")]
    Storage(std::io::Error),
    #[error("refused by the policy, nothing was run: {0}")]
    Refused(String),
    #[error("cannot read {0}'s output: {1}")]
    Output(JobId, std::io::Error),
}
