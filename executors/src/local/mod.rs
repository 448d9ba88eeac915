//! The local executor: jobs run as `bash -c COMMAND` on this machine.
//!
//! Each job runs in its own cgroup where one can be created (see [`Containment`]), is its own
//! session (and process group), with no controlling terminal but its own pty if it has one,
//! gets `PR_SET_PDEATHSIG` so that it dies with the server, and carries a tag in its
//! environment so that, without a cgroup, its tree can still be found (see [`tree`]). Its stdio
//! are pipes or a pty, never the server's own stdio (the server's stdout is the MCP channel).
//! Under a sandbox, the kernel confines it (see [`sandbox`]).

mod cgroup;
mod child;
mod facts;
mod fdio;
mod reaper;
mod sandbox;
mod stdin_wait;
mod tree;

pub use cgroup::{CONTAINMENT_VAR, Containment, ContainmentError, Method};
pub use sandbox::{Support as SandboxSupport, remove_scratch};
pub use tree::{TAG_VAR, kill_orphans, kill_tagged};

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{
    BoxFuture, ControlError, Executor, JobSpec, Outcome, OutputSink, Process, SpawnError, Spawned,
    StdinError,
};
use tree::TreeRoot;

/// How long a job's output may keep arriving after its main process exited before the job is
/// reported as ended. Output that arrives later (from a background process still holding the
/// pipe) is still captured.
const DRAIN_GRACE: Duration = Duration::from_millis(250);
/// How often a kill checks whether the tree is gone.
const KILL_POLL: Duration = Duration::from_millis(10);
/// How long a kill waits after SIGKILL before it reports survivors.
const KILL_DEADLINE: Duration = Duration::from_secs(3);
/// How often an ended job's cgroup is checked for removal while leftovers of the job still run.
const LINGER_POLL: Duration = Duration::from_secs(2);
/// Pseudo-terminal size: wide, so that tools do not wrap lines for a reader that has no screen.
const PTY_ROWS: u16 = 50;
const PTY_COLS: u16 = 200;

/// Hears when a job's process group starts, and when its leader is about to be reaped (after
/// which its number may name another group). The guardian keeps this list, to kill the groups if
/// the server dies. Called with the reaper's lock held: must not block.
pub trait GroupWatcher: Send + Sync {
    /// A job started as the leader of process group `pgid`.
    fn started(&self, pgid: i32);
    /// The leader of `pgid` is about to be reaped.
    fn ended(&self, pgid: i32);
}

/// Runs jobs on this machine.
pub struct LocalExecutor {
    shell: PathBuf,
    containment: Arc<Containment>,
    watcher: Option<Arc<dyn GroupWatcher>>,
    reaper: Arc<reaper::Reaper>,
    /// The server's environment, read once: reading it per job is a measurable part of a
    /// spawn, and the server never changes it.
    base_env: Vec<(OsString, OsString)>,
    /// Signals the server ignores (SIG_IGN survives `exec`, so the child resets them).
    ignored: Vec<i32>,
    /// What the kernel can confine here, probed once.
    support: sandbox::Support,
    /// Stand-ins for hidden places (`None` without a scratch directory: then nothing can be
    /// hidden).
    stand_ins: Option<sandbox::StandIns>,
}

impl LocalExecutor {
    /// Finds bash and starts the process-wide reaper (which makes this process a child
    /// subreaper). Jobs are contained as `containment` says.
    pub fn new(containment: Arc<Containment>) -> io::Result<Self> {
        Self::build(containment, None)
    }

    /// Like [`LocalExecutor::new`], with a private directory (only the server writes there)
    /// for the sandbox's stand-ins for hidden places.
    pub fn with_scratch(containment: Arc<Containment>, dir: &Path) -> io::Result<Self> {
        Self::build(containment, Some(dir))
    }

