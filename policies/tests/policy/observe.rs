//! Differential testing against real bash: run a command in a throw-away sandbox, watch every
//! program it executes and every file it tries to change, and check that against the verdict.
//!
//! The run: `bwrap … strace … bash -c COMMAND`. bubblewrap gives the command a read-only view of
//! the whole machine except the sandbox directory, no network, its own pid/ipc/uts namespaces
//! and no capabilities (as root bwrap otherwise keeps them all, and with `CAP_MKNOD` a command
//! could make a disk device in the sandbox and write through it). strace runs inside, so the
//! paths it reports are the ones the command sees. Even if the policy wrongly accepts
//! `rm -rf --no-preserve-root /`, nothing outside the sandbox can change: the attempts fail with
//! `EROFS` and show up as failed writes.
//!
//! strace runs with `-y`: every file descriptor (`AT_FDCWD` included) is printed with its path,
//! so relative paths are resolved against the real directory, even for `unlinkat(4</dir>, …)`,
//! and a reopened `/dev/fd/N` shows what it really opened (`3<pipe:[…]>`).
//!
//! The trace file lives in the sandbox (strace must be able to write it), outside `work/`: a
//! command that tampers with it makes a write outside the allowed roots, which
//! [`assert_contained`] reports (so pass `work/`-like roots, never [`Sandbox::root`]). We keep
//! our own descriptor on it, so even a deleted trace can still be read.
//!
//! Syscalls without a directory descriptor (`open`, `mkdir`, `rename`…: coreutils' `mkdir -p`
//! does `mkdir("d")`, `fchdir`, `mkdir("e")`) are resolved against the process's last known
//! directory: the one strace showed with `AT_FDCWD`, followed through `chdir`/`fchdir`,
//! inherited through `clone`/`fork`, else the `cwd` given to [`observe`].
//!
//! The command's environment is only `PATH` ([`PATH`]: no `~/.cargo/bin`), `HOME` (the
//! sandbox's `home/`) and `TMPDIR` (its `tmp/`); no `LANG`, so programs run in the C locale.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use policies::{Decision, Verdict};

/// How long one observation may take before the sandbox is killed.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The `PATH` the command runs with.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How much of stdout and of stderr is kept (the rest is read and dropped).
pub const OUTPUT_CAP: usize = 64 * 1024;

const BWRAP: &str = "/usr/bin/bwrap";
const STRACE: &str = "/usr/bin/strace";
const KILL: &str = "/bin/kill";

/// The syscalls traced. `?` marks names some architectures (or this strace) do not know.
const TRACED: &str = "execve,execveat,\
    ?open,openat,openat2,?creat,\
    ?mkdir,mkdirat,?rmdir,?mknod,mknodat,\
    ?rename,renameat,renameat2,?unlink,unlinkat,?link,linkat,?symlink,symlinkat,\
    truncate,?chmod,fchmod,fchmodat,?fchmodat2,?chown,?lchown,fchown,fchownat,\
    ?utime,?utimes,utimensat,?futimesat,\
    setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr,\
    chdir,fchdir,clone,clone3,?fork,?vfork";

/// The compressors tar runs: `/bin/sh -c gzip` to compress (then `gzip`), `gzip -d` to
/// decompress.
const TAR_COMPRESSORS: &[&str] = &[
    "gzip", "bzip2", "xz", "lzip", "lzma", "lzop", "zstd", "compress",
];

/// Whether `exec` is a helper an allowed program runs on its own: matched on the exact argv,
/// so that `tar -I 'sh -c …'` or `--to-command` still count as running `sh`.
///
/// Found so far: only tar's compressors. coreutils, grep, sed, find, xargs, git (status, log,
/// diff, branch, init: stdout is no terminal, so no pager), make, perl, python3 run nothing of
/// their own; `sed`'s `e`, `awk`'s `system()`, `find -exec` run programs the policy must name
/// itself, so they are no helpers.
pub fn is_helper(allowed: &[String], exec: &Exec) -> bool {
    let argv: Vec<&str> = exec.argv.iter().map(String::as_str).collect();
    allowed.iter().any(|a| a == "tar")
        && TAR_COMPRESSORS.iter().any(|c| match argv.as_slice() {
            ["/bin/sh", "-c", cmd] => exec.path == "/bin/sh" && cmd == c,
            [name] | [name, "-d"] => name == c && exec.basename() == *c,
            _ => false,
        })
}

/// A fresh directory tree for one test: `work/` (the job's directory) with `work/jail/`,
/// `outside/` (writable, but not the job's: writing there is an escape), `home/` (`HOME`),
/// `tmp/` (`TMPDIR`). Removed on drop.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
    runs: AtomicU64,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("policy-observe-")
            .tempdir()
            .expect("temporary directory");
        // strace reports real paths: compare against real paths.
        let root = dir.path().canonicalize().expect("canonical sandbox path");
        for sub in ["work/jail", "outside", "home", "tmp", ".trace"] {
            std::fs::create_dir_all(root.join(sub)).expect("sandbox directories");
        }
        Self {
            _dir: dir,
            root,
            runs: AtomicU64::new(0),
        }
    }

    /// The whole sandbox (the only writable place besides bwrap's private `/tmp` and `/dev`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    pub fn jail(&self) -> PathBuf {
        self.root.join("work/jail")
    }

    pub fn outside(&self) -> PathBuf {
        self.root.join("outside")
    }

    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// A program the command executed (successfully).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub pid: u32,
    /// As passed to `execve` (so `/bin/true`, `./script`), or resolved for `execveat`.
    pub path: String,
    pub argv: Vec<String>,
}

impl Exec {
    pub fn basename(&self) -> &str {
        basename(&self.path)
    }
}

/// An attempt to create, modify or delete a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub pid: u32,
    pub syscall: String,
    /// Absolute and lexically normalised (`/tmp/../etc/passwd` is `/etc/passwd`).
    pub path: PathBuf,
    /// The path as the program passed it (empty for descriptor-only calls like `fchmod`).
    pub raw: String,
    /// What a successful open really opened, as strace shows it: a path (symbolic links
    /// followed), or `pipe:[N]`, `socket:[N]`, `anon_inode:…`.
    pub resolved: Option<PathBuf>,
    /// Whether the call follows a symbolic link in the last component (`chmod` does, `unlink`
    /// does not).
    pub follows: bool,
    /// For paths in the sandbox: where `path` really is, symbolic links followed (those of its
    /// directories; the last one too when `follows`), as they are after the run; `None` when it
    /// is `path`. A link the command made and removed again is not seen.
    pub real: Option<PathBuf>,
    pub ok: bool,
    /// `EROFS`, `ENOENT`…; `?` when the process died inside the call.
    pub errno: Option<String>,
}

