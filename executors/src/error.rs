use std::io;

/// Why a job could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The working directory does not exist or is not a directory.
    #[error("working directory {path:?} {problem}")]
    BadCwd { path: String, problem: String },
    /// The command or its environment cannot be passed to a process.
    #[error("invalid job: {0}")]
    Invalid(String),
    /// The operating system refused to start the process.
    #[error("could not start the process: {0}")]
    Io(#[from] io::Error),
    /// A sandbox was asked for and cannot be enforced here: the job is not run with less.
    #[error("the sandbox cannot be enforced, so nothing was run: {0}")]
    Sandbox(String),
    /// The executor is unavailable (e.g. a remote host cannot be reached).
    #[error("{0}")]
    Unavailable(String),
    /// The executor is working but has no room for another job now (e.g. every connection to
    /// a host is at its sessions limit): the job should wait in the queue and be tried again
    /// once [`crate::Executor::capacity_freed`] resolves.
    #[error("no capacity for another job now: {0}")]
    NoCapacity(String),
}

/// Why writing to a job's stdin failed.
#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    /// The job was started without a stdin, or its stdin was closed with `eof`.
    #[error("the job's stdin is closed")]
    Closed,
    /// The job no longer reads its stdin (it exited or closed it).
    #[error("the job stopped reading its stdin: {0}")]
    Broken(io::Error),
}

/// Why signalling a job failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Sending the signal failed.
    #[error("could not signal the job: {0}")]
    Signal(String),
    /// Some processes of the tree survived `SIGKILL` (e.g. stuck in uninterruptible sleep).
    #[error("{0} process(es) of the job survived SIGKILL: {1:?}")]
    Survivors(usize, Vec<u32>),
}
