//! Containment: one cgroup per job, so that every descendant of a job can be found and killed,
//! whatever it does to hide (`setsid`, double fork, `env -i`, a new process group).
//!
//! Three methods, best first:
//! - **cgroup v2**: the server creates `<its own cgroup>/mcp-jobs-<instance>/` and a child group
//!   per job; a job's first process joins its group before `exec`, and every process it starts
//!   is born there. `cgroup.kill` kills a group (or, on the instance group, every job) at once.
//!   No controller is enabled: only `cgroup.procs`, `cgroup.kill` and `cgroup.events` are used,
//!   so any cgroup the server may create children in will do.
//! - **cgroup v1 freezer**: the same layout in the `freezer` hierarchy; a kill freezes the group
//!   (nothing in it can fork any more), SIGKILLs every member, and thaws it.
//! - **process group** (best effort): no cgroup; jobs are found by process group, parent links
//!   and an environment tag (see `tree`).
//!
//! `MCP_JOBS_CONTAINMENT=auto|cgroup2|freezer|process-group` forces a method (for tests and
//! operators); a forced method that cannot be used is an error, not a silent downgrade.

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that forces a containment method.
pub const CONTAINMENT_VAR: &str = "MCP_JOBS_CONTAINMENT";

/// Prefix of the cgroup a server run creates for its jobs.
const INSTANCE_PREFIX: &str = "mcp-jobs-";
/// How often a kill checks whether a group is empty.
const POLL: Duration = Duration::from_millis(10);
/// How long a freeze may take before the kill goes ahead anyway (a task in uninterruptible
/// sleep can hold a group in FREEZING).
const FREEZE_WAIT: Duration = Duration::from_millis(500);

/// How a job's processes are contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A cgroup v2 group per job.
    Cgroup2,
    /// A cgroup v1 `freezer` group per job.
    Freezer,
    /// No cgroup: process group, parent links and environment tag (best effort).
    ProcessGroup,
}

impl Method {
    /// The name used in [`CONTAINMENT_VAR`] and in the guardian's argument.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cgroup2 => "cgroup2",
            Method::Freezer => "freezer",
            Method::ProcessGroup => "process-group",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "cgroup2" => Some(Method::Cgroup2),
            "freezer" => Some(Method::Freezer),
            "process-group" => Some(Method::ProcessGroup),
            _ => None,
        }
    }
}

/// Why containment could not be set up as asked.
#[derive(Debug, thiserror::Error)]
pub enum ContainmentError {
    /// [`CONTAINMENT_VAR`] holds something else than a method name or `auto`.
    #[error("{CONTAINMENT_VAR}={0:?} is not one of auto, cgroup2, freezer, process-group")]
    BadSetting(String),
    /// A forced method cannot be used on this machine.
    #[error("{CONTAINMENT_VAR}={method} cannot be used: {reason}")]
    Unavailable {
        method: &'static str,
        reason: String,
    },
}

/// The containment of this server run's local jobs.
#[derive(Debug)]
pub struct Containment {
    method: Method,
    /// `<hierarchy><server's cgroup>/mcp-jobs-<instance>`; `None` for the process-group method.
    root: Option<PathBuf>,
    /// Why `auto` fell back to the process-group method.
    fallback: Option<String>,
    next: AtomicU64,
}

impl Containment {
    /// Chooses the method ([`CONTAINMENT_VAR`], else the best available) and creates this run's
    /// instance cgroup. With `auto`, a machine where no cgroup can be created gets the
    /// process-group method (see [`Containment::fallback_reason`]).
    pub fn setup(instance: &str) -> Result<Self, ContainmentError> {
        let wanted = std::env::var(CONTAINMENT_VAR).unwrap_or_default();
        let forced = match wanted.as_str() {
            "" | "auto" => None,
            other => Some(Method::parse(other).ok_or(ContainmentError::BadSetting(wanted))?),
        };
        Self::create(instance, forced)
    }