/// What one run of a command did.
#[derive(Debug)]
pub struct Observation {
    pub command: String,
    pub cwd: PathBuf,
    /// Every successful exec but the first (bash itself), in trace order.
    pub execs: Vec<Exec>,
    pub writes: Vec<Write>,
    pub timed_out: bool,
    /// bwrap's status, which is bash's (or a signal when the run was killed).
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// What the harness could not see: trace lines about a traced syscall it could not read, a
    /// run that never got to start bash (bwrap's error is in `stderr`). [`assert_contained`]
    /// reports them rather than ignore them.
    pub gaps: Vec<String>,
    pub elapsed: Duration,
}

impl Observation {
    /// The basenames of the programs executed.
    pub fn programs(&self) -> Vec<&str> {
        self.execs.iter().map(Exec::basename).collect()
    }

    /// Whether some write attempt (successful or not) was made on `path`.
    pub fn wrote(&self, path: &Path) -> Option<&Write> {
        self.writes.iter().find(|w| w.path == path)
    }

    /// Everything observed, for failure messages.
    pub fn describe(&self) -> String {
        let execs: Vec<String> = self
            .execs
            .iter()
            .map(|e| format!("{} {:?}", e.path, e.argv))
            .collect();
        let writes: Vec<String> = self
            .writes
            .iter()
            .map(|w| {
                format!(
                    "{}({}) {}",
                    w.syscall,
                    w.path.display(),
                    w.errno.as_deref().unwrap_or("ok")
                )
            })
            .collect();
        format!(
            "cwd: {}\nexecs: {execs:#?}\nwrites: {writes:#?}\ntimed out: {}, status: {}, {:?}\n\
             stdout: {:?}\nstderr: {:?}",
            self.cwd.display(),
            self.timed_out,
            self.status,
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `bash -c command` in `sb` from `cwd`, with the default [`TIMEOUT`].
pub fn observe(sb: &Sandbox, command: &str, cwd: &Path) -> Observation {
    observe_with_timeout(sb, command, cwd, TIMEOUT)
}

/// Runs `bash -c command` in `sb` from `cwd`; kills everything it started after `timeout`.
///
/// The spawning thread must outlive the run (bwrap's `--die-with-parent` follows the thread).
pub fn observe_with_timeout(
    sb: &Sandbox,
    command: &str,
    cwd: &Path,
    timeout: Duration,
) -> Observation {
    let run = sb.runs.fetch_add(1, Ordering::Relaxed);
    let log = sb.root.join(".trace").join(format!("{run}.strace"));
    // Our own descriptor: the trace stays readable even if the command deletes it.
    File::create(&log).expect("trace file");
    let mut trace = File::open(&log).expect("trace file");
    let root = sb.root.as_os_str();

    let started = Instant::now();
    let mut cmd = Command::new(BWRAP);
    cmd.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--tmpfs", "/tmp"])
        .arg("--bind")
        .arg(root)
        .arg(root)
        .args([
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
        ])
        // strace as the namespace's init: without bwrap's own init in between, bwrap waits
        // for (and reaps) it, instead of exiting early and leaving a zombie to the host's init.
        .args([
            "--as-pid-1",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
        ])
        .arg("--chdir")
        .arg(cwd)
        .arg("--")
        .args([STRACE, "-f", "-qq", "-y", "-e", "signal=none", "-s", "4096"])
        .arg("-e")
        .arg(format!("trace={TRACED}"))
        .arg("-o")
        .arg(&log)
        .args(["bash", "-c", command])
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", sb.home())
        .env("TMPDIR", sb.tmp())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BWRAP}: {e}"));
    let bwrap = child.id();
    let stdout = capture(child.stdout.take().expect("piped stdout"));
    let stderr = capture(child.stderr.take().expect("piped stderr"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });

    let mut timed_out = false;
    let status = match rx.recv_timeout(timeout) {
        Ok(status) => status,
        Err(_) => {
            timed_out = true;
            // Killing the namespace's init kills everything in it, and bwrap, which waits
            // for its init, then exits: once we have its status, nothing is left.
            kill_sandbox(bwrap);
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(status) => status,
                Err(_) => {
                    kill(&[bwrap.to_string()]);
                    rx.recv().expect("waiter thread")
                }
            }
        }
    }
    .expect("waiting for bwrap");
    let (stdout, stderr) = (stdout.finish(), stderr.finish());
    let elapsed = started.elapsed();

    let mut text = Vec::new();
    trace.read_to_end(&mut text).expect("reading the trace");
    let mut parsed = parse_trace(&text, cwd);
    for w in &mut parsed.writes {
        if w.path.starts_with(&sb.root) {
            w.real = real_path(&w.path, w.follows);
        }
    }
    Observation {
        command: command.to_string(),
        cwd: cwd.to_path_buf(),
        execs: parsed.execs,
        writes: parsed.writes,
        timed_out,
        status,
        stdout,
        stderr,
        gaps: parsed.gaps,
        elapsed,
    }
}

/// Kills the sandbox's init (bwrap's child, pid 1 in the namespace), or bwrap if it has none.
fn kill_sandbox(bwrap: u32) {
    let children =
        std::fs::read_to_string(format!("/proc/{bwrap}/task/{bwrap}/children")).unwrap_or_default();
    let mut pids: Vec<String> = children.split_whitespace().map(String::from).collect();
    if pids.is_empty() {
        pids.push(bwrap.to_string());
    }
    kill(&pids);
}

fn kill(pids: &[String]) {
    let _ = Command::new(KILL)
        .arg("-KILL")
        .arg("--")
        .args(pids)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Reads a pipe to its end on a thread, keeping the first [`OUTPUT_CAP`] bytes.
struct Capture(mpsc::Receiver<Vec<u8>>);

fn capture(mut pipe: impl Read + Send + 'static) -> Capture {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = OUTPUT_CAP - kept.len();
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(kept);
    });
    Capture(rx)
}

