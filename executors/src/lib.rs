//! Where an mcp-jobs job runs.
//!
//! An [`Executor`] starts a [`JobSpec`] and hands back a [`Spawned`] job: a [`Process`] handle to
//! talk to it (stdin, signals, kill the whole tree) and a future that resolves once with its
//! [`Outcome`]. Output never flows back through this API: the executor pushes every byte into the
//! [`OutputSink`] it was given, as it arrives, so a job is never blocked by a slow reader.
//!
//! The crate knows nothing of the server or of the policy: it runs what it is given.

mod error;
pub mod facts;
pub mod local;
mod spec;
pub mod ssh;

pub use error::{ControlError, SpawnError, StdinError};
pub use facts::{Connections, HostFacts, ProbeError};
pub use spec::{ExitInfo, JobSpec, Outcome, ResourceUsage, SandboxSpec, Stream};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, so that the traits stay object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Receives a job's output as it is read. Called from the executor's I/O tasks: it must not block
/// for long (a file append is fine), or the job's pipes fill up and the job stalls.
pub trait OutputSink: Send + Sync + 'static {
    /// Appends bytes read from one stream of the job.
    fn append(&self, stream: Stream, data: &[u8]);
}

/// Something that can start jobs: the local machine, an SSH host.
pub trait Executor: Send + Sync {
    /// Starts `spec`, streaming its output into `sink`. Returns once the process exists.
    fn spawn(
        &self,
        spec: JobSpec,
        sink: Arc<dyn OutputSink>,
    ) -> BoxFuture<'_, Result<Spawned, SpawnError>>;

    /// Resolves once capacity may have been freed since this call (a job ended, a connection
    /// closed): when to try again a spawn that failed with [`SpawnError::NoCapacity`]. Call it
    /// *before* the attempt, so that a job ending during the attempt is not missed. Executors
    /// that never answer `NoCapacity` keep the default, which never resolves.
    fn capacity_freed(&self) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    /// The state of the executor's connections, for executors that have any (an SSH host).
    fn connections(&self) -> Option<Connections> {
        None
    }

    /// The machine's facts (OS, kernel, CPUs, load), connecting if need be. Bounded in time by
    /// the executor; runs only the executor's own fixed, read-only command, never a job's.
    fn probe(&self) -> BoxFuture<'_, Result<HostFacts, ProbeError>> {
        Box::pin(std::future::ready(Err(ProbeError::Unsupported)))
    }
}

/// A job that was started.
pub struct Spawned {
    /// Control over the running job.
    pub process: Arc<dyn Process>,
    /// Resolves once, when the job's main process has ended and its output has been drained
    /// (or the executor lost track of it).
    pub outcome: BoxFuture<'static, Outcome>,
}

/// Control over a running job.
pub trait Process: Send + Sync {
    /// The process id of the job's main process, where the executor knows one.
    fn pid(&self) -> Option<u32>;

    /// Whether the job has a stdin that can still be written to.
    fn accepts_stdin(&self) -> bool;

    /// Whether the job is blocked waiting for input on its stdin (back at its prompt);
    /// `None` where the executor cannot see it.
    fn waiting_for_input(&self) -> Option<bool> {
        None
    }

    /// A number that changes whenever the job's processes run (see `waiting_for_input`): taken
    /// before input is written, it tells whether the job has run since. `None` where unknown.
    fn activity(&self) -> Option<u64> {
        None
    }

    /// Writes bytes to the job's stdin.
    fn write_stdin<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<(), StdinError>>;

    /// Closes the job's stdin, so that the job reads end-of-file.
    fn close_stdin(&self) -> BoxFuture<'_, Result<(), StdinError>>;

    /// Sends `signal` to every process of the job's tree; if the tree is still alive after
    /// `grace`, sends `SIGKILL`. Resolves once no process of the tree is left (or a bounded
    /// time after the `SIGKILL`, reported as an error).
    fn kill_tree(&self, signal: i32, grace: Duration) -> BoxFuture<'_, Result<(), ControlError>>;
}
