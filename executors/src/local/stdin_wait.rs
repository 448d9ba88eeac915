//! Whether a job is waiting for input: one of its processes is blocked reading its stdin (or
//! waiting in select/poll on it and nothing else), and none is running.
//!
//! Why: `interact` used to wait for 300 ms of quiet after a reply before returning. The kernel
//! can say when the job is back at its prompt: `/proc/PID/syscall` names the system call a
//! sleeping process is blocked in, and its arguments; for `select` and `poll`, the descriptors
//! waited on are read from the process's memory (`/proc/PID/mem`, which needs the same access).

use std::fs;

/// How a system call a process may be blocked in waits on descriptors.
enum Waits {
    /// `read` and friends: on the descriptor in the first argument.
    Read,
    /// `select`/`pselect6`: on the read set (second argument) of descriptors below the first.
    Select,
    /// `poll`/`ppoll`: on the array (first argument) of `pollfd`s, as many as the second.
    Poll,
}

fn waits(nr: i64) -> Option<Waits> {
    #[cfg(target_arch = "x86_64")]
    let (selects, polls) = (
        [libc::SYS_select, libc::SYS_pselect6],
        [libc::SYS_poll, libc::SYS_ppoll],
    );
    #[cfg(not(target_arch = "x86_64"))]
    let (selects, polls) = ([libc::SYS_pselect6], [libc::SYS_ppoll]);
    if [libc::SYS_read, libc::SYS_readv, libc::SYS_pread64].contains(&nr) {
        Some(Waits::Read)
    } else if selects.contains(&nr) {
        Some(Waits::Select)
    } else if polls.contains(&nr) {
        Some(Waits::Poll)
    } else {
        None
    }
}

/// The most descriptors of a `select` or `poll` looked at: a program waiting on more is not a
/// prompt.
const MAX_WATCHED: u64 = 256;

/// What `/proc/PID/fd/FD` points to.
fn fd_target(pid: i32, fd: u64) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// `len` bytes of the process's memory at `addr` (the same access as `/proc/PID/syscall`
/// needs: the server is the job's ancestor).
fn peek(pid: i32, addr: u64, len: u64) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0; usize::try_from(len).ok()?];
    file.read_exact_at(&mut buf, addr).ok()?;
    Some(buf)
}

/// The descriptors a process blocked in `select` or `poll` waits to read from. `None` when its
/// memory cannot be read.
fn watched(pid: i32, how: &Waits, args: &[u64]) -> Option<Vec<u64>> {
    let (a0, a1) = (*args.first()?, *args.get(1)?);
    match how {
        Waits::Read => Some(vec![a0]),
        Waits::Select => {
            // Bitmaps of `nfds` bits, in longs (a null pointer: an empty set). Waiting to
            // write too is waiting for more than input.
            if a0 > MAX_WATCHED {
                return Some(Vec::new());
            }
            let set = |ptr: u64| -> Option<Vec<u64>> {
                if ptr == 0 {
                    return Some(Vec::new());
                }
                let bytes = peek(pid, ptr, a0.div_ceil(64) * 8)?;
                Some(
                    (0..a0)
                        .filter(|fd| {
                            bytes
                                .get(usize::try_from(fd / 8).unwrap_or(usize::MAX))
                                .is_some_and(|b| b & (1 << (fd % 8)) != 0)
                        })
                        .collect(),
                )
            };
            if !set(args.get(2).copied().unwrap_or(0))?.is_empty() {
                return Some(Vec::new());
            }
            set(a1)
        }
        Waits::Poll => {
            // `struct pollfd { int fd; short events; short revents; }`; a negative fd is
            // ignored by the kernel.
            if a1 > MAX_WATCHED {
                return Some(Vec::new());
            }
            let bytes = peek(pid, a0, a1 * 8)?;
            Some(
                bytes
                    .chunks_exact(8)
                    .filter_map(|p| {
                        let fd = i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                        u64::try_from(fd).ok()
                    })
                    .collect(),
            )
        }
    }
}

/// `Some(true)`: this process sleeps reading `stdin` (and waits for nothing else: a client
/// such as `ssh` that polls its stdin and a socket is at work, not at a prompt);
/// `Some(false)`: it runs or waits for something else; `None`: it is gone.
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
    let args: Vec<u64> = fields
        .take(4)
        .map_while(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .collect();
    let Some(how) = waits(nr) else {
        return Some(false);
    };
    let fds = match watched(pid, &how, &args) {
        Some(fds) => fds,
        // Its memory is out of reach: only a wait on one descriptor, fd 0, is taken for one.
        None => match how {
            Waits::Select if args.first() == Some(&1) => vec![0],
            Waits::Poll if args.get(1) == Some(&1) => vec![0],
            _ => Vec::new(),
        },
    };
    Some(
        !fds.is_empty()
            && fds
                .iter()
                .all(|fd| fd_target(pid, *fd).as_deref() == Some(stdin)),
    )
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