impl Capture {
    /// The output; every writer is dead by now, so the end comes at once (bounded anyway).
    fn finish(self) -> String {
        let bytes = self
            .0
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| b"<output not closed>".to_vec());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Checking.

/// The basenames of the programs the verdict allows (first word of each allowed command).
pub fn allowed_programs(verdict: &Verdict) -> Vec<String> {
    verdict
        .commands
        .iter()
        .filter(|c| c.decision == Decision::Allowed)
        .filter_map(|c| {
            let first = shlex::split(&c.command)
                .and_then(|words| words.into_iter().next())
                .or_else(|| c.command.split_whitespace().next().map(String::from))?;
            Some(basename(&first).to_string())
        })
        .collect()
}

/// Everything `obs` did that `allowed` programs and `roots` do not cover, one line each.
pub fn violations(allowed: &[String], obs: &Observation, roots: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    if obs.timed_out {
        out.push(format!("timed out after {:?}", obs.elapsed));
    }
    for gap in &obs.gaps {
        out.push(format!("not observed: {gap}"));
    }
    for e in &obs.execs {
        if !allowed.iter().any(|a| a == e.basename()) && !is_helper(allowed, e) {
            out.push(format!(
                "executed `{}` {:?} (pid {}), which the verdict does not allow (allowed: {allowed:?})",
                e.path, e.argv, e.pid
            ));
        }
    }
    let roots: Vec<PathBuf> = roots.iter().map(|r| normalize(r)).collect();
    for w in &obs.writes {
        if let Some(why) = escapes(w, &roots) {
            out.push(format!(
                "{}({}) [{}] by pid {}: {why}",
                w.syscall,
                w.path.display(),
                w.errno.as_deref().unwrap_or("succeeded"),
                w.pid
            ));
        }
    }
    out
}

/// Panics, naming the command, if it ran a program `verdict` does not allow, tried to write
/// outside `allowed_write_roots`, or did not finish in time.
pub fn assert_contained(verdict: &Verdict, obs: &Observation, allowed_write_roots: &[PathBuf]) {
    let found = violations(&allowed_programs(verdict), obs, allowed_write_roots);
    if !found.is_empty() {
        let programs: Vec<String> = verdict
            .commands
            .iter()
            .map(|c| {
                let decision = if c.decision == Decision::Allowed {
                    "allowed"
                } else {
                    "not allowed"
                };
                format!("`{}` {decision}", c.command)
            })
            .collect();
        panic!(
            "`{}` is not contained by its verdict (allowed: {}; {}):\n  - {}\n{}",
            obs.command,
            verdict.allowed,
            programs.join(", "),
            found.join("\n  - "),
            obs.describe()
        );
    }
}

/// Devices anyone may write.
fn harmless_device(p: &Path) -> bool {
    const DEVICES: &[&str] = &[
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/tty",
        "/dev/ptmx",
        "/dev/random",
        "/dev/urandom",
    ];
    DEVICES.iter().any(|d| p == Path::new(d)) || p.starts_with("/dev/pts")
}

/// Objects that are not files: what `/dev/fd/N` of a pipe reopens.
fn harmless_object(p: &Path) -> bool {
    let b = p.as_os_str().as_bytes();
    [&b"pipe:["[..], b"socket:[", b"anon_inode:"]
        .iter()
        .any(|prefix| b.starts_with(prefix))
}

/// `/dev/fd/N`, `/dev/stdout`, `/proc/self/fd/N`…: reopening a descriptor already open.
fn reopens_descriptor(p: &Path) -> bool {
    let s = p.to_string_lossy();
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        ["", "dev", "stdin" | "stdout" | "stderr"] | ["", "dev", "fd", _] => true,
        ["", "proc", who, "fd", _] => {
            *who == "self" || *who == "thread-self" || who.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

fn inside(p: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| p.starts_with(r))
}

/// Why `w` escapes `roots`, if it does.
fn escapes(w: &Write, roots: &[PathBuf]) -> Option<String> {
    let resolved_ok = |r: &Path| harmless_object(r) || harmless_device(r) || inside(r, roots);
    if reopens_descriptor(&w.path) {
        return match (&w.resolved, w.errno.as_deref()) {
            (Some(r), _) if resolved_ok(r) => None,
            (Some(r), _) => Some(format!("reopens {}", r.display())),
            // Nothing open there: nothing written, on any machine.
            (None, Some("ENOENT" | "EBADF" | "ENXIO")) => None,
            (None, _) => Some("reopens a descriptor on a read-only file".into()),
        };
    }
    if harmless_device(&w.path) {
        return None;
    }
    if w.errno.as_deref() == Some("EROFS") {
        // Only the host is read-only: whatever the name, it led there.
        return Some("reaches the read-only host".into());
    }
    if !inside(&w.path, roots) {
        return Some("outside the allowed roots".into());
    }
    if let Some(r) = w.resolved.as_deref().filter(|r| !resolved_ok(r)) {
        return Some(format!("really opens {}", r.display()));
    }
    if let Some(r) = w.real.as_deref().filter(|r| !resolved_ok(r)) {
        return Some(format!("really is {}", r.display()));
    }
    None
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Lexical normalisation: `.` and `..` removed (`..` of `/` is `/`).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading strace's log.

#[derive(Default)]
struct Parsed {
    execs: Vec<Exec>,
    writes: Vec<Write>,
    gaps: Vec<String>,
}

/// One finished syscall: `name(args) = ret`.
struct Call {
    pid: u32,
    name: String,
    args: Vec<Vec<u8>>,
    ret: Vec<u8>,
    line: Vec<u8>,
}

/// Where a syscall names a file.
#[derive(Clone, Copy)]
enum Target {
    /// A path argument, relative to the process's directory.
    Path(usize),
    /// A directory descriptor and a path relative to it (empty or `NULL`: the descriptor).
    At(usize, usize),
    /// A descriptor.
    Fd(usize),
}

/// The file-changing syscalls and where their targets are. `open`s are apart (flags decide).
fn write_targets(name: &str) -> Option<&'static [Target]> {
    use Target::*;
    Some(match name {
        "creat" | "mkdir" | "rmdir" | "mknod" | "unlink" | "truncate" | "chmod" | "chown"
        | "lchown" | "utime" | "utimes" | "setxattr" | "lsetxattr" | "removexattr"
        | "lremovexattr" => &[Path(0)],
        "mkdirat" | "mknodat" | "unlinkat" | "fchmodat" | "fchmodat2" | "fchownat"
        | "utimensat" | "futimesat" => &[At(0, 1)],
        // Hard links: the source counts too (a link into the job's directory of a file
        // outside would let the job change that file).
        "rename" | "link" => &[Path(0), Path(1)],
        "renameat" | "renameat2" | "linkat" => &[At(0, 1), At(2, 3)],
        "symlink" => &[Path(1)],
        "symlinkat" => &[At(1, 2)],
        "fchmod" | "fchown" | "fsetxattr" | "fremovexattr" => &[Fd(0)],
        _ => return None,
    })
}

const OPEN_WRITE_FLAGS: &[&str] = &["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"];

fn traced(name: &str) -> bool {
    TRACED
        .split(',')
        .any(|t| t.trim().trim_start_matches('?') == name)
}

fn parse_trace(text: &[u8], cwd: &Path) -> Parsed {
    let mut parsed = Parsed::default();
    let calls = collect_calls(text, &mut parsed.gaps);

    // Parents first (a child's first lines may come before its parent's `clone` returns).
    let mut parent: HashMap<u32, u32> = HashMap::new();
    for c in &calls {
        if matches!(c.name.as_str(), "clone" | "clone3" | "fork" | "vfork")
            && let Some(child) = std::str::from_utf8(&c.ret)
                .ok()
                .and_then(|r| r.trim().parse::<u32>().ok())
        {
            parent.insert(child, c.pid);
        }
    }

    let mut dirs: HashMap<u32, PathBuf> = HashMap::new();
    let dir_of = |dirs: &HashMap<u32, PathBuf>, pid: u32| -> PathBuf {
        let mut p = pid;
        for _ in 0..64 {
            if let Some(d) = dirs.get(&p) {
                return d.clone();
            }
            match parent.get(&p) {
                Some(&pp) => p = pp,
                None => break,
            }
        }
        cwd.to_path_buf()
    };
    let mut first_exec = true;
    for c in calls {
        // Any `AT_FDCWD</dir>` says where the process is.
        for a in &c.args {
            if let (b"AT_FDCWD", Some(d)) = fd_token(a) {
                dirs.insert(c.pid, d);
            }
        }
        if !dirs.contains_key(&c.pid) {
            let d = dir_of(&dirs, c.pid);
            dirs.insert(c.pid, d);
        }
        let ret = Ret::parse(&c.ret);
        let base_of = |dirs: &HashMap<u32, PathBuf>, token: &[u8]| -> PathBuf {
            match fd_token(token) {
                (_, Some(d)) => d,
                _ => dir_of(dirs, c.pid),
            }
        };
        match c.name.as_str() {
            "execve" | "execveat" => {
                if !ret.ok {
                    continue;
                }
                let (path, argv) = if c.name == "execve" {
                    (c.args.first().map(|a| decode_lossy(a)), c.args.get(1))
                } else {
                    let p = match (c.args.first(), c.args.get(1)) {
                        (Some(fd), Some(p)) => Some(
                            resolve(&base_of(&dirs, fd), &decode_str(p).0)
                                .to_string_lossy()
                                .into_owned(),
                        ),
                        _ => None,
                    };
                    (p, c.args.get(2))
                };
                let (Some(path), Some(argv)) = (path, argv) else {
                    parsed.gaps.push(line_gap(&c.line));
                    continue;
                };
                if first_exec {
                    // bash itself.
                    first_exec = false;
                    if basename(&path) != "bash" {
                        parsed
                            .gaps
                            .push(format!("the trace starts with {path}, not bash"));
                    }
                    continue;
                }
                parsed.execs.push(Exec {
                    pid: c.pid,
                    path,
                    argv: split_array(argv).iter().map(|a| decode_lossy(a)).collect(),
                });
            }
            "chdir" if ret.ok => {
                if let Some(p) = c.args.first() {
                    let d = resolve(&dir_of(&dirs, c.pid), &decode_str(p).0);
                    dirs.insert(c.pid, d);
                }
            }
            "fchdir" if ret.ok => {
                if let Some((_, Some(d))) = c.args.first().map(|a| fd_token(a)) {
                    dirs.insert(c.pid, d);
                }
            }
            "open" | "openat" | "openat2" => {
                let (dirfd, path, flags) = match c.name.as_str() {
                    "open" => (None, c.args.first(), c.args.get(1)),
                    _ => (c.args.first(), c.args.get(1), c.args.get(2)),
                };
                let (Some(path), Some(flags)) = (path, flags) else {
                    parsed.gaps.push(line_gap(&c.line));
                    continue;
                };
                if !opens_for_writing(flags) {
                    continue;
                }
                let base = match dirfd {
                    Some(fd) => base_of(&dirs, fd),
                    None => dir_of(&dirs, c.pid),
                };
                let raw = decode_str(path).0;
                parsed.writes.push(Write {
                    pid: c.pid,
                    syscall: c.name.clone(),
                    path: resolve(&base, &raw),
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                    resolved: ret.path.clone(),
                    follows: !flags_have(flags, "O_NOFOLLOW"),
                    real: None,
                    ok: ret.ok,
                    errno: ret.errno.clone(),
                });
            }
            name => {
                let Some(targets) = write_targets(name) else {
                    continue;
                };
                for t in targets {
                    let target = match *t {
                        Target::Path(i) => c.args.get(i).map(|p| {
                            let raw = decode_str(p).0;
                            (resolve(&dir_of(&dirs, c.pid), &raw), raw)
                        }),
                        Target::At(fd, i) => match (c.args.get(fd), c.args.get(i)) {
                            (Some(fd), Some(p)) => {
                                let raw = if p.as_slice() == b"NULL" {
                                    Vec::new()
                                } else {
                                    decode_str(p).0
                                };
                                Some((resolve(&base_of(&dirs, fd), &raw), raw))
                            }
                            _ => None,
                        },
                        Target::Fd(fd) => match c.args.get(fd).map(|a| fd_token(a)) {
                            Some((_, Some(d))) => Some((d, Vec::new())),
                            _ => None,
                        },
                    };
                    let Some((path, raw)) = target else {
                        parsed.gaps.push(line_gap(&c.line));
                        continue;
                    };
                    let follows = match c.name.as_str() {
                        "truncate" | "chmod" | "chown" | "utime" | "utimes" | "futimesat"
                        | "setxattr" | "removexattr" => true,
                        "fchmodat" | "fchmodat2" | "fchownat" | "utimensat" => !c
                            .args
                            .iter()
                            .skip(2)
                            .any(|a| flags_have(a, "AT_SYMLINK_NOFOLLOW")),
                        _ => false,
                    };
                    parsed.writes.push(Write {
                        pid: c.pid,
                        syscall: c.name.clone(),
                        path,
                        raw: String::from_utf8_lossy(&raw).into_owned(),
                        resolved: None,
                        follows,
                        real: None,
                        ok: ret.ok,
                        errno: ret.errno.clone(),
                    });
                }
            }
        }
    }
    if first_exec {
        parsed.gaps.push("bash never started".into());
    }
    parsed
}

/// The log's lines as finished calls, `<unfinished ...>` and `<... resumed>` halves joined.
fn collect_calls(text: &[u8], gaps: &mut Vec<String>) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<u32, Vec<u8>> = HashMap::new();
    let push =
        |pid: u32, line: Vec<u8>, calls: &mut Vec<Call>, gaps: &mut Vec<String>| match split_call(
            &line,
        ) {
            Some((name, args, ret)) => calls.push(Call {
                pid,
                name,
                args,
                ret,
                line,
            }),
            None => {
                let name: String = line
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .map(|b| char::from(*b))
                    .collect();
                if traced(&name) {
                    gaps.push(line_gap(&line));
                }
            }
        };
    for line in text.split(|b| *b == b'\n') {
        let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
        let Some(pid) = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|d| d.parse::<u32>().ok())
        else {
            continue;
        };
        let rest = trim(&line[digits..]);
        if let Some(other) = rest.strip_prefix(b"+++ superseded by execve in pid ".as_slice()) {
            // A thread exec'd: its unfinished execve finishes under the leader's pid.
            let other: String = other
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|b| char::from(*b))
                .collect();
            if let Some(p) = other.parse().ok().and_then(|o: u32| pending.remove(&o)) {
                pending.insert(pid, p);
            }
            continue;
        }
        if rest.starts_with(b"+++") || rest.starts_with(b"---") || rest.is_empty() {
            continue;
        }
        let mut full = if rest.starts_with(b"<... ") {
            let Some(at) = find(rest, b" resumed>") else {
                gaps.push(line_gap(rest));
                continue;
            };
            let Some(mut head) = pending.remove(&pid) else {
                let name = String::from_utf8_lossy(&rest[5..at]).into_owned();
                if traced(&name) {
                    gaps.push(line_gap(rest));
                }
                continue;
            };
            head.extend_from_slice(&rest[at + b" resumed>".len()..]);
            head
        } else {
            rest.to_vec()
        };
        if let Some(head) = full.strip_suffix(b"<unfinished ...>".as_slice()) {
            full = trim(head).to_vec();
            full.push(b' ');
            pending.insert(pid, full);
            continue;
        }
        push(pid, full, &mut calls, gaps);
    }
    // Calls the process died in (killed on time-out): attempts all the same.
    let mut left: Vec<(u32, Vec<u8>)> = pending.into_iter().collect();
    left.sort();
    for (pid, mut head) in left {
        head.extend_from_slice(b") = ?");
        push(pid, head, &mut calls, gaps);
    }
    calls
}

