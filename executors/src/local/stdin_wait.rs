//! Whether a job is waiting for input: one of its processes is blocked reading its stdin (or
//! waiting in select/poll with its stdin as fd 0), and none is running.
//!
//! Why: `interact` used to wait for 300 ms of quiet after a reply before returning. The kernel
//! can say when the job is back at its prompt: `/proc/PID/syscall` names the system call a
//! sleeping process is blocked in, and its first argument.

use std::fs;

/// The system calls a process waiting for input on a descriptor is blocked in, and whether
/// their first argument is that descriptor.
fn reads(nr: i64) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    let waits = [
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_pselect6,
        libc::SYS_ppoll,
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let waits = [libc::SYS_pselect6, libc::SYS_ppoll];
    if [libc::SYS_read, libc::SYS_readv, libc::SYS_pread64].contains(&nr) {
        Some(true)
    } else if waits.contains(&nr) {
        Some(false)
    } else {
        None
    }
}

/// What `/proc/PID/fd/FD` points to.
fn fd_target(pid: i32, fd: u64) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// `Some(true)`: this process sleeps reading `stdin`; `Some(false)`: it runs or waits for
/// something else; `None`: it is gone.
fn process_waits(pid: i32, stdin: &str) -> Option<bool> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.get(stat.rfind(')')? + 2..)?.chars().next()?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    if state != 'S' {
        return Some(false);
    }
    let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let mut fields = syscall.split_whitespace();
    let Some(nr) = fields.next().and_then(|n| n.parse::<i64>().ok()) else {
        // "running", or "-1 ..." when it is not in a system call.
        return Some(false);
    };
    let arg0 = fields
        .next()
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())?;
    let on_stdin = match reads(nr) {
        Some(true) => fd_target(pid, arg0),
        Some(false) => fd_target(pid, 0),
        None => return Some(false),
    };
    Some(on_stdin.as_deref() == Some(stdin))
}

/// Whether the job made of `pids` waits for input on `stdin` (a `/proc/PID/fd` target such as
/// `pipe:[1234]` or `/dev/pts/3`): one process reads it, and none is running.
pub(crate) fn waiting(pids: &[i32], stdin: &str) -> bool {
    let mut reading = false;
    for pid in pids {
        match process_waits(*pid, stdin) {
            Some(true) => reading = true,
            Some(false) if is_running(*pid) => return false,
            _ => {}
        }
    }
    reading
}

fn is_running(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.get(s.rfind(')')? + 2..)?.chars().next())
        .is_some_and(|c| c == 'R' || c == 'D')
}

/// A number that changes whenever any process of the job sleeps or is preempted (context
/// switches), starts or ends: taken before input is written, it tells later whether the job
/// has run since — a process seen blocked reading may not have been woken for the input yet.
pub(crate) fn activity(pids: &[i32]) -> u64 {
    let mut sum = pids.len() as u64;
    for pid in pids {
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
            {
                sum = sum.wrapping_add(n);
            }
        }
    }
    sum
}
