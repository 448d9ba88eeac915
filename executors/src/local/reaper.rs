//! The one place that reaps this process's children.
//!
//! The server is a child subreaper (`PR_SET_CHILD_SUBREAPER`): processes that leave a job's
//! process group and are orphaned are re-parented to the server instead of init, so they stay
//! visible and their zombies must be reaped here. A dedicated thread blocks in `waitid(P_ALL,
//! WNOWAIT)` to learn which child ended, then reaps it with `wait4`, which also returns its
//! resource usage (CPU time, peak RSS) — something `std` and tokio's child handles do not expose.
//!
//! Registration and spawning happen under one lock: the thread takes that lock before it reaps,
//! so a job's exit can never be reaped before its waiter is registered, and a child whose `exec`
//! failed (which the spawner reaps itself) is never reaped from under it.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::GroupWatcher;
use crate::{ExitInfo, ResourceUsage};

struct Registration {
    exited: Arc<AtomicBool>,
    tx: oneshot::Sender<ExitInfo>,
    watcher: Option<Arc<dyn GroupWatcher>>,
}

#[derive(Default)]
struct Table {
    waiters: HashMap<i32, Registration>,
    /// Bumped at every spawn, so that the thread, idle for lack of children, wakes up.
    spawns: u64,
}

pub(crate) struct Reaper {
    table: Mutex<Table>,
    spawned: Condvar,
}

/// What a spawn hands back: the child's pid, a flag raised just before it is reaped, and its
/// exit.
pub(crate) struct Registered {
    pub pid: u32,
    pub exited: Arc<AtomicBool>,
    pub exit: oneshot::Receiver<ExitInfo>,
}

static REAPER: OnceLock<Result<Arc<Reaper>, String>> = OnceLock::new();

/// The process-wide reaper, started on first use.
pub(crate) fn global() -> io::Result<Arc<Reaper>> {
    REAPER.get_or_init(start).clone().map_err(io::Error::other)
}

fn start() -> Result<Arc<Reaper>, String> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("cannot become a child subreaper: {e}"))?;
    let reaper = Arc::new(Reaper {
        table: Mutex::new(Table::default()),
        spawned: Condvar::new(),
    });
    let for_thread = Arc::clone(&reaper);
    std::thread::Builder::new()
        .name("mcp-jobs-reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || for_thread.run())
        .map_err(|e| format!("cannot start the reaper thread: {e}"))?;
    Ok(reaper)
}

impl Reaper {
    /// Starts a child with `start` (which returns its pid) and registers its exit, atomically
    /// with respect to the reaping thread. `watcher` hears of the child's process group before
    /// the child can be reaped, and of its end before its pid can be reused.
    pub(crate) fn spawn(
        &self,
        start: impl FnOnce() -> io::Result<u32>,
        watcher: Option<&Arc<dyn GroupWatcher>>,
    ) -> io::Result<Registered> {
        let mut table = self.lock();
        let child = start()?;
        let exited = Arc::new(AtomicBool::new(false));
        let (tx, exit) = oneshot::channel();
        let pid = pid_i32(child);
        if let Some(w) = watcher {
            w.started(pid);
        }
        table.waiters.insert(
            pid,
            Registration {
                exited: Arc::clone(&exited),
                tx,
                watcher: watcher.cloned(),
            },
        );
        table.spawns = table.spawns.wrapping_add(1);
        drop(table);
        self.spawned.notify_one();
        Ok(Registered {
            pid: child,
            exited,
            exit,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding this lock cannot leave the table inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        loop {
            let seen = self.lock().spawns;
            match peek_exited_child() {
                Ok(Some(pid)) => self.reap(pid),
                Ok(None) => {}
                Err(nix::errno::Errno::ECHILD) => {
                    // No children at all: sleep until the next spawn.
                    let table = self.lock();
                    let _unused = self
                        .spawned
                        .wait_timeout_while(table, Duration::from_secs(5), |t| t.spawns == seen)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    tracing::error!("waitid failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn reap(&self, pid: i32) {
        let mut table = self.lock();
        let registration = table.waiters.remove(&pid);
        if let Some(r) = &registration {
            r.exited.store(true, Ordering::SeqCst);
            if let Some(w) = &r.watcher {
                w.ended(pid);
            }
        }
        let reaped = wait4(pid);
        drop(table);
        match (registration, reaped) {
            (Some(r), Some(info)) => {
                // The receiver may be gone if nobody waits for this job any more.
                let _ = r.tx.send(info);
            }
            (Some(r), None) => {
                let _ = r.tx.send(ExitInfo::default());
            }
            // An orphan re-parented to us (or a child `std` reaped after a failed exec).
            (None, _) => tracing::trace!(pid, "reaped an orphan"),
        }
    }
}

fn pid_i32(pid: u32) -> i32 {
    // Linux pids are at most 2^22, so they always fit.
    i32::try_from(pid).unwrap_or(i32::MAX)
}

/// Blocks until some child has ended, and returns its pid without reaping it.
fn peek_exited_child() -> Result<Option<i32>, nix::errno::Errno> {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    let status = waitid(Id::All, WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)?;
    Ok(status.pid().map(|p| p.as_raw()))
}

/// Reaps `pid`, returning how it ended and its resource usage.
fn wait4(pid: i32) -> Option<ExitInfo> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, and all-zero is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for writes for the duration of the call.
    let got = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    if got != pid {
        return None;
    }
    let (code, signal, core_dumped) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None, false)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)), libc::WCOREDUMP(status))
    } else {
        (None, None, false)
    };
    Some(ExitInfo {
        code,
        signal,
        core_dumped,
        usage: Some(ResourceUsage {
            user_cpu: timeval(usage.ru_utime),
            system_cpu: timeval(usage.ru_stime),
            // ru_maxrss is in KiB on Linux.
            max_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        }),
    })
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
}