    fn build(containment: Arc<Containment>, scratch: Option<&Path>) -> io::Result<Self> {
        let stand_ins = scratch.map(sandbox::StandIns::create).transpose()?;
        let support = sandbox::probe(stand_ins.as_ref());
        let shell = ["/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "bash was not found"))?;
        Ok(Self {
            shell,
            containment,
            watcher: None,
            reaper: reaper::global()?,
            base_env: std::env::vars_os().filter(|(k, _)| k != TAG_VAR).collect(),
            ignored: child::ignored_signals(),
            support,
            stand_ins,
        })
    }

    /// What this machine's kernel can confine.
    pub fn sandbox_support(&self) -> &SandboxSupport {
        &self.support
    }

    /// Tells `watcher` of every job's process group.
    pub fn with_watcher(mut self, watcher: Arc<dyn GroupWatcher>) -> Self {
        self.watcher = Some(watcher);
        self
    }

    fn spawn_now(&self, spec: JobSpec, sink: Arc<dyn OutputSink>) -> Result<Spawned, SpawnError> {
        validate(&spec)?;
        let mut env: Vec<(OsString, OsString)> = if spec.clear_env {
            Vec::new()
        } else {
            self.base_env
                .iter()
                .filter(|(k, _)| !spec.env.iter().any(|(n, _)| OsStr::new(n) == k))
                .cloned()
                .collect()
        };
        env.extend(
            spec.env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        env.push((TAG_VAR.into(), spec.tag.clone().into()));

        // The parent's ends, and the child's ends (closed here once the child has them).
        let (child_stdio, master, stdin_w, out_r, err_r): ([OwnedFd; 3], _, _, _, _) = if spec.pty {
            let winsize = nix::pty::Winsize {
                ws_row: PTY_ROWS,
                ws_col: PTY_COLS,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let pty = nix::pty::openpty(Some(&winsize), None).map_err(io::Error::from)?;
            set_cloexec(&pty.master)?;
            set_cloexec(&pty.slave)?;
            let slave = pty.slave;
            (
                [slave.try_clone()?, slave.try_clone()?, slave],
                Some(pty.master),
                None,
                None,
                None,
            )
        } else {
            let (in_r, in_w) = if spec.stdin {
                let (r, w) = pipe()?;
                (r, Some(w))
            } else {
                (OwnedFd::from(std::fs::File::open("/dev/null")?), None)
            };
            let (o_r, o_w) = pipe()?;
            if spec.merge_stderr {
                // One pipe: the kernel keeps the order of the job's writes.
                ([in_r, o_w.try_clone()?, o_w], None, in_w, Some(o_r), None)
            } else {
                let (e_r, e_w) = pipe()?;
                ([in_r, o_w, e_w], None, in_w, Some(o_r), Some(e_r))
            }
        };
        let cgroup = self.containment.new_job(&spec.tag).map_err(|e| {
            SpawnError::Io(io::Error::new(
                e.kind(),
                format!("cannot create the job's cgroup: {e}"),
            ))
        })?;
        let mut prepared = child::Prepared::new(
            &self.shell,
            &[OsStr::new("-c"), OsStr::new(&spec.command)],
            &env,
            spec.cwd.as_deref(),
            [
                child_stdio[0].as_raw_fd(),
                child_stdio[1].as_raw_fd(),
                child_stdio[2].as_raw_fd(),
            ],
            spec.pty,
            &self.ignored,
        )?;
        if let Some(sb) = &spec.sandbox {
            let terminal = if spec.pty {
                terminal_path(&child_stdio[0])
            } else {
                None
            };
            let confinement = sandbox::Confinement::prepare(
                &self.support,
                sb,
                self.stand_ins.as_ref(),
                terminal.as_deref(),
            );
            match confinement {
                Ok(c) => prepared.confine(c),
                Err(e) => {
                    if let Some(c) = &cgroup {
                        let _ = c.group.remove();
                    }
                    return Err(e);
                }
            }
        }
        if let Some(c) = &cgroup {
            prepared.join_cgroup(c.procs.as_raw_fd(), c.dir.as_ref().map(|d| d.as_raw_fd()));
        }
        // Copies of the output ends, to see whether output is still waiting to be pumped.
        let mut unread_probes = Vec::new();
        if spec.stdin || spec.pty {
            for fd in master.iter().chain(out_r.iter()).chain(err_r.iter()) {
                unread_probes.push(fd.try_clone()?);
            }
        }
        // The reader runs before the job does: output that piles up in both pipes before
        // anyone reads it has no order the reader can tell (see `fdio::pump`). Should the
        // spawn fail, the job's ends close and the reader ends at end of file.
        let holding = Arc::new(AtomicBool::new(false));
        let pump = match &master {
            Some(master) => tokio::spawn(fdio::pump(
                Some(master.try_clone()?),
                None,
                sink,
                Arc::clone(&holding),
            )),
            None => {
                for fd in out_r.iter().chain(err_r.iter()) {
                    fdio::grow_pipe(fd);
                }
                tokio::spawn(fdio::pump(out_r, err_r, sink, Arc::clone(&holding)))
            }
        };
        let registered = match self
            .reaper
            .spawn(|| child::spawn(prepared), self.watcher.as_ref())
        {
            Ok(r) => r,
            Err(e) => {
                if let Some(c) = &cgroup {
                    let _ = c.group.remove();
                }
                return Err(e.into());
            }
        };
        // Only the child needed `cgroup.procs`, and only until it joined.
        let cgroup = cgroup.map(|c| c.group);
        let stdin_id = (spec.stdin || spec.pty)
            .then(|| {
                std::fs::read_link(format!("/proc/self/fd/{}", child_stdio[0].as_raw_fd())).ok()
            })
            .flatten()
            .map(|p| p.to_string_lossy().into_owned());
        // The child has its copies: closing ours lets the job see end-of-file on stdin when we
        // close the write end, and lets the pty master read end-of-file when the job is done.
        drop(child_stdio);
        let pid = registered.pid;

        let stdin = match master {
            Some(master) => Some(fdio::Writer::new(master)?),
            None => stdin_w.map(fdio::Writer::new).transpose()?,
        };

        let exit = registered.exit;
        let stdin = Arc::new(tokio::sync::Mutex::new(stdin.map(Arc::new)));
        let has_stdin = Arc::new(AtomicBool::new(spec.stdin || spec.pty));
        let (stdin_at_exit, has_stdin_at_exit) = (Arc::clone(&stdin), Arc::clone(&has_stdin));
        let cgroup_at_exit = cgroup.clone();
        let unread_probes = Arc::new(std::sync::Mutex::new(unread_probes));
        let probes_at_exit = Arc::clone(&unread_probes);
        let outcome: BoxFuture<'static, Outcome> = Box::pin(async move {
            let info = match exit.await {
                Ok(info) => info,
                Err(_) => return Outcome::Lost("the reaper stopped".into()),
            };
            // The job is over: close our end of its stdin now, not when the (possibly long
            // retained) job is forgotten — one descriptor per ended job would add up.
            has_stdin_at_exit.store(false, Ordering::SeqCst);
            stdin_at_exit.lock().await.take();
            // Likewise the copies of its output ends (kept only to see a reply still unread).
            probes_at_exit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            if let Some(group) = cgroup_at_exit {
                remove_when_empty(group);
            }
            let _ = tokio::time::timeout(DRAIN_GRACE, pump).await;
            Outcome::Exited(info)
        });
        let process = Arc::new(LocalProcess {
            pid,
            tag: spec.tag,
            cgroup,
            exited: registered.exited,
            stdin,
            has_stdin,
            stdin_id,
            unread_probes,
            output_in_flight: holding,
            kill_lock: tokio::sync::Mutex::new(()),
        });
        Ok(Spawned { process, outcome })
    }
}

/// The path of a terminal device, to let a confined job reopen its own terminal.
fn terminal_path(fd: &OwnedFd) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()
        .filter(|p| p.starts_with("/dev/"))
}

