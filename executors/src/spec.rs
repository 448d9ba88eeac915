use std::path::PathBuf;
use std::time::Duration;

/// One of a job's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    /// One shell command string, run by bash (`bash -c`).
    pub command: String,
    /// Working directory; the executor's default when `None`.
    pub cwd: Option<PathBuf>,
    /// Variables added to the inherited environment.
    pub env: Vec<(String, String)>,
    /// Start from an empty environment (then only `env` is set).
    pub clear_env: bool,
    /// Run under a pseudo-terminal (stdout and stderr then arrive merged, as stdout).
    pub pty: bool,
    /// Send stderr to the stdout pipe (`2>&1`): one stream, in the exact order of the job's
    /// writes, all of it arriving as stdout. (A pty merges them anyway.)
    pub merge_stderr: bool,
    /// Keep a pipe to the job's stdin open (otherwise stdin is `/dev/null`). Always open with a pty.
    pub stdin: bool,
    /// A marker the executor attaches to every process of the job (inherited by descendants), so
    /// that processes that left the job's process group can still be found and killed.
    pub tag: String,
    /// Kernel confinement of the job's whole tree (local jobs only); `None`: none.
    pub sandbox: Option<SandboxSpec>,
    /// Set once the job must not run after all (it was killed while being started): an
    /// executor that takes long to start a job (connecting to a host) looks at it before it
    /// runs the command.
    pub abandoned: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// What the kernel confines for a job and every descendant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxSpec {
    /// `Some`: the job may write beneath these directories only (and to `/dev/null`, its
    /// terminal and a few such devices); `None`: writes are not confined.
    pub writable: Option<Vec<PathBuf>>,
    /// Existing places, inside writable roots, that stay read-only.
    pub read_only: Vec<PathBuf>,
    /// Existing places, inside writable roots, that stay where they are: they cannot be
    /// renamed or replaced (repositories and their `.git`), though what is in them can change.
    pub pinned: Vec<PathBuf>,
    /// Places that are neither readable nor writable (an empty, unreadable stand-in replaces
    /// them).
    pub hide: Vec<PathBuf>,
    /// Whether the job may use IP networking.
    pub network: bool,
}

/// How a job's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitInfo {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Terminating signal number, when a signal ended it.
    pub signal: Option<i32>,
    /// Whether it dumped core.
    pub core_dumped: bool,
    /// Resource use of the main process and the descendants it waited for.
    pub usage: Option<ResourceUsage>,
}

/// Resource use reported by `wait4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceUsage {
    pub user_cpu: Duration,
    pub system_cpu: Duration,
    /// Peak resident set size, in bytes.
    pub max_rss_bytes: u64,
}

/// How a job ended, from the executor's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The main process ended.
    Exited(ExitInfo),
    /// The executor lost the job (connection dropped, ...), with the reason.
    Lost(String),
}