fn line_gap(line: &[u8]) -> String {
    format!(
        "trace line not understood: {}",
        String::from_utf8_lossy(line)
    )
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `name(arg, arg…) = ret` into its parts; arguments split at top-level commas, strings,
/// brackets, comments and `<path>` decorations respected.
fn split_call(line: &[u8]) -> Option<(String, Vec<Vec<u8>>, Vec<u8>)> {
    let open = line.iter().position(|b| *b == b'(')?;
    let name = std::str::from_utf8(&line[..open]).ok()?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let (args, close) = split_list(line, open + 1, b')')?;
    let rest = trim(&line[close + 1..]);
    let ret = trim(rest.strip_prefix(b"=")?);
    Some((name.to_string(), args, ret.to_vec()))
}

/// Splits `text[start..]` at top-level commas up to the unmatched `end`; returns the parts
/// and the position of `end`.
fn split_list(text: &[u8], start: usize, end: u8) -> Option<(Vec<Vec<u8>>, usize)> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut part_start = start;
    let mut i = start;
    while i < text.len() {
        let b = text[i];
        match b {
            b'"' => i = skip_quoted(text, i + 1, b'"')?,
            // `3</path>`, `AT_FDCWD</path>`: a decoration, where `>` and `<` are escaped.
            b'<' if i > 0 && (text[i - 1].is_ascii_digit() || text[i - 1] == b'D') => {
                i = skip_quoted(text, i + 1, b'>')?;
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i = i + 2 + find(&text[i + 2..], b"*/")? + 1;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth > 0 => depth -= 1,
            _ if b == end && depth == 0 => {
                let last = trim(&text[part_start..i]);
                if !last.is_empty() || !parts.is_empty() {
                    parts.push(last.to_vec());
                }
                return Some((parts, i));
            }
            b',' if depth == 0 => {
                parts.push(trim(&text[part_start..i]).to_vec());
                part_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The position of the unescaped `close` from `i` on.
fn skip_quoted(text: &[u8], mut i: usize, close: u8) -> Option<usize> {
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b if b == close => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The elements of `["a", "b"]`.
fn split_array(token: &[u8]) -> Vec<Vec<u8>> {
    if token.first() != Some(&b'[') {
        return Vec::new();
    }
    split_list(token, 1, b']')
        .map(|(parts, _)| parts)
        .unwrap_or_default()
}

/// A string argument `"…"` (maybe followed by `...` when strace cut it) decoded to bytes;
/// `true` when cut. Anything else is taken as it is.
fn decode_str(token: &[u8]) -> (Vec<u8>, bool) {
    let Some(body) = token.strip_prefix(b"\"") else {
        return (token.to_vec(), false);
    };
    let Some(close) = skip_quoted(body, 0, b'"') else {
        return (unescape(body), true);
    };
    (
        unescape(&body[..close]),
        body[close + 1..].starts_with(b"..."),
    )
}

fn decode_lossy(token: &[u8]) -> String {
    String::from_utf8_lossy(&decode_str(token).0).into_owned()
}

/// strace's escapes: `\n \t \r \v \f \\ \"`, octal `\NNN`, hex `\xHH`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 >= s.len() {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let c = s[i + 1];
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'x' => {
                let hex: Vec<u8> = s[i..]
                    .iter()
                    .take(2)
                    .take_while(|b| b.is_ascii_hexdigit())
                    .copied()
                    .collect();
                i += hex.len();
                let v = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(v.unwrap_or(b'x'));
            }
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < s.len() && (b'0'..=b'7').contains(&s[i]) {
                    v = v * 8 + u32::from(s[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(u8::try_from(v & 0xff).unwrap_or(0));
            }
            other => out.push(other),
        }
    }
    out
}

/// `3</path>` / `AT_FDCWD</path>` into the head and the decoded path (without ` (deleted)`).
fn fd_token(token: &[u8]) -> (&[u8], Option<PathBuf>) {
    let Some(lt) = token.iter().position(|b| *b == b'<') else {
        return (token, None);
    };
    let Some(inner) = token[lt + 1..].strip_suffix(b">") else {
        return (token, None);
    };
    let mut path = unescape(inner);
    if let Some(p) = path.strip_suffix(b" (deleted)") {
        path = p.to_vec();
    }
    (&token[..lt], Some(PathBuf::from(OsString::from_vec(path))))
}

/// `base` joined with `path` (absolute paths stand alone), normalised.
fn resolve(base: &Path, path: &[u8]) -> PathBuf {
    let p = Path::new(std::ffi::OsStr::from_bytes(path));
    normalize(&base.join(p))
}

fn flags_have(flags: &[u8], flag: &str) -> bool {
    String::from_utf8_lossy(flags)
        .split(['|', ',', '{', '}', '=', ' '])
        .any(|f| f == flag)
}

/// `path` with the symbolic links of its existing directories (and of itself, with `follow`)
/// followed, if that changes it.
fn real_path(path: &Path, follow: bool) -> Option<PathBuf> {
    if follow && let Ok(real) = path.canonicalize() {
        return (real != path).then_some(real);
    }
    let mut names = vec![path.file_name()?];
    let mut dir = path.parent()?;
    loop {
        if let Ok(mut real) = dir.canonicalize() {
            real.extend(names.iter().rev());
            return (real != path).then_some(real);
        }
        names.push(dir.file_name()?);
        dir = dir.parent()?;
    }
}

fn opens_for_writing(flags: &[u8]) -> bool {
    let text = String::from_utf8_lossy(flags);
    // openat2 passes `{flags=O_…|O_…, mode=…, resolve=…}`.
    let text = match text.find("flags=") {
        Some(at) => text[at + 6..]
            .split([',', '}'])
            .next()
            .unwrap_or_default()
            .to_string(),
        None => text.into_owned(),
    };
    text.split('|')
        .any(|f| OPEN_WRITE_FLAGS.contains(&f.trim()) || f.trim() == "__O_TMPFILE")
}

/// A syscall's result: `0`, `3</path>`, `-1 EROFS (Read-only file system)`, `?`.
struct Ret {
    ok: bool,
    errno: Option<String>,
    path: Option<PathBuf>,
}

impl Ret {
    fn parse(ret: &[u8]) -> Self {
        if let Some(rest) = ret.strip_prefix(b"-1 ") {
            let errno: String = rest
                .iter()
                .take_while(|b| !b.is_ascii_whitespace())
                .map(|b| char::from(*b))
                .collect();
            return Self {
                ok: false,
                errno: Some(errno),
                path: None,
            };
        }
        if ret.is_empty() || ret.starts_with(b"?") {
            return Self {
                ok: false,
                errno: Some("?".into()),
                path: None,
            };
        }
        // `3</a path, with spaces>`: the decoration ends at the first unescaped `>`.
        let path = match ret.iter().position(|b| *b == b'<') {
            Some(lt) => skip_quoted(ret, lt + 1, b'>').and_then(|gt| fd_token(&ret[..=gt]).1),
            None => None,
        };
        // A syscall returns -1 and an errno on failure; anything else succeeded.
        Self {
            ok: !ret.starts_with(b"-"),
            errno: None,
            path,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The harness's own tests: each proves it sees (and can fail on) what it must.

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, policy};
    use std::process::Command;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn touch_is_an_exec_and_a_write() {
        let sb = Sandbox::new();
        let obs = observe(&sb, "touch m", &sb.work());
        assert!(obs.status.success(), "{}", obs.describe());
        assert_eq!(obs.execs.len(), 1, "{}", obs.describe());
        assert_eq!(obs.execs[0].argv, ["touch", "m"]);
        assert_eq!(obs.programs(), ["touch"]);
        let w = obs.wrote(&sb.work().join("m")).expect("the write of m");
        assert!(w.ok && w.syscall == "openat" && w.raw == "m", "{w:?}");
        assert!(sb.work().join("m").exists());
        assert!(violations(&names(&["touch"]), &obs, &[sb.work()]).is_empty());
        // The harness can fail: touch not allowed, or work/ not writable.
        let v = violations(&names(&["ls"]), &obs, &[sb.work()]);
        assert!(v.len() == 1 && v[0].contains("touch"), "{v:?}");
        // (touch opens m, then sets its times through the descriptor.)
        let v = violations(&names(&["touch"]), &obs, &[sb.jail()]);
        assert!(
            !v.is_empty() && v.iter().all(|l| l.contains("outside")),
            "{v:?}"
        );
    }

    #[test]
    fn a_redirection_to_etc_is_a_failed_write_outside() {
        let sb = Sandbox::new();
        let obs = observe(&sb, "echo x > /tmp/../etc/passwd", &sb.work());
        assert!(obs.execs.is_empty(), "{}", obs.describe());
        let w = obs.wrote(Path::new("/etc/passwd")).expect("the attempt");
        assert!(!w.ok && w.errno.as_deref() == Some("EROFS"), "{w:?}");
        assert_eq!(w.raw, "/tmp/../etc/passwd");
        let v = violations(&[], &obs, &[sb.work()]);
        assert!(v.len() == 1 && v[0].contains("/etc/passwd"), "{v:?}");
    }

    #[test]
    fn a_nested_bash_exec_is_seen_with_its_directory() {
        let sb = Sandbox::new();
        let obs = observe(&sb, "bash -c 'cd /; /bin/true'", &sb.work());
        assert!(obs.status.success(), "{}", obs.describe());
        assert_eq!(obs.programs(), ["bash", "true"], "{}", obs.describe());
        assert_eq!(obs.execs[1].path, "/bin/true");
        let v = violations(&names(&["bash"]), &obs, &[sb.work()]);
        assert!(v.len() == 1 && v[0].contains("/bin/true"), "{v:?}");
        assert!(violations(&names(&["bash", "true"]), &obs, &[sb.work()]).is_empty());
    }

    #[test]
    fn sed_e_runs_a_shell_and_its_command() {
        let sb = Sandbox::new();
        let obs = observe(&sb, "echo a | sed '1e touch m'", &sb.work());
        assert_eq!(obs.programs(), ["sed", "sh", "touch"], "{}", obs.describe());
        assert_eq!(obs.execs[1].argv, ["sh", "-c", "touch m"]);
        assert!(obs.wrote(&sb.work().join("m")).is_some_and(|w| w.ok));
        let v = violations(&names(&["sed"]), &obs, &[sb.work()]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v[0].contains("`/bin/sh`") && v[1].contains("touch"),
            "{v:?}"
        );
    }

    #[test]
    fn a_background_sleep_is_killed_at_the_deadline() {
        let sb = Sandbox::new();
        // A unique argument to find it by: sleep takes fractions.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let marker = format!("100.{}{nanos}", std::process::id());
        let timeout = Duration::from_millis(500);
        let started = Instant::now();
        let obs = observe_with_timeout(
            &sb,
            &format!("sleep {marker} & echo started"),
            &sb.work(),
            timeout,
        );
        assert!(obs.timed_out, "{}", obs.describe());
        assert!(started.elapsed() < timeout + Duration::from_secs(2));
        assert_eq!(obs.stdout, "started\n");
        assert_eq!(obs.execs.len(), 1);
        assert_eq!(obs.execs[0].argv, ["sleep", marker.as_str()]);
        let v = violations(&names(&["sleep"]), &obs, &[sb.work()]);
        assert!(v.len() == 1 && v[0].contains("timed out"), "{v:?}");
        let left = Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap();
        assert_eq!(
            left.status.code(),
            Some(1),
            "left behind: {}",
            String::from_utf8_lossy(&left.stdout)
        );
    }

    #[test]
    fn rm_rf_root_changes_nothing_outside_the_sandbox() {
        let sb = Sandbox::new();
        std::fs::write(sb.work().join("file"), "x").unwrap();
        // GNU rm guards `/` itself: nothing is even attempted.
        let obs = observe(&sb, "/bin/rm -rf /", &sb.work());
        assert_eq!(obs.programs(), ["rm"], "{}", obs.describe());
        // (bash opens /dev/tty read-write when it starts: harmless.)
        let tried: Vec<&Write> = obs
            .writes
            .iter()
            .filter(|w| !harmless_device(&w.path))
            .collect();
        assert!(
            tried.is_empty() && obs.stderr.contains("dangerous"),
            "{}",
            obs.describe()
        );
        assert!(violations(&names(&["rm"]), &obs, &[sb.work()]).is_empty());

        // The real attack: it walks the whole disk (minutes), so it gets two seconds. Every
        // removal outside the sandbox fails; the sandbox itself is fair game (the trace too:
        // we still read it through our own descriptor).
        let obs = observe_with_timeout(
            &sb,
            "/bin/rm -rf --no-preserve-root /etc/hostname /",
            &sb.work(),
            Duration::from_secs(2),
        );
        assert!(Path::new("/etc/hostname").exists());
        assert!(obs.timed_out, "{}", obs.describe());
        assert_eq!(obs.programs(), ["rm"], "{}", obs.describe());
        let hostname = obs
            .wrote(Path::new("/etc/hostname"))
            .expect("rm of /etc/hostname");
        assert_eq!(hostname.errno.as_deref(), Some("EROFS"), "{hostname:?}");
        let failed = obs
            .writes
            .iter()
            .filter(|w| w.errno.as_deref() == Some("EROFS"))
            .count();
        assert!(failed > 100, "{failed} failed removals");
        assert!(
            obs.writes.iter().all(|w| !w.ok
                || w.path.starts_with(sb.root())
                || w.path.starts_with("/tmp")
                || w.path.starts_with("/dev")),
            "a removal outside the sandbox succeeded: {}",
            obs.describe()
        );
        let v = violations(&names(&["rm"]), &obs, &[sb.work()]);
        assert!(v.iter().any(|l| l.contains("read-only host")), "{v:?}");
    }

    #[test]
    fn descriptors_symlinks_and_renames() {
        let sb = Sandbox::new();
        std::os::unix::fs::symlink("/etc/hostname", sb.work().join("link")).unwrap();
        std::fs::write(sb.work().join("a"), "x").unwrap();
        let obs = observe(
            &sb,
            "cat <(echo hi) > >(cat > out); echo y > link; mv a b; mkdir -p d/e; \
             cd d && ln -s ../b s && rmdir e; exec 3</etc/passwd; echo z >/dev/fd/3",
            &sb.work(),
        );
        assert_eq!(obs.stdout, "");
        let w = |p: &str| {
            obs.wrote(&sb.work().join(p))
                .unwrap_or_else(|| panic!("no write of {p}: {}", obs.describe()))
        };
        // bash's process substitution reopens /dev/fd/63, a pipe.
        let fd = obs
            .writes
            .iter()
            .find(|w| w.raw.starts_with("/dev/fd/6"))
            .expect("the process substitution");
        let pipe = fd.resolved.as_ref().unwrap().to_string_lossy();
        assert!(fd.ok && pipe.starts_with("pipe:["), "{fd:?}");
        assert!(w("out").ok);
        // Lexically in work/, really /etc/hostname.
        assert_eq!(w("link").errno.as_deref(), Some("EROFS"));
        assert!(w("a").ok && w("b").ok);
        assert!(w("d/e").ok && w("d/s").ok);
        assert!(
            obs.writes
                .iter()
                .any(|w| w.syscall == "rmdir" && w.raw == "e" && w.path == sb.work().join("d/e"))
        );
        let v = violations(
            &names(&["cat", "mv", "mkdir", "ln", "rmdir"]),
            &obs,
            &[sb.work()],
        );
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v[0].contains("link") && v[0].contains("read-only host"),
            "{v:?}"
        );
        assert!(
            v[1].contains("/dev/fd/3") && v[1].contains("read-only file"),
            "{v:?}"
        );
    }

    #[test]
    fn a_symbolic_link_to_outside_is_followed() {
        let sb = Sandbox::new();
        std::fs::write(sb.outside().join("f"), "x").unwrap();
        let obs = observe(
            &sb,
            "ln -s ../outside o && echo x > o/new && mkdir o/d && chmod 600 o/f && rm o/f",
            &sb.work(),
        );
        assert!(obs.status.success(), "{}", obs.describe());
        assert!(sb.outside().join("new").exists() && !sb.outside().join("f").exists());
        let v = violations(&names(&["ln", "mkdir", "chmod", "rm"]), &obs, &[sb.work()]);
        let outside = sb.outside().display().to_string();
        for what in ["really opens", "mkdir", "fchmodat", "unlinkat"] {
            assert!(
                v.iter().any(|l| l.contains(what) && l.contains(&outside)),
                "{what}: {v:?}"
            );
        }
        // Without the link the same names stay in work/.
        let obs = observe(&sb, "rm o && mkdir o && echo x > o/new", &sb.work());
        assert!(violations(&names(&["rm", "mkdir"]), &obs, &[sb.work()]).is_empty());
    }

    #[test]
    fn a_write_to_the_private_tmp_succeeds_but_is_outside() {
        let sb = Sandbox::new();
        let obs = observe(
            &sb,
            "echo x > /tmp/x; echo y > $TMPDIR/y; echo $HOME",
            &sb.work(),
        );
        assert_eq!(obs.stdout, format!("{}\n", sb.home().display()));
        assert!(obs.wrote(Path::new("/tmp/x")).is_some_and(|w| w.ok));
        // Whatever /tmp/x is on this machine (a file, a directory, nothing), the job's write
        // did not reach it.
        assert_ne!(std::fs::read("/tmp/x").ok().as_deref(), Some(&b"x\n"[..]));
        let v = violations(&[], &obs, &[sb.work(), sb.tmp()]);
        assert!(v.len() == 1 && v[0].contains("/tmp/x"), "{v:?}");
    }

    #[test]
    fn strace_escapes_are_decoded() {
        let sb = Sandbox::new();
        let name = "we<ird>\n|na\"me\\\u{e9}";
        let obs = observe(
            &sb,
            "touch \"$(printf 'we<ird>\\n|na\"me\\\\\\303\\251')\"",
            &sb.work(),
        );
        assert_eq!(obs.execs[0].argv[1], name, "{}", obs.describe());
        assert!(obs.wrote(&sb.work().join(name)).is_some_and(|w| w.ok));
        assert!(sb.work().join(name).exists());
        assert_eq!(unescape(br#"a\x41\101\0\"\\"#), b"aAA\0\"\\");

        // Directories (`AT_FDCWD</…>`) and results (`3</…>`) with spaces, commas, `<>`.
        let obs = observe(
            &sb,
            "mkdir 'a b,<c>' && cd 'a b,<c>' && touch x",
            &sb.work(),
        );
        let x = sb.work().join("a b,<c>/x");
        let w = obs
            .wrote(&x)
            .unwrap_or_else(|| panic!("{}", obs.describe()));
        assert!(
            w.ok && w.raw == "x" && w.resolved.as_deref() == Some(x.as_path()),
            "{w:?}"
        );
        assert!(violations(&names(&["mkdir", "touch"]), &obs, &[sb.work()]).is_empty());
    }

    #[test]
    fn a_run_that_cannot_start_is_a_gap() {
        let sb = Sandbox::new();
        let obs = observe(&sb, "true", &sb.work().join("missing"));
        assert!(!obs.status.success());
        assert_eq!(obs.gaps, ["bash never started"], "{}", obs.describe());
        let v = violations(&[], &obs, &[sb.work()]);
        assert!(v.len() == 1 && v[0].contains("never started"), "{v:?}");
    }

    #[test]
    fn tar_compressors_are_helpers_but_its_commands_are_not() {
        let sb = Sandbox::new();
        std::fs::write(sb.work().join("f"), "x").unwrap();
        let obs = observe(&sb, "tar czf f.tgz f && tar xzf f.tgz", &sb.work());
        assert_eq!(
            obs.programs(),
            ["tar", "sh", "gzip", "tar", "gzip"],
            "{}",
            obs.describe()
        );
        assert!(violations(&names(&["tar"]), &obs, &[sb.work()]).is_empty());
        let obs = observe(
            &sb,
            "tar -I 'sh -c \"gzip; touch m\"' -cf f.tgz f",
            &sb.work(),
        );
        let v = violations(&names(&["tar"]), &obs, &[sb.work()]);
        assert!(v.iter().any(|l| l.contains("`/bin/sh`")), "{v:?}");
        assert!(v.iter().any(|l| l.contains("touch")), "{v:?}");
    }

    #[test]
    fn the_verdict_names_the_allowed_programs() {
        let sb = Sandbox::new();
        let p = policy("default = \"deny\"\nallow = [\"touch\"]\n");
        let cmd = "touch m";
        let verdict = check(&p, cmd);
        assert_eq!(allowed_programs(&verdict), ["touch"]);
        let obs = observe(&sb, cmd, &sb.work());
        assert_contained(&verdict, &obs, &[sb.work()]);
    }

    #[test]
    #[should_panic(expected = "`touch ../outside/m` is not contained")]
    fn assert_contained_names_the_command() {
        let sb = Sandbox::new();
        let p = policy("default = \"deny\"\nallow = [\"touch\"]\n");
        let cmd = "touch ../outside/m";
        let obs = observe(&sb, cmd, &sb.work());
        assert_contained(&check(&p, cmd), &obs, &[sb.work()]);
    }

    #[test]
    fn an_observation_is_fast() {
        let sb = Sandbox::new();
        let runs = 10;
        let started = Instant::now();
        for _ in 0..runs {
            let obs = observe(&sb, "ls > listing; cat listing", &sb.work());
            assert!(obs.status.success());
        }
        let each = started.elapsed() / runs;
        eprintln!("one observation: {each:?}");
        assert!(each < Duration::from_millis(500), "{each:?}");
    }
}