/// Removes an ended job's cgroup now if it is empty, or else once the job's leftovers are gone.
///
/// Why not at once: background processes of a job may outlive its main process (as they may
/// without a cgroup), and stay contained until they end or `kill` / the server's exit ends them.
fn remove_when_empty(group: cgroup::Group) {
    if !matches!(group.remove(), Ok(false)) {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LINGER_POLL).await;
            if !matches!(group.remove(), Ok(false)) {
                return;
            }
        }
    });
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is valid for two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

fn validate(spec: &JobSpec) -> Result<(), SpawnError> {
    if spec.command.trim().is_empty() {
        return Err(SpawnError::Invalid("the command is empty".into()));
    }
    if spec.command.contains('\0') {
        return Err(SpawnError::Invalid(
            "the command contains a NUL byte".into(),
        ));
    }
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(SpawnError::Invalid(format!(
                "environment variable name {k:?} is not valid (empty, or contains '=' or NUL)"
            )));
        }
        if v.contains('\0') {
            return Err(SpawnError::Invalid(format!(
                "environment variable {k} contains a NUL byte"
            )));
        }
        if k == TAG_VAR {
            return Err(SpawnError::Invalid(format!("{TAG_VAR} is reserved")));
        }
    }
    if let Some(cwd) = &spec.cwd {
        check_cwd(cwd)?;
    }
    Ok(())
}

