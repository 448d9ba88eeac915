//! The guardian: a tiny watchdog process that kills every job if the server dies, however it
//! dies (SIGKILL included, when no cleanup code of ours can run).
//!
//! The server starts it as `mcp-jobs __guardian INSTANCE [METHOD:CGROUP]` with a pipe as its
//! stdin and keeps the write end open for its whole life. When the server exits for any reason
//! the kernel closes that end; the guardian reads end-of-file and kills, in turn:
//! - every process in this run's instance cgroup (all jobs, whatever they did to hide), when
//!   jobs run in cgroups;
//! - the jobs' process groups the server told it of: `+PGID\n` when a job starts, `-PGID\n`
//!   just before its leader is reaped (from then on the number may name someone else's group);
//! - every process whose environment carries this server run's job tag.
//!
//! The server's writes never block (a full pipe drops a message: the cgroup and the tag still
//! find the job), and the guardian keeps a bounded number of groups.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use executors::local::{Containment, GroupWatcher};

/// The write end of the guardian's pipe, held until the process exits.
static LIFELINE: OnceLock<ChildStdin> = OnceLock::new();
/// The guardian's pid: the one child of the server that its exit must spare.
static PID: OnceLock<u32> = OnceLock::new();
/// Process groups the guardian remembers at most (far more than jobs can run at once).
const MAX_GROUPS: usize = 65_536;
/// Longest message line (`+` or `-`, a pid, a newline); longer lines are garbage and skipped.
const MAX_LINE: usize = 16;
/// How long the guardian waits for the jobs' cgroups to empty.
const CGROUP_DEADLINE: Duration = Duration::from_secs(5);

/// Starts the guardian for this server run. Must run before any job is spawned.
pub fn start(instance: &str, containment: &Containment) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("__guardian").arg(instance);
    if let Some(arg) = containment.guardian_arg() {
        cmd.arg(arg);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        // Its own process group: a Ctrl-C aimed at the server must not take the guardian too.
        .process_group(0)
        .spawn()?;
    let _ = PID.set(child.id());
    if let Some(stdin) = child.stdin.take() {
        // A guardian that stops reading must not stall spawns: writes never block.
        nix::fcntl::fcntl(
            &stdin,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )?;
        let _ = LIFELINE.set(stdin);
    }
    Ok(())
}

/// The guardian's pid, once started.
pub fn pid() -> Option<u32> {
    PID.get().copied()
}

/// Tells the guardian of each job's process group, once it is started.
pub fn watcher() -> Option<Arc<dyn GroupWatcher>> {
    LIFELINE
        .get()
        .map(|_| Arc::new(Lifeline) as Arc<dyn GroupWatcher>)
}

struct Lifeline;

impl Lifeline {
    fn send(sign: char, pgid: i32) {
        let Some(pipe) = LIFELINE.get() else { return };
        let msg = format!("{sign}{pgid}\n");
        // A pipe write this small (under PIPE_BUF) is atomic: messages from several threads
        // never interleave, and a full pipe refuses it whole.
        if nix::unistd::write(pipe, msg.as_bytes()).is_err() {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the guardian's pipe is full: it may not know every job's process group \
                     (cgroups and tags still find them)"
                );
            }
        }
    }
}

impl GroupWatcher for Lifeline {
    fn started(&self, pgid: i32) {
        Self::send('+', pgid);
    }

    fn ended(&self, pgid: i32) {
        Self::send('-', pgid);
    }
}

/// The process groups the server told of, read from a byte stream of `+PGID\n` / `-PGID\n`.
#[derive(Default)]
struct Groups {
    live: HashSet<i32>,
    line: Vec<u8>,
    /// The current line is too long: skip to its end.
    skipping: bool,
}

impl Groups {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                if !self.skipping {
                    self.apply();
                }
                self.line.clear();
                self.skipping = false;
            } else if self.line.len() >= MAX_LINE {
                self.skipping = true;
            } else if !self.skipping {
                self.line.push(b);
            }
        }
    }

    fn apply(&mut self) {
        let Some((&sign, digits)) = self.line.split_first() else {
            return;
        };
        let Some(pgid) = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<i32>().ok())
            .filter(|p| *p > 1)
        else {
            return;
        };
        match sign {
            b'+' if self.live.len() < MAX_GROUPS => {
                self.live.insert(pgid);
            }
            b'-' => {
                self.live.remove(&pgid);
            }
            _ => {}
        }
    }
}

/// The guardian's main: wait for the server to go, then kill its jobs.
pub fn run(instance: &str, containment: Option<&str>) -> ! {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGPIPE,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        unsafe {
            let _ = signal(sig, SigHandler::SigIgn);
        }
    }
    let containment = containment.and_then(Containment::from_guardian_arg);
    let mut groups = Groups::default();
    let mut buf = [0u8; 4096];
    let mut stdin = std::io::stdin();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => groups.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // The cgroups first: they hold every job's processes, hidden or not.
    if let Some(c) = &containment {
        c.kill_all(Instant::now() + CGROUP_DEADLINE);
    }
    for pgid in &groups.live {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let prefix = format!("{instance}:");
    // Several passes: a process may fork between the scan and its death.
    let mut quiet_passes = 0;
    for _ in 0..50 {
        if executors::local::kill_tagged(&prefix) == 0 {
            quiet_passes += 1;
            if quiet_passes >= 2 {
                break;
            }
        } else {
            quiet_passes = 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // A group the pass above emptied can go now (kill_all removes only empty groups).
    if let Some(c) = &containment {
        c.kill_all(Instant::now() + CGROUP_DEADLINE);
    }
    // The jobs' private temporary directories (sandboxed jobs), which the server would have
    // removed at its exit. Not a link: `remove_dir_all` does not follow links inside it.
    let tmp = crate::sandbox::tmp_root(instance);
    if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_messages_and_skip_garbage() {
        let mut g = Groups::default();
        g.feed(b"+100\n+200\n-1");
        g.feed(b"00\n+1\n+0\n*5\n+99999999999999999999999\n+300\n");
        let mut live: Vec<i32> = g.live.iter().copied().collect();
        live.sort_unstable();
        assert_eq!(live, vec![200, 300]);
    }
}
