//! The SSH executor: jobs run on a remote host, over one SSH connection per host (see [`conn`]
//! for how that connection is driven), with the same output, stdin, kill-the-whole-tree and
//! exit-status semantics as local jobs.
//!
//! Each remote job runs in its own session (`setsid`), and reports its process group id on the
//! first line of stderr; a kill signals that group from another channel (closing the channel
//! alone would not stop the remote processes).

mod conn;
mod remote;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::{
    BoxFuture, ControlError, Executor, JobSpec, Outcome, OutputSink, Process, SpawnError, Spawned,
    StdinError,
};
use conn::Cmd;

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
    /// Keepalive interval: a dead connection is noticed within about twice this.
    pub keepalive: Duration,
    /// Bound on any single blocking step on an open connection.
    pub io_timeout: Duration,
}

struct Link {
    tx: Sender<Cmd>,
    alive: Arc<AtomicBool>,
}

/// Runs jobs on one SSH host.
pub struct SshExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    host: SshHost,
    link: Mutex<Option<Link>>,
}

impl SshExecutor {
    pub fn new(host: SshHost) -> Self {
        Self {
            inner: Arc::new(Inner {
                host,
                link: Mutex::new(None),
            }),
        }
    }
}

impl Inner {
    /// The queue of a live connection thread, connecting first if there is none.
    fn sender(&self) -> Result<Sender<Cmd>, String> {
        let mut link = self.link.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = link.as_ref()
            && l.alive.load(Ordering::SeqCst)
        {
            return Ok(l.tx.clone());
        }
        let (session, poller) = conn::connect(&self.host)?;
        let (tx, rx) = channel();
        let alive = Arc::new(AtomicBool::new(true));
        let thread_alive = Arc::clone(&alive);
        let keepalive = self.host.keepalive;
        std::thread::Builder::new()
            .name(format!("ssh-{}", self.host.name))
            .spawn(move || conn::run(session, poller, rx, thread_alive, keepalive))
            .map_err(|e| format!("cannot start the connection thread: {e}"))?;
        *link = Some(Link {
            tx: tx.clone(),
            alive,
        });
        Ok(tx)
    }

    fn send(&self, cmd: Cmd) -> Result<(), String> {
        let tx = self.sender()?;
        tx.send(cmd)
            .map_err(|_| format!("the connection to {} closed", self.host.name))
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
            let command = remote::command_line(&spec);
            let pgid = Arc::new(AtomicI64::new(0));
            let (exit_tx, exit_rx) = oneshot::channel();
            let (reply_tx, reply_rx) = oneshot::channel();
            let cmd = Cmd::Spawn {
                command,
                pty: spec.pty,
                sink,
                pgid: Arc::clone(&pgid),
                exit: exit_tx,
                reply: reply_tx,
            };
            // Connecting blocks (TCP, handshake, authentication): off the runtime's threads.
            let inner = Arc::clone(&self.inner);
            let tx = tokio::task::spawn_blocking(move || {
                inner.send(cmd)?;
                inner.sender()
            })
            .await
            .map_err(|e| SpawnError::Unavailable(e.to_string()))?
            .map_err(SpawnError::Unavailable)?;
            let name = self.inner.host.name.clone();
            let id = reply_rx
                .await
                .map_err(|_| SpawnError::Unavailable(format!("the connection to {name} was lost")))?
                .map_err(SpawnError::Unavailable)?;
            let process = Arc::new(SshProcess {
                id,
                tx: Mutex::new(tx),
                pgid,
                stdin_open: AtomicBool::new(true),
                host: name,
            });
            let outcome: BoxFuture<'static, Outcome> = Box::pin(async move {
                exit_rx
                    .await
                    .unwrap_or_else(|_| Outcome::Lost("the connection thread stopped".into()))
            });
            Ok(Spawned { process, outcome })
        })
    }
}

struct SshProcess {
    id: u64,
    tx: Mutex<Sender<Cmd>>,
    pgid: Arc<AtomicI64>,
    stdin_open: AtomicBool,
    host: String,
}

impl SshProcess {
    fn send(&self, cmd: Cmd) -> Result<(), String> {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(cmd)
            .map_err(|_| format!("the connection to {} is gone", self.host))
    }

    async fn exec(&self, command: String) -> Result<i32, String> {
        let (done, rx) = oneshot::channel();
        self.send(Cmd::Exec { command, done })?;
        tokio::time::timeout(Duration::from_secs(15), rx)
            .await
            .map_err(|_| "the host did not answer".to_string())?
            .map_err(|_| "the connection closed".to_string())?
    }

    /// Whether any process of the job's group is left on the host.
    async fn group_alive(&self, pgid: i64) -> Result<bool, String> {
        Ok(self.exec(format!("kill -0 -{pgid} 2>/dev/null")).await? == 0)
    }
}

impl Process for SshProcess {
    fn pid(&self) -> Option<u32> {
        u32::try_from(self.pgid.load(Ordering::SeqCst))
            .ok()
            .filter(|p| *p > 0)
    }

    fn accepts_stdin(&self) -> bool {
        self.stdin_open.load(Ordering::SeqCst)
    }

    fn write_stdin<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<(), StdinError>> {
        Box::pin(async move {
            if !self.accepts_stdin() {
                return Err(StdinError::Closed);
            }
            let (done, rx) = oneshot::channel();
            self.send(Cmd::Stdin {
                id: self.id,
                data: data.to_vec(),
                done,
            })
            .map_err(|e| StdinError::Broken(std::io::Error::other(e)))?;
            rx.await
                .map_err(|_| StdinError::Broken(std::io::Error::other("the connection closed")))?
                .map_err(|e| StdinError::Broken(std::io::Error::other(e)))
        })
    }

    fn close_stdin(&self) -> BoxFuture<'_, Result<(), StdinError>> {
        Box::pin(async move {
            if !self.stdin_open.swap(false, Ordering::SeqCst) {
                return Err(StdinError::Closed);
            }
            let _ = self.send(Cmd::CloseStdin { id: self.id });
            Ok(())
        })
    }

    fn kill_tree(&self, signal: i32, grace: Duration) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            // The group id arrives with the job's first stderr line: wait briefly for it.
            let deadline = Instant::now() + Duration::from_secs(5);
            let pgid = loop {
                let p = self.pgid.load(Ordering::SeqCst);
                if p > 0 {
                    break p;
                }
                if Instant::now() >= deadline {
                    return Err(ControlError::Signal(
                        "the remote job never reported its process group".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let err = |e: String| ControlError::Signal(e);
            // Numeric signals and no `--`: dash, a common login shell, refuses both otherwise.
            let cont = nix::sys::signal::Signal::SIGCONT as i32;
            self.exec(format!(
                "kill -{signal} -{pgid} 2>/dev/null; kill -{cont} -{pgid} 2>/dev/null; true"
            ))
            .await
            .map_err(err)?;
            let until = Instant::now() + grace;
            while Instant::now() < until {
                if !self.group_alive(pgid).await.map_err(err)? {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            for _ in 0..20 {
                self.exec(format!("kill -9 -{pgid} 2>/dev/null; true"))
                    .await
                    .map_err(err)?;
                if !self.group_alive(pgid).await.map_err(err)? {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(ControlError::Survivors(
                1,
                vec![u32::try_from(pgid).unwrap_or(0)],
            ))
        })
    }
}