fn check_cwd(cwd: &Path) -> Result<(), SpawnError> {
    let problem = match std::fs::metadata(cwd) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is not a directory".to_string(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => "does not exist".to_string(),
        Err(e) => format!("cannot be used: {e}"),
    };
    Err(SpawnError::BadCwd {
        path: cwd.display().to_string(),
        problem,
    })
}

impl Executor for LocalExecutor {
    fn spawn(
        &self,
        spec: JobSpec,
        sink: Arc<dyn OutputSink>,
    ) -> BoxFuture<'_, Result<Spawned, SpawnError>> {
        // Spawned right away, on the calling runtime thread: PR_SET_PDEATHSIG fires when the
        // *thread* that forked exits, so forking from a short-lived blocking-pool thread would
        // kill the job when that thread retires.
        let result = self.spawn_now(spec, sink);
        Box::pin(async move { result })
    }

    fn probe(&self) -> BoxFuture<'_, Result<crate::HostFacts, crate::ProbeError>> {
        Box::pin(std::future::ready(Ok(facts::local_facts())))
    }
}

struct LocalProcess {
    pid: u32,
    tag: String,
    /// The job's cgroup: every process the job started, whatever it did.
    cgroup: Option<cgroup::Group>,
    /// Raised by the reaper just before the leader is reaped: from then on its pid (and so the
    /// job's pgid) may be reused, and only the tag identifies the job's processes.
    exited: Arc<AtomicBool>,
    stdin: Arc<tokio::sync::Mutex<Option<Arc<fdio::Writer>>>>,
    has_stdin: Arc<AtomicBool>,
    /// What the job's stdin is, as `/proc/PID/fd/0` names it (`pipe:[N]`, `/dev/pts/N`): to
    /// see when it waits for input there.
    stdin_id: Option<String>,
    /// Copies of the job's output ends (pipes or the pty master): output still unread there
    /// means the job's reply is not all in yet.
    unread_probes: Arc<std::sync::Mutex<Vec<OwnedFd>>>,
    /// Output read from the pipes but not yet in the store.
    output_in_flight: Arc<AtomicBool>,
    /// One kill at a time per job; a second caller waits for the first to finish.
    kill_lock: tokio::sync::Mutex<()>,
}

