//! Control over one remote job: stdin, and killing its process group from another channel of
//! the same connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::conn::{Cmd, Queue, UNTRUSTED_PGID};
use crate::{BoxFuture, ControlError, Process, StdinError};

pub(crate) struct SshProcess {
    pub id: u64,
    /// The queue of the connection the job runs on.
    pub tx: Queue,
    pub pgid: Arc<AtomicI64>,
    /// The last signal sent to the job's group (see [`super::conn::Cmd::Spawn`]).
    pub signalled: Arc<AtomicI32>,
    pub stdin_open: AtomicBool,
    pub host: String,
}

/// How long a killed job's channel may stay open once its process group is gone: the exit
/// status usually follows at once; later, a process that left the group holds the output.
const CLOSE_AFTER: Duration = Duration::from_secs(1);

impl SshProcess {
    /// Closes the job's channel in a moment, unless it has ended by then (see [`Cmd::Close`]).
    fn close_soon(&self) {
        let tx = self.tx.clone();
        let id = self.id;
        tokio::spawn(async move {
            tokio::time::sleep(CLOSE_AFTER).await;
            let _ = tx.send(Cmd::Close { id });
        });
    }

    fn send(&self, cmd: Cmd) -> Result<(), String> {
        self.tx
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
                if p > 1 {
                    break p;
                }
                // Without a group to signal, the job's channel is closed: the job ends (sshd
                // hangs up its session), though processes on the host may live on.
                let why = if p == UNTRUSTED_PGID {
                    Some("its process group was reported twice (a login file printing a marker?)")
                } else if Instant::now() >= deadline {
                    Some("the remote job never reported its process group")
                } else {
                    None
                };
                if let Some(why) = why {
                    let _ = self.send(Cmd::Close { id: self.id });
                    return Err(ControlError::Signal(format!(
                        "{why}: no group was signalled; the job's channel was closed, and its \
processes on the host may live on"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let err = |e: String| ControlError::Signal(e);
            // Numeric signals and no `--`: dash, a common login shell, refuses both otherwise.
            let cont = nix::sys::signal::Signal::SIGCONT as i32;
            self.signalled.store(signal, Ordering::SeqCst);
            self.exec(format!(
                "kill -{signal} -{pgid} 2>/dev/null; kill -{cont} -{pgid} 2>/dev/null; true"
            ))
            .await
            .map_err(err)?;
            let until = Instant::now() + grace;
            while Instant::now() < until {
                if !self.group_alive(pgid).await.map_err(err)? {
                    self.close_soon();
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            for _ in 0..20 {
                self.signalled
                    .store(nix::sys::signal::Signal::SIGKILL as i32, Ordering::SeqCst);
                self.exec(format!("kill -9 -{pgid} 2>/dev/null; true"))
                    .await
                    .map_err(err)?;
                if !self.group_alive(pgid).await.map_err(err)? {
                    self.close_soon();
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
