//! The SSH executor: jobs run on a remote host, over as many SSH connections to it as its jobs
//! need (see [`pool`]; each connection is driven by one thread, see [`conn`]), with the same
//! output, stdin, kill-the-whole-tree and exit-status semantics as local jobs.
//!
//! Each remote job runs in its own session (`setsid`), and reports its process group id on the
//! first line of stderr; a kill signals that group from another channel (closing the channel
//! alone would not stop the remote processes).

mod conn;
mod connect;
mod pool;
mod probe;
mod process;
mod remote;
pub mod ssh_config;
mod tunnel;

pub use connect::ConnectError;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::{
    BoxFuture, Connections, Executor, HostFacts, JobSpec, Outcome, OutputSink, ProbeError,
    SpawnError, Spawned,
};
use conn::{Cmd, SpawnFailure};
use pool::{Need, Pool};
use process::SshProcess;

/// OpenSSH's default `MaxSessions`: channels per connection, the watchdog's included.
pub const DEFAULT_MAX_SESSIONS: usize = 10;
/// Connections per host at most, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4;

/// How to reach one host.
#[derive(Debug, Clone)]
pub struct SshHost {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private key file; `None` means the SSH agent.
    pub identity_file: Option<PathBuf>,
    pub passphrase: Option<String>,
    /// known_hosts file, checked strictly.
    pub known_hosts: PathBuf,
    pub connect_timeout: Duration,
    /// Keepalive interval: a host silent for three of these is taken for gone.
    pub keepalive: Duration,
    /// Bound on any single blocking step on an open connection.
    pub io_timeout: Duration,
    /// Channels the host's sshd allows per connection (its `MaxSessions`), watchdog included.
    pub max_sessions: usize,
    /// Connections opened to the host at most; jobs beyond what they carry wait in the queue.
    pub max_connections: usize,
    /// A bastion (`ProxyJump`): each connection to `address:port` is a direct-tcpip channel on
    /// a connection to it, with both host keys checked.
    pub jump: Option<Box<SshHost>>,
}

/// Runs jobs on one SSH host.
pub struct SshExecutor {
    pool: Arc<Pool>,
}

impl SshExecutor {
    pub fn new(host: SshHost) -> Self {
        Self {
            pool: Arc::new(Pool::new(host)),
        }
    }
}

/// What one attempt to open a job's channel gave.
enum Attempt {
    Started(Spawned),
    /// The connection refused or dropped before the job started: place it again.
    Again,
}

impl SshExecutor {
    async fn attempt(
        &self,
        command: &str,
        nonce: &str,
        pty: bool,
        sink: &Arc<dyn OutputSink>,
        abandoned: Option<&AtomicBool>,
    ) -> Result<Attempt, SpawnError> {
        // Connecting blocks (TCP, handshake, authentication): off the runtime's threads.
        let pool = Arc::clone(&self.pool);
        let link = tokio::task::spawn_blocking(move || pool.place(Need::Job))
            .await
            .map_err(|e| SpawnError::Unavailable(e.to_string()))??;
        // Connecting may have taken long: the job may have been killed meanwhile.
        if abandoned.is_some_and(|a| a.load(std::sync::atomic::Ordering::SeqCst)) {
            link.state.release();
            return Err(SpawnError::Invalid("killed before it started".into()));
        }
        let pgid = Arc::new(AtomicI64::new(0));
        let signalled = Arc::new(AtomicI32::new(0));
        let (exit_tx, exit_rx) = oneshot::channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let cmd = Cmd::Spawn {
            command: command.to_string(),
            marker: remote::marker_prefix(nonce),
            pty,
            sink: Arc::clone(sink),
            pgid: Arc::clone(&pgid),
            signalled: Arc::clone(&signalled),
            exit: exit_tx,
            reply: reply_tx,
        };
        if link.tx.send(cmd).is_err() {
            return Ok(Attempt::Again);
        }
        let id = match reply_rx.await {
            Ok(Ok(id)) => id,
            Ok(Err(SpawnFailure::Full)) | Err(_) => return Ok(Attempt::Again),
            Ok(Err(SpawnFailure::Failed(e))) => return Err(SpawnError::Unavailable(e)),
        };
        let process = Arc::new(SshProcess {
            id,
            tx: link.tx.clone(),
            pgid,
            signalled,
            stdin_open: AtomicBool::new(true),
            host: self.pool.host().name.clone(),
        });
        let outcome: BoxFuture<'static, Outcome> = Box::pin(async move {
            exit_rx
                .await
                .unwrap_or_else(|_| Outcome::Lost("the connection thread stopped".into()))
        });
        Ok(Attempt::Started(Spawned { process, outcome }))
    }
}

impl Executor for SshExecutor {
    fn spawn(
        &self,
        spec: JobSpec,
        sink: Arc<dyn OutputSink>,
    ) -> BoxFuture<'_, Result<Spawned, SpawnError>> {
        Box::pin(async move {
            if spec.command.contains('\0') {
                return Err(SpawnError::Invalid(
                    "the command contains a NUL byte".into(),
                ));
            }
            if spec.sandbox.is_some() {
                // This server's kernel cannot confine a process on another machine.
                return Err(SpawnError::Sandbox(
                    "a remote job cannot be confined by this server's kernel".into(),
                ));
            }
            let nonce = remote::nonce();
            let command = remote::command_line(&spec, &nonce);
            // A refused channel marks its connection full, and a dropped one is gone: each
            // retry goes elsewhere or opens a connection, so a few suffice.
            let host = self.pool.host();
            for _ in 0..=host.max_connections {
                let abandoned = spec.abandoned.as_deref();
                if let Attempt::Started(s) = self
                    .attempt(&command, &nonce, spec.pty, &sink, abandoned)
                    .await?
                {
                    return Ok(s);
                }
            }
            Err(SpawnError::NoCapacity(format!(
                "every connection to {} refused another channel",
                host.name
            )))
        })
    }

    fn capacity_freed(&self) -> BoxFuture<'static, ()> {
        let freed = Arc::clone(&self.pool.freed);
        let seen = freed.generation();
        Box::pin(async move { freed.changed_since(seen).await })
    }

    fn connections(&self) -> Option<Connections> {
        Some(self.pool.connections())
    }

    fn probe(&self) -> BoxFuture<'_, Result<HostFacts, ProbeError>> {
        Box::pin(probe::probe(&self.pool))
    }
}