impl LocalProcess {
    /// Output the job wrote that is not in the store yet: still in its pipes (or pty), or read
    /// by the pump and on its way (the flag is loaded after the pipes are looked at: see
    /// `fdio::pump`).
    fn output_pending(&self) -> bool {
        let unread = self
            .unread_probes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|fd| fdio::unread(fd) > 0);
        unread || self.output_in_flight.load(Ordering::SeqCst)
    }

    fn root(&self) -> TreeRoot<'_> {
        let leader = if self.exited.load(Ordering::SeqCst) {
            None
        } else {
            i32::try_from(self.pid).ok()
        };
        TreeRoot {
            leader,
            tag: &self.tag,
        }
    }

    /// The job's live processes: its cgroup's, and (in case one left the cgroup, or there is
    /// none) those the tree search finds.
    fn members(&self) -> Vec<i32> {
        let mut pids = tree::members(&self.root());
        if let Some(group) = &self.cgroup {
            pids.extend(group.pids());
            pids.sort_unstable();
            pids.dedup();
        }
        pids
    }

    fn signal_all(&self, signal: i32) {
        if let Some(group) = &self.cgroup {
            group.signal(signal);
        }
        tree::signal_all(&self.root(), signal);
    }

    /// SIGKILLs the whole job: the cgroup at once (forks included), and the tree.
    async fn kill_all(&self) {
        if let Some(group) = &self.cgroup {
            let group = group.clone();
            // A freeze may wait: not on a runtime thread.
            let _ = tokio::task::spawn_blocking(move || group.kill()).await;
        }
        tree::signal_all(&self.root(), libc::SIGKILL);
    }

    /// The job is gone: its cgroup can go too, once the main process is reaped (until then the
    /// reaper's exit path removes it).
    fn forget_cgroup(&self) {
        if let Some(group) = &self.cgroup
            && self.exited.load(Ordering::SeqCst)
        {
            let _ = group.remove();
        }
    }

    async fn wait_gone(&self, until: Instant) -> Vec<i32> {
        loop {
            let left = self.members();
            if left.is_empty() || Instant::now() >= until {
                return left;
            }
            tokio::time::sleep(KILL_POLL).await;
        }
    }
}

impl Process for LocalProcess {
    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    fn accepts_stdin(&self) -> bool {
        self.has_stdin.load(Ordering::SeqCst)
    }

    fn waiting_for_input(&self) -> Option<bool> {
        let stdin = self.stdin_id.as_deref()?;
        if self.output_pending() {
            return Some(false);
        }
        // The cgroup lists the job's processes in one read; without one, the tree search.
        let pids = match &self.cgroup {
            Some(group) => group.pids(),
            None => self.members(),
        };
        // Looked at again once the job is seen blocked: a prompt written just before it blocked
        // (after the first look) must reach the store before the job counts as waiting.
        Some(stdin_wait::waiting(&pids, stdin) && !self.output_pending())
    }

    fn activity(&self) -> Option<u64> {
        self.stdin_id.as_ref()?;
        let pids = match &self.cgroup {
            Some(group) => group.pids(),
            None => self.members(),
        };
        Some(stdin_wait::activity(&pids))
    }

    fn write_stdin<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<(), StdinError>> {
        Box::pin(async move {
            let writer = self.stdin.lock().await.clone().ok_or(StdinError::Closed)?;
            writer.write_all(data).await.map_err(StdinError::Broken)
        })
    }

    fn close_stdin(&self) -> BoxFuture<'_, Result<(), StdinError>> {
        Box::pin(async move {
            self.has_stdin.store(false, Ordering::SeqCst);
            match self.stdin.lock().await.take() {
                Some(_) => Ok(()),
                None => Err(StdinError::Closed),
            }
        })
    }

    fn kill_tree(&self, signal: i32, grace: Duration) -> BoxFuture<'_, Result<(), ControlError>> {
        Box::pin(async move {
            let _serial = self.kill_lock.lock().await;
            if signal != libc::SIGKILL {
                self.signal_all(signal);
                // A stopped process cannot act on TERM: let it run so that it can.
                self.signal_all(libc::SIGCONT);
                if self.wait_gone(Instant::now() + grace).await.is_empty() {
                    self.forget_cgroup();
                    return Ok(());
                }
            }
            let deadline = Instant::now() + KILL_DEADLINE;
            loop {
                // Repeated: without a cgroup, a process may fork between the scan and the signal.
                self.kill_all().await;
                let left = self.wait_gone(Instant::now() + KILL_POLL * 5).await;
                if left.is_empty() {
                    self.forget_cgroup();
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    let pids = left.iter().filter_map(|p| u32::try_from(*p).ok()).collect();
                    return Err(ControlError::Survivors(left.len(), pids));
                }
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod containment_tests;