    /// [`Containment::setup`] with the method given (`None`: the best available) rather than
    /// read from the environment.
    pub fn create(instance: &str, forced: Option<Method>) -> Result<Self, ContainmentError> {
        let name = format!("{INSTANCE_PREFIX}{instance}");
        let try_method = |method: Method| -> Result<Self, String> {
            let base = base_dir(method)?;
            remove_stale(&base);
            let root = base.join(&name);
            fs::create_dir(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
            Ok(Self {
                method,
                root: Some(root),
                fallback: None,
                next: AtomicU64::new(1),
            })
        };
        match forced {
            Some(Method::ProcessGroup) => Ok(Self::process_group(None)),
            Some(method) => try_method(method).map_err(|reason| ContainmentError::Unavailable {
                method: method.name(),
                reason,
            }),
            None => {
                let mut reasons = Vec::new();
                for method in [Method::Cgroup2, Method::Freezer] {
                    match try_method(method) {
                        Ok(c) => return Ok(c),
                        Err(e) => reasons.push(format!("{}: {e}", method.name())),
                    }
                }
                Ok(Self::process_group(Some(reasons.join("; "))))
            }
        }
    }

    /// Which method [`Containment::setup`] would choose here, checked by creating (and
    /// removing) a cgroup. For reports such as `mcp-jobs sandbox`.
    pub fn probe() -> Result<Self, ContainmentError> {
        let mut c = Self::setup(&format!("{}-probe", std::process::id()))?;
        c.remove_all();
        c.root = None;
        Ok(c)
    }

    fn process_group(fallback: Option<String>) -> Self {
        Self {
            method: Method::ProcessGroup,
            root: None,
            fallback,
            next: AtomicU64::new(1),
        }
    }

    /// The method in use.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Why no cgroup is used although none was asked for: `Some` only when `auto` fell back.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The instance cgroup (every job's group is a child of it), if any.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// One paragraph for humans: the method and what it guarantees.
    pub fn describe(&self) -> String {
        let at = |what: &str| match &self.root {
            Some(r) => format!("{what} (under {})", r.display()),
            None => what.to_string(),
        };
        match self.method {
            Method::Cgroup2 => format!(
                "Containment: cgroup v2. Each job runs in its own {}. Every process a job starts \
                 is born in that group and stays there whatever it does (setsid, double fork, \
                 env -i, a new process group), so kill, the server's exit and the guardian (when \
                 the server is killed outright) end all of them with cgroup.kill. Only a process \
                 allowed to write cgroup files (e.g. a job running as root) could move itself out.",
                at("cgroup")
            ),
            Method::Freezer => format!(
                "Containment: cgroup v1 freezer. Each job runs in its own {}. Every process a job \
                 starts is born in that group and stays there whatever it does (setsid, double \
                 fork, env -i, a new process group); kill, the server's exit and the guardian \
                 freeze the group (nothing in it can fork any more), SIGKILL every member and \
                 thaw it. Only a process allowed to write cgroup files (e.g. a job running as \
                 root) could move itself out.",
                at("freezer cgroup")
            ),
            Method::ProcessGroup => {
                let why = match &self.fallback {
                    Some(r) => format!("no cgroup could be created ({r})"),
                    None => format!("{CONTAINMENT_VAR}=process-group"),
                };
                format!(
                    "Containment: process group, best effort: {why}. A job's processes are found \
                     by its process group, by parent links and by an environment tag. A process \
                     that leaves the process group (setsid), is orphaned (double fork) and clears \
                     its environment (env -i) escapes kill and the server's exit; after a SIGKILL \
                     of the server the guardian kills only the jobs' process groups and tagged \
                     processes."
                )
            }
        }
    }

    /// What the guardian needs to kill every job: `METHOD:PATH`, or `None` without a cgroup.
    pub fn guardian_arg(&self) -> Option<String> {
        let root = self.root.as_ref()?;
        Some(format!("{}:{}", self.method.name(), root.display()))
    }

    /// The containment described by [`Containment::guardian_arg`]. Refuses anything that is
    /// not an instance cgroup, so that a bad argument cannot make the guardian kill elsewhere.
    pub fn from_guardian_arg(arg: &str) -> Option<Self> {
        let (method, path) = arg.split_once(':')?;
        let method = Method::parse(method).filter(|m| *m != Method::ProcessGroup)?;
        let root = PathBuf::from(path);
        let name = root.file_name()?.to_str()?;
        if !root.is_absolute() || !name.starts_with(INSTANCE_PREFIX) {
            return None;
        }
        Some(Self {
            method,
            root: Some(root),
            fallback: None,
            next: AtomicU64::new(1),
        })
    }

    /// Creates a job's group, named after the last part of its tag where that is a plain name.
    pub(crate) fn new_job(&self, tag: &str) -> io::Result<Option<JobCgroup>> {
        let Some(root) = &self.root else {
            return Ok(None);
        };
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let suffix = tag.rsplit(':').next().unwrap_or("");
        let plain = !suffix.is_empty()
            && suffix.len() <= 32
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let mut dir = root.join(if plain {
            suffix.to_string()
        } else {
            format!("j{n}")
        });
        let mut created = fs::create_dir(&dir);
        if created
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
        {
            // Someone removed our empty instance group (another server's stale sweep, from a
            // pid namespace where we look dead): make it again.
            fs::create_dir(root).or_else(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            })?;
            created = fs::create_dir(&dir);
        }
        if let Err(e) = created {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
            // The same tag twice (a caller's choice): keep both groups apart.
            dir = root.join(format!("{suffix}.{n}"));
            fs::create_dir(&dir)?;
        }
        let procs = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(dir.join("cgroup.procs"));
        let opened = procs.and_then(|f| {
            let dir_fd = match self.method {
                Method::Cgroup2 => Some(OwnedFd::from(
                    fs::OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                        .open(&dir)?,
                )),
                _ => None,
            };
            Ok((f, dir_fd))
        });
        match opened {
            Ok((f, dir_fd)) => Ok(Some(JobCgroup {
                group: Group {
                    method: self.method,
                    dir,
                },
                procs: OwnedFd::from(f),
                dir: dir_fd,
            })),
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// Kills every process of every job (SIGKILL), waits until none is left or `deadline`
    /// passes, and removes the groups. Returns the processes that survived.
    pub fn kill_all(&self, deadline: Instant) -> Vec<i32> {
        let Some(root) = &self.root else {
            return Vec::new();
        };
        let group = Group {
            method: self.method,
            dir: root.clone(),
        };
        let left = group.kill_until_empty(deadline);
        self.remove_all();
        left
    }

    /// Removes every empty job group, then the instance group if it is empty.
    fn remove_all(&self) {
        let Some(root) = &self.root else {
            return;
        };
        for dir in subgroups(root) {
            let _ = fs::remove_dir(dir);
        }
        let _ = fs::remove_dir(root);
    }
}

/// A cgroup (a job's, or the instance's with the jobs' below it).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    method: Method,
    dir: PathBuf,
}

/// A new job's cgroup, and its `cgroup.procs` open for writing (for the child to join).
#[derive(Debug)]
pub(crate) struct JobCgroup {
    pub(crate) group: Group,
    pub(crate) procs: OwnedFd,
    /// The directory itself (cgroup v2 only), for a child born in the group.
    pub(crate) dir: Option<OwnedFd>,
}

impl Group {
    /// The live processes in the group and below it (zombies are not listed by the kernel).
    /// A group that is gone has none.
    pub(crate) fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in std::iter::once(self.dir.clone()).chain(subgroups(&self.dir)) {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids
    }

