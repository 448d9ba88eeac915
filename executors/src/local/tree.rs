//! Finding and signalling every process of a job's tree.
//!
//! A job's processes are found three ways, because each alone misses some:
//! - its process group (the leader's pid), while the leader is not yet reaped and so the pgid
//!   cannot have been reused;
//! - the descendants of the leader, through the parent links in `/proc`, which catches children
//!   that moved to another group or session while their parent is alive;
//! - the job's tag in the environment each process started with (`/proc/PID/environ`), which
//!   catches processes that escaped the group *and* were orphaned (re-parented to the server, a
//!   subreaper, or to init). Only a process that also cleared its environment escapes all three.

use std::collections::{HashMap, HashSet};
use std::fs;

/// The environment variable that carries a job's tag into every process of its tree.
pub const TAG_VAR: &str = "MCP_JOBS_TAG";

/// Who a job is, for the tree search.
pub(crate) struct TreeRoot<'a> {
    /// The leader's pid, which is also the job's process group id; `None` once it was reaped.
    pub leader: Option<i32>,
    /// The job's tag (value of [`TAG_VAR`]).
    pub tag: &'a str,
}

struct ProcEntry {
    ppid: i32,
    pgid: i32,
    zombie: bool,
}

fn read_proc() -> HashMap<i32, ProcEntry> {
    let mut procs = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return procs;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(e) = read_stat(pid) {
            procs.insert(pid, e);
        }
    }
    procs
}

fn read_stat(pid: i32) -> Option<ProcEntry> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some(ProcEntry {
        ppid,
        pgid,
        zombie: state == "Z" || state == "X",
    })
}

fn has_tag(pid: i32, needle: &[u8]) -> bool {
    match fs::read(format!("/proc/{pid}/environ")) {
        Ok(environ) => environ.split(|b| *b == 0).any(|var| var == needle),
        Err(_) => false,
    }
}

/// The live (non-zombie) processes of the job's tree, leader included.
pub(crate) fn members(root: &TreeRoot<'_>) -> Vec<i32> {
    let procs = read_proc();
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut found: HashSet<i32> = HashSet::new();
    if let Some(leader) = root.leader {
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for (pid, e) in &procs {
            children.entry(e.ppid).or_default().push(*pid);
        }
        let mut stack: Vec<i32> = procs
            .iter()
            .filter(|(pid, e)| e.pgid == leader || **pid == leader)
            .map(|(pid, _)| *pid)
            .collect();
        while let Some(pid) = stack.pop() {
            if found.insert(pid)
                && let Some(kids) = children.get(&pid)
            {
                stack.extend(kids);
            }
        }
    }
    // The tag is only needed for processes that escaped both the group and the parent links:
    // orphans, which the subreaper server adopts. Reading every process's environment instead
    // would make each kill cost a pass over the whole machine.
    let needle = format!("{TAG_VAR}={}", root.tag).into_bytes();
    for (pid, e) in &procs {
        if e.ppid == me && !found.contains(pid) && has_tag(*pid, &needle) {
            found.insert(*pid);
        }
    }
    found.remove(&me);
    found.retain(|pid| procs.get(pid).is_some_and(|e| !e.zombie));
    let mut v: Vec<i32> = found.into_iter().collect();
    v.sort_unstable();
    v
}

/// Sends `signal` to the job's group and to every member found. Returns how many were found.
pub(crate) fn signal_all(root: &TreeRoot<'_>, signal: i32) -> usize {
    if let Some(leader) = root.leader {
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe { libc::killpg(leader, signal) };
    }
    let members = members(root);
    for pid in &members {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(*pid, signal) };
    }
    members.len()
}

/// Kills (SIGKILL) every process, anywhere, whose tag starts with `tag_prefix`. Used on shutdown
/// and by the guardian, when the server's own bookkeeping is gone or cannot be trusted.
pub fn kill_tagged(tag_prefix: &str) -> usize {
    let needle = format!("{TAG_VAR}={tag_prefix}").into_bytes();
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut killed = 0;
    for (pid, e) in read_proc() {
        if pid == me || e.zombie {
            continue;
        }
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v.starts_with(&needle)) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed += 1;
        }
    }
    killed
}

/// Kills (SIGKILL) every child of this process but those in `except`: at the server's exit, the
/// orphans re-parented to it (a child subreaper) that nothing else found.
pub fn kill_orphans(except: &[u32]) -> usize {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut killed = 0;
    for (pid, e) in read_proc() {
        let spared = u32::try_from(pid).is_ok_and(|p| except.contains(&p));
        if e.ppid == me && !e.zombie && !spared {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed += 1;
        }
    }
    killed
}
