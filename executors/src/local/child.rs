//! Starting a job's process: `clone(CLONE_VM | CLONE_VFORK)`, as `posix_spawn` does, plus the
//! two things `posix_spawn` cannot do: `PR_SET_PDEATHSIG` and a controlling terminal.
//!
//! Why not `std::process::Command`: with a `pre_exec` hook it must `fork`, which copies the
//! server's page tables — hundreds of microseconds, growing with the server's memory — for a
//! child that `exec`s at once. Sharing the memory until `exec` costs a few microseconds.
//!
//! The child runs on its own small stack, in the parent's memory (the parent is suspended until
//! the child `exec`s or exits), so it only makes system calls on data prepared beforehand: no
//! allocation, no locks.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Everything the child needs, prepared in the parent.
pub(crate) struct Prepared {
    program: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    /// Descriptors to become the child's 0, 1 and 2.
    stdio: [RawFd; 3],
    pty: bool,
    /// Signals to set back to their default action.
    reset: Vec<libc::c_int>,
    parent: libc::pid_t,
    /// Where the child runs until it has `exec`ed: any CPU but the one the parent waits on
    /// (see [`spawn`]); `None` when there is no other.
    away: Option<libc::cpu_set_t>,
    /// Write end of a close-on-exec pipe: the child writes the failed step and `errno` there
    /// if it cannot `exec`.
    err_w: RawFd,
    /// Kernel confinement to apply just before `exec`.
    confine: Option<super::sandbox::Confinement>,
    /// The job's `cgroup.procs`, open for writing, or -1 without a cgroup.
    cgroup_procs: RawFd,
    /// The job's cgroup v2 directory, or -1: where `clone3` can start the child directly.
    cgroup_dir: RawFd,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a NUL byte in an argument or variable",
        )
    })
}

impl Prepared {
    /// `program argv...` with exactly `env`, in `cwd`, with `stdio` as 0, 1, 2.
    pub(crate) fn new(
        program: &Path,
        args: &[&OsStr],
        env: &[(OsString, OsString)],
        cwd: Option<&Path>,
        stdio: [RawFd; 3],
        pty: bool,
        ignored: &[i32],
    ) -> io::Result<Self> {
        let program = cstring(program.as_os_str().as_bytes())?;
        let mut argv = vec![program.clone()];
        for a in args {
            argv.push(cstring(a.as_bytes())?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in env {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(cstring(&kv)?);
        }
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        if stdio.iter().any(|fd| *fd < 3) {
            return Err(io::Error::other(
                "the server's own descriptors 0-2 are closed",
            ));
        }
        Ok(Self {
            program,
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            cwd: cwd.map(|c| cstring(c.as_os_str().as_bytes())).transpose()?,
            stdio,
            pty,
            reset: ignored.to_vec(),
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
            away: None,
            err_w: -1,
            confine: None,
            cgroup_procs: -1,
            cgroup_dir: -1,
        })
    }

    /// Confines the child (and so all its descendants) before it `exec`s.
    pub(crate) fn confine(&mut self, c: super::sandbox::Confinement) {
        self.confine = Some(c);
    }

    /// The child joins the cgroup whose `cgroup.procs` is open as `fd` before anything else.
    /// `dir`, when given, is the cgroup v2 directory, for `clone3(CLONE_INTO_CGROUP)`.
    pub(crate) fn join_cgroup(&mut self, procs: RawFd, dir: Option<RawFd>) {
        self.cgroup_procs = procs;
        self.cgroup_dir = dir.unwrap_or(-1);
    }
}

/// The signals this process ignores (their SIG_IGN would survive into a job).
pub(crate) fn ignored_signals() -> Vec<i32> {
    (1..libc::SIGRTMIN())
        .filter(|sig| *sig != libc::SIGKILL && *sig != libc::SIGSTOP)
        .filter(|sig| {
            // SAFETY: sigaction only writes to `old`, a valid, zeroed struct.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(*sig, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
            }
        })
        .collect()
}

/// The CPUs this thread may run on.
///
/// Why a job starts away from the server's CPU: the server's thread waits (vfork) until the
/// child has `exec`ed, and is woken in the middle of that `exec`. On a busy machine the
/// scheduler often lets the freshly `exec`ed job keep that CPU, and the server's thread then
/// waits until the job's start-up yields it — a millisecond or more for bash (seen with
/// `perf sched` on two cores). Started on another CPU, the job never stands in the way of the
/// thread that started it.
struct Affinity(libc::cpu_set_t);

impl Affinity {
    fn current() -> Option<Self> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most
        // its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
                .then_some(Self(set))
        }
    }

    /// The set without the CPU this thread runs on now, if that leaves any.
    fn away_from_this_cpu(&self) -> Option<libc::cpu_set_t> {
        // SAFETY: sched_getcpu has no preconditions; CPU_* only touch the local copy.
        unsafe {
            let cpu = usize::try_from(libc::sched_getcpu()).ok()?;
            let mut away = self.0;
            if cpu >= libc::CPU_SETSIZE as usize || !libc::CPU_ISSET(cpu, &away) {
                return None;
            }
            libc::CPU_CLR(cpu, &mut away);
            (libc::CPU_COUNT(&away) > 0).then_some(away)
        }
    }

    fn apply(&self, pid: libc::pid_t) {
        // SAFETY: a plain system call on a valid set.
        unsafe {
            libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &self.0);
        }
    }
}