    /// Sends `signal` to every process of the group. Processes forked meanwhile are missed:
    /// this is for the polite signal; [`Group::kill`] is the one that catches everything.
    pub(crate) fn signal(&self, signal: i32) {
        for pid in self.pids() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// SIGKILLs every process of the group, including any forked during the kill.
    pub(crate) fn kill(&self) {
        match self.method {
            Method::Cgroup2 => {
                // The kernel kills the whole subtree and refuses forks into it meanwhile.
                let _ = write_file(&self.dir.join("cgroup.kill"), b"1");
            }
            Method::Freezer => {
                // Frozen, nothing can fork between the listing and the signal; SIGKILL takes
                // effect at the thaw.
                let frozen = self.set_frozen(true);
                for pid in self.pids() {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                if frozen {
                    self.set_frozen(false);
                }
            }
            Method::ProcessGroup => {}
        }
    }

    /// Freezes (or thaws) the group; true once the state is reached (or, thawing, asked).
    fn set_frozen(&self, frozen: bool) -> bool {
        let state = self.dir.join("freezer.state");
        let want: &[u8] = if frozen { b"FROZEN" } else { b"THAWED" };
        if write_file(&state, want).is_err() {
            return false;
        }
        if !frozen {
            return true;
        }
        let until = Instant::now() + FREEZE_WAIT;
        loop {
            match fs::read(&state) {
                Ok(s) if s.trim_ascii() == want => return true,
                Ok(_) if Instant::now() < until => std::thread::sleep(POLL / 5),
                _ => return false,
            }
        }
    }

    /// Whether no live process is left in the group (a group that is gone is empty).
    pub(crate) fn is_empty(&self) -> bool {
        if self.method == Method::Cgroup2 {
            // `populated` covers the subtree in one read.
            match fs::read_to_string(self.dir.join("cgroup.events")) {
                Ok(events) => return events.lines().any(|l| l.trim() == "populated 0"),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
                Err(_) => {}
            }
        }
        self.pids().is_empty()
    }

    /// Kills the group until it is empty or `deadline` passes; returns what is left.
    pub(crate) fn kill_until_empty(&self, deadline: Instant) -> Vec<i32> {
        loop {
            self.kill();
            let next = Instant::now() + POLL * 5;
            while Instant::now() < next {
                if self.is_empty() {
                    return Vec::new();
                }
                std::thread::sleep(POLL);
            }
            if Instant::now() >= deadline {
                return self.pids();
            }
        }
    }

    /// Removes the group's directory. Ok(true) once it is gone; Ok(false) while processes
    /// still live in it.
    pub(crate) fn remove(&self) -> io::Result<bool> {
        match fs::remove_dir(&self.dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Removes the empty instance groups of servers that are gone (killed together with their
/// guardian, which would have removed them). Instance names start with the server's pid; a
/// group that still holds processes is left alone (`rmdir` refuses it).
fn remove_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(INSTANCE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = e.path();
        for sub in subgroups(&dir) {
            let _ = fs::remove_dir(sub);
        }
        let _ = fs::remove_dir(dir);
    }
}

/// Every cgroup below `dir`, deepest first (so that they can be removed in that order).
fn subgroups(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            out.extend(subgroups(&p));
            out.push(p);
        }
    }
    out
}

fn write_file(path: &Path, data: &[u8]) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(data)
}

/// Where this process's groups go for `method`: the hierarchy's mount point joined with the
/// cgroup this process is in.
fn base_dir(method: Method) -> Result<PathBuf, String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let cgroups = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let (mount_root, mount_point) = find_mount(&mountinfo, method)
        .ok_or_else(|| format!("no {} hierarchy is mounted", method.name()))?;
    let own = own_path(&cgroups, method)
        .ok_or_else(|| format!("this process is in no {} cgroup", method.name()))?;
    // Inside a cgroup namespace or a bind mount, the mount shows only part of the tree.
    let relative = own
        .strip_prefix(mount_root.trim_end_matches('/'))
        .filter(|r| r.is_empty() || r.starts_with('/'))
        .ok_or_else(|| format!("this process's cgroup {own} is not under the mount"))?;
    let base = PathBuf::from(mount_point).join(relative.trim_start_matches('/'));
    if !base.join("cgroup.procs").exists() {
        return Err(format!("{} is not a cgroup directory", base.display()));
    }
    Ok(base)
}

/// (root within the hierarchy, mount point) of the first mount of `method`'s hierarchy.
fn find_mount(mountinfo: &str, method: Method) -> Option<(String, String)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        let mut right = right.split(' ');
        let fstype = right.next()?;
        let _source = right.next()?;
        let options = right.next().unwrap_or("");
        let wanted = match method {
            Method::Cgroup2 => fstype == "cgroup2",
            Method::Freezer => fstype == "cgroup" && options.split(',').any(|o| o == "freezer"),
            Method::ProcessGroup => false,
        };
        if !wanted {
            return None;
        }
        Some((unescape(fields.get(3)?)?, unescape(fields.get(4)?)?))
    })
}

/// This process's path in `method`'s hierarchy, from /proc/self/cgroup.
fn own_path(cgroups: &str, method: Method) -> Option<String> {
    cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        let wanted = match method {
            Method::Cgroup2 => id == "0" && controllers.is_empty(),
            Method::Freezer => controllers.split(',').any(|c| c == "freezer"),
            Method::ProcessGroup => false,
        };
        wanted.then(|| path.to_string())
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(oct) = s.get(i + 1..i + 4)
            && let Ok(b) = u8::from_str_radix(oct, 8)
        {
            out.push(b);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 /outer /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_each_hierarchy() {
        assert_eq!(
            find_mount(MOUNTINFO, Method::Cgroup2),
            Some(("/outer".into(), "/sys/fs/cgroup/uni fied".into()))
        );
        assert_eq!(
            find_mount(MOUNTINFO, Method::Freezer),
            Some(("/".into(), "/sys/fs/cgroup/freezer".into()))
        );
    }

    #[test]
    fn finds_own_path() {
        let cg = "9:name=systemd:/\n6:freezer:/a/b\n4:cpu,cpuacct:/x\n0::/outer/me\n";
        assert_eq!(own_path(cg, Method::Cgroup2).as_deref(), Some("/outer/me"));
        assert_eq!(own_path(cg, Method::Freezer).as_deref(), Some("/a/b"));
    }

    #[test]
    fn guardian_argument_only_names_an_instance_group() {
        let c = Containment::from_guardian_arg("cgroup2:/sys/fs/cgroup/mcp-jobs-1-2").unwrap();
        assert_eq!(c.method(), Method::Cgroup2);
        assert!(Containment::from_guardian_arg("cgroup2:/sys/fs/cgroup").is_none());
        assert!(Containment::from_guardian_arg("process-group:/x/mcp-jobs-1").is_none());
        assert!(Containment::from_guardian_arg("cgroup2:relative/mcp-jobs-1").is_none());
    }
}