/// Size of the stack the child runs on until `exec`.
const CHILD_STACK: usize = 64 * 1024;

/// Starts the child. Returns its pid once it has `exec`ed; an `exec` failure is returned as the
/// error, with the child already reaped.
pub(crate) fn spawn(mut p: Prepared) -> io::Result<u32> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is valid for two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors, owned by nobody else.
    let (err_r, err_w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    p.err_w = err_w.as_raw_fd();
    let affinity = Affinity::current();
    p.away = affinity.as_ref().and_then(Affinity::away_from_this_cpu);
    let mut stack = vec![0u8; CHILD_STACK];
    // The stack grows down: hand over its (16-byte aligned) top.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;
    let mut pid = -1;
    if p.cgroup_dir >= 0 {
        // Born in its cgroup, the child need not join it: see `clone_into_cgroup`.
        let procs = std::mem::replace(&mut p.cgroup_procs, -1);
        let base = stack.as_mut_ptr() as usize;
        // SAFETY: as for `clone` below; [base, top) is the child's stack.
        pid = unsafe { clone_into_cgroup(&raw mut p, p.cgroup_dir, base, top - base) };
        p.cgroup_procs = procs;
    }
    if pid < 0 {
        // SAFETY: `child_main` only makes async-signal-safe system calls on `p`, which outlives
        // the call: with CLONE_VFORK this thread is suspended until the child has exec'ed or
        // exited, so `p` and `stack` stay valid and untouched while the child uses them.
        pid = unsafe {
            libc::clone(
                child_main,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw mut p).cast::<libc::c_void>(),
            )
        };
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if p.away.is_some()
        && let Some(a) = &affinity
    {
        // The job may run anywhere the server may. It can have exited already: nothing to do.
        a.apply(pid);
    }
    drop(err_w);
    let mut report = [0u8; 8];
    // SAFETY: `report` is valid for 8 bytes. The child has exec'ed (the pipe closed on exec: 0
    // bytes) or written its step and errno and exited.
    let n = unsafe { libc::read(err_r.as_raw_fd(), report.as_mut_ptr().cast(), 8) };
    drop(stack);
    if n == 8 {
        let mut status = 0;
        // SAFETY: reaping our own child; status is a valid int.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let [s0, s1, s2, s3, e0, e1, e2, e3] = report;
        let errno = io::Error::from_raw_os_error(i32::from_ne_bytes([e0, e1, e2, e3]));
        return Err(
            match super::sandbox::Step::from_code(u32::from_ne_bytes([s0, s1, s2, s3])) {
                Some(step) => io::Error::new(
                    errno.kind(),
                    format!("sandbox: {}: {errno}", step.describe()),
                ),
                None => errno,
            },
        );
    }
    u32::try_from(pid).map_err(io::Error::other)
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C, align(8))]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Starts `child_main(p)` as `clone` does, but born in the cgroup `dir`: returns the pid, or -1
/// where that cannot be done (no clone3, a kernel before 5.7, a seccomp filter, another
/// architecture), and the caller then clones the usual way.
///
/// Why: a child that joins its cgroup by writing `cgroup.procs` takes the kernel's
/// cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period when no task was
/// moved recently — 5 to 15 ms on this kind of machine, with the server's thread suspended
/// (vfork) all along. Born in the cgroup, the child costs about what a plain clone does.
/// clone3 takes no function to run: the child returns from the system call on its new stack,
/// so it has to be called from assembly that then calls `child_main` there.
///
/// # Safety
/// As `libc::clone` with CLONE_VM | CLONE_VFORK: `p` and the stack `[base, base + size)` must
/// stay valid until the child has exec'ed or exited, which CLONE_VFORK ensures; `base + size`
/// must be 16-byte aligned.
#[cfg(target_arch = "x86_64")]
unsafe fn clone_into_cgroup(p: *mut Prepared, dir: RawFd, base: usize, size: usize) -> i32 {
    let Ok(dir) = u64::try_from(dir) else {
        return -1;
    };
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        stack: base as u64,
        stack_size: size as u64,
        cgroup: dir,
        ..CloneArgs::default()
    };
    let ret: i64;
    // SAFETY: the parent only gets the system call's result. The child starts on its own
    // stack (the kernel sets rsp to stack + stack_size) with the parent's other registers:
    // r12 and r13 carry `p` and `child_main`, which never returns (it execs or _exits); the
    // exit after it is a guard.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, 60",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &raw const args,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") p,
            in("r13") child_main as extern "C" fn(*mut libc::c_void) -> libc::c_int,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    i32::try_from(ret).ok().filter(|pid| *pid > 0).unwrap_or(-1)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone_into_cgroup(_: *mut Prepared, _: RawFd, _: usize, _: usize) -> i32 {
    -1
}

/// Reports `errno` to the parent and exits.
///
/// # Safety
/// Only to be called in the cloned child.
unsafe fn fail(p: &Prepared) -> ! {
    // SAFETY: as for `fail_at`.
    unsafe { fail_at(p, 0) }
}

/// Reports the failed `step` (0: not a sandbox step) and `errno` to the parent, and exits.
///
/// # Safety
/// Only to be called in the cloned child.
unsafe fn fail_at(p: &Prepared, step: u32) -> ! {
    // SAFETY: errno location and write are async-signal-safe; `err_w` is open.
    unsafe {
        let errno = (*libc::__errno_location()).to_ne_bytes();
        let step = step.to_ne_bytes();
        let report = [
            step[0], step[1], step[2], step[3], errno[0], errno[1], errno[2], errno[3],
        ];
        libc::write(p.err_w, report.as_ptr().cast(), 8);
        libc::_exit(127)
    }
}

extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Prepared` the parent passed, alive while the parent is suspended.
    let p = unsafe { &*arg.cast::<Prepared>() };
    // SAFETY: only system calls, on memory prepared by the parent.
    unsafe {
        // First of all: every process the job will ever start must be born in its cgroup.
        // Writing 0 moves the writer.
        if p.cgroup_procs >= 0 && libc::write(p.cgroup_procs, b"0".as_ptr().cast(), 1) != 1 {
            fail(p);
        }
        if let Some(away) = &p.away {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), away);
        }
        // A clean signal state: nothing blocked, nothing ignored (Rust ignores SIGPIPE).
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        // Handled signals are reset by exec; ignored ones (Rust ignores SIGPIPE) are not.
        for sig in &p.reset {
            libc::signal(*sig, libc::SIG_DFL);
        }
        // Its own session, pty or not: a job left in the server's session would share the
        // server's controlling terminal (the user's, when a client started us from one), and
        // could read what the user types there or push input into it (TIOCSTI).
        if libc::setsid() < 0 {
            fail(p);
        }
        for (target, fd) in p.stdio.iter().enumerate() {
            if libc::dup2(*fd, target as libc::c_int) < 0 {
                fail(p);
            }
        }
        if p.pty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
            fail(p);
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
            fail(p);
        }
        // The server may have died between clone and prctl: then nobody would kill us.
        if libc::getppid() != p.parent {
            libc::_exit(137);
        }
        if let Some(c) = &p.confine
            && let Err(step) = c.apply()
        {
            fail_at(p, step as u32);
        }
        if let Some(cwd) = &p.cwd
            && libc::chdir(cwd.as_ptr()) < 0
        {
            fail(p);
        }
        libc::execve(
            p.program.as_ptr(),
            p.argv_ptrs.as_ptr(),
            p.envp_ptrs.as_ptr(),
        );
        fail(p)
    }
}
