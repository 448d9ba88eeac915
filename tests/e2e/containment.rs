//! Containment: every process a job starts goes with it — on `kill`, on the server's exit by
//! end of file, SIGTERM or SIGKILL (the guardian) — whatever it did to hide: `setsid`, double
//! forks, an empty environment, a new process group, many processes at once.
//!
//! Processes are recognised by a `sleep` duration unique to the test (`sleep 1000.<n>`), found
//! in /proc/*/cmdline: an environment marker would not see the ones started with `env -i`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

use crate::support::*;

/// Processes running `sleep` with one unique duration. Killed on drop, whatever a failed
/// assertion left.
struct Sleepers {
    arg: String,
}

impl Sleepers {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Self {
            arg: format!(
                "1000.{}{}{:09}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed),
                nanos
            ),
        }
    }

    fn alive(&self) -> Vec<i32> {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            if cmdline.split(|b| *b == 0).any(|a| a == self.arg.as_bytes()) && !is_zombie(pid) {
                found.push(pid);
            }
        }
        found
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for pid in self.alive() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Jobs that leave processes behind which a process group, parent links and an environment
/// tag do not find (or, for the last, only the process group finds), each with its main
/// process still running: (command, processes it starts).
fn escapes(s: &str) -> Vec<(String, usize)> {
    let double_fork = format!(
        "python3 -c 'import os\nif os.fork() == 0:\n os.setsid()\n if os.fork() == 0:\n  \
         os.execve(\"/bin/sleep\", [\"sleep\", \"{s}\"], {{}})'"
    );
    let new_group = format!(
        "python3 -c 'import os; os.setpgid(0, 0); \
         os.execve(\"/bin/sleep\", [\"sleep\", \"{s}\"], {{}})'"
    );
    vec![
        (format!("(env -i setsid sleep {s} &); sleep {s}"), 2),
        (
            format!("nohup env -i setsid sleep {s} > /dev/null 2>&1 & disown; sleep {s}"),
            2,
        ),
        (format!("{double_fork}; sleep {s}"), 2),
        (format!("({new_group} &); sleep {s}"), 2),
        (format!("(env -i sleep {s} &); sleep {s}"), 2),
    ]
}

/// A server with `env` set, its stderr kept in `stderr.log` in its state directory.
async fn server_with_env(env: &[(&str, &str)]) -> Server {
    let state_dir = tempfile::tempdir().expect("tempdir");
    let stderr = std::fs::File::create(state_dir.path().join("stderr.log")).expect("stderr.log");
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--state-dir").arg(state_dir.path().join("state"));
    cmd.env("XDG_CONFIG_HOME", state_dir.path().join("no-config"));
    cmd.env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(stderr)
        .spawn()
        .expect("spawn mcp-jobs");
    let pid = transport.id().expect("server pid");
    let client = ().serve(transport).await.expect("MCP initialise");
    Server {
        client: Some(client),
        pid,
        state_dir,
    }
}

fn stderr_of(s: &Server) -> String {
    std::fs::read_to_string(s.state_dir.path().join("stderr.log")).unwrap_or_default()
}

/// This process's directory in a cgroup hierarchy (a server it starts creates its groups
/// there): `hierarchy` is "cgroup2" or "freezer".
fn own_cgroup_dir(hierarchy: &str) -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mount = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mut r = right.split(' ');
        let (fstype, _, opts) = (r.next()?, r.next()?, r.next().unwrap_or(""));
        let ok = match hierarchy {
            "cgroup2" => fstype == "cgroup2",
            _ => fstype == "cgroup" && opts.split(',').any(|o| o == "freezer"),
        };
        ok.then(|| left.split(' ').nth(4).map(str::to_string))?
    })?;
    let own = cgroups.lines().find_map(|l| {
        let mut p = l.splitn(3, ':');
        let (id, ctl, path) = (p.next()?, p.next()?, p.next()?);
        let ok = match hierarchy {
            "cgroup2" => id == "0" && ctl.is_empty(),
            _ => ctl.split(',').any(|c| c == "freezer"),
        };
        ok.then(|| path.to_string())
    })?;
    Some(Path::new(&mount).join(own.trim_start_matches('/')))
}

/// The instance groups of the server `pid` in `hierarchy`.
fn instance_groups(hierarchy: &str, pid: u32) -> Vec<PathBuf> {
    let Some(dir) = own_cgroup_dir(hierarchy) else {
        return Vec::new();
    };
    let prefix = format!("mcp-jobs-{pid}-");
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Starts every escape as its own job and waits until all its processes run; returns the job
/// ids with their sleepers.
async fn start_escapes(s: &Server) -> Vec<(String, Sleepers)> {
    let mut jobs = Vec::new();
    for _ in 0..escapes("x").len() {
        jobs.push(Sleepers::new());
    }
    let mut started = Vec::new();
    for (i, sleepers) in jobs.into_iter().enumerate() {
        let (command, n) = escapes(&sleepers.arg).swap_remove(i);
        let id = s.start_job(json!({ "command": command })).await;
        assert!(
            eventually(Duration::from_secs(10), || sleepers.alive().len() == n).await,
            "{command}: expected {n} processes, saw {:?}",
            sleepers.alive()
        );
        started.push((id, sleepers));
    }
    started
}

async fn kill_reaches_every_escapee(env: &[(&str, &str)], hierarchy: &str) {
    let s = server_with_env(env).await;
    let jobs = start_escapes(&s).await;
    assert_eq!(instance_groups(hierarchy, s.pid).len(), 1);
    for (id, sleepers) in &jobs {
        let r = s.ok("kill", json!({"job_id": id, "grace_ms": 200})).await;
        assert_eq!(r["state"], "killed", "{r}");
        assert!(r.get("survivors").is_none_or(|v| v.is_null()), "{r}");
        assert!(
            sleepers.alive().is_empty(),
            "job {id} left {:?}",
            sleepers.alive()
        );
    }
    // Each job's group goes once it is empty and its main process is reaped.
    let root = instance_groups(hierarchy, s.pid)
        .pop()
        .expect("instance group");
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read_dir(&root)
            .map(|d| !d.flatten().any(|e| e.path().is_dir()))
            .unwrap_or(true))
        .await,
        "job groups left in {}",
        root.display()
    );
}

#[tokio::test]
async fn cgroup2_kill_reaches_every_escapee() {
    kill_reaches_every_escapee(&[("MCP_JOBS_CONTAINMENT", "cgroup2")], "cgroup2").await;
}

#[tokio::test]
async fn freezer_kill_reaches_every_escapee() {
    if own_cgroup_dir("freezer").is_none() {
        eprintln!("skipped: no freezer hierarchy");
        return;
    }
    kill_reaches_every_escapee(&[("MCP_JOBS_CONTAINMENT", "freezer")], "freezer").await;
}

/// How the server goes away in [`server_exit_kills_every_escapee`].
#[derive(Debug, Clone, Copy)]
enum Exit {
    EndOfFile,
    Sigterm,
    Sigkill,
}

async fn server_exit_kills_every_escapee(env: &[(&str, &str)], hierarchy: &str, how: Exit) {
    let mut s = server_with_env(env).await;
    let jobs = start_escapes(&s).await;
    // Leftovers of an ended job count too.
    let leftover = Sleepers::new();
    let r = s
        .ok(
            "execute",
            json!({"command": format!("(env -i setsid sleep {} > /dev/null 2>&1 &)", leftover.arg), "wait": 10}),
        )
        .await;
    assert_eq!(r["state"], "exited", "{r}");
    assert!(eventually(Duration::from_secs(10), || leftover.alive().len() == 1).await);
    assert_eq!(instance_groups(hierarchy, s.pid).len(), 1);
    match how {
        Exit::EndOfFile => s.disconnect().await,
        Exit::Sigterm => s.signal(libc::SIGTERM),
        Exit::Sigkill => s.signal(libc::SIGKILL),
    }
    assert!(
        eventually(Duration::from_secs(15), || !alive(s.pid)).await,
        "server still running"
    );
    let all_gone = || {
        leftover.alive().is_empty() && jobs.iter().all(|(_, sleepers)| sleepers.alive().is_empty())
    };
    // After SIGKILL the guardian works on its own time; otherwise the server waited.
    let within = match how {
        Exit::Sigkill => Duration::from_secs(10),
        _ => Duration::ZERO,
    };
    assert!(
        eventually(within, all_gone).await,
        "{how:?} left {:?} {:?}",
        leftover.alive(),
        jobs.iter().map(|(_, s)| s.alive()).collect::<Vec<_>>()
    );
    assert!(
        eventually(Duration::from_secs(10), || instance_groups(
            hierarchy, s.pid
        )
        .is_empty())
        .await,
        "{how:?} left the groups {:?}",
        instance_groups(hierarchy, s.pid)
    );
}

#[tokio::test]
async fn cgroup2_end_of_file_kills_every_escapee() {
    server_exit_kills_every_escapee(&[], "cgroup2", Exit::EndOfFile).await;
}

#[tokio::test]
async fn cgroup2_sigterm_kills_every_escapee() {
    server_exit_kills_every_escapee(&[], "cgroup2", Exit::Sigterm).await;
}

#[tokio::test]
async fn cgroup2_sigkill_leaves_the_guardian_to_kill_every_escapee() {
    server_exit_kills_every_escapee(&[], "cgroup2", Exit::Sigkill).await;
}

#[tokio::test]
async fn freezer_server_exit_kills_every_escapee() {
    if own_cgroup_dir("freezer").is_none() {
        eprintln!("skipped: no freezer hierarchy");
        return;
    }
    let env = [("MCP_JOBS_CONTAINMENT", "freezer")];
    server_exit_kills_every_escapee(&env, "freezer", Exit::Sigterm).await;
    server_exit_kills_every_escapee(&env, "freezer", Exit::Sigkill).await;
}

/// Many processes, still forking while the kill runs.
#[tokio::test]
async fn a_fork_storm_is_killed_whole() {
    let s = server_with_env(&[]).await;
    let storm = Sleepers::new();
    let command = format!(
        "ulimit -u 400; (for i in $(seq 300); do (env -i setsid sleep {a} &); sleep 0.01; done &); \
         sleep {a}",
        a = storm.arg
    );
    let id = s.start_job(json!({ "command": command })).await;
    assert!(
        eventually(Duration::from_secs(20), || storm.alive().len() >= 30).await,
        "the storm did not start: {:?}",
        storm.alive()
    );
    let r = s.ok("kill", json!({"job_id": id, "grace_ms": 100})).await;
    assert_eq!(r["state"], "killed", "{r}");
    assert!(storm.alive().is_empty(), "left {:?}", storm.alive());
}

/// Forced to the process-group method, the server says so at start, creates no cgroup, and
/// the old guarantees hold: background children, `setsid` children and tagged orphans go with
/// `kill`; after a SIGKILL of the server the guardian kills the job's process group, where an
/// `env -i` child left in it is found.
#[tokio::test]
async fn process_group_fallback_keeps_the_old_guarantees() {
    let env = [("MCP_JOBS_CONTAINMENT", "process-group")];
    let s = server_with_env(&env).await;
    assert!(
        eventually(Duration::from_secs(5), || stderr_of(&s)
            .contains("Containment: process group, best effort"))
        .await,
        "stderr: {}",
        stderr_of(&s)
    );
    assert!(instance_groups("cgroup2", s.pid).is_empty());
    for (command, n) in [
        ("sh -c 'sleep {s} & sleep {s} & wait'", 2),
        ("setsid sleep {s} & sleep {s} & wait", 2),
        ("(setsid sleep {s} &); sleep {s}", 2),
    ] {
        let sleepers = Sleepers::new();
        let command = command.replace("{s}", &sleepers.arg);
        let id = s.start_job(json!({ "command": command })).await;
        assert!(
            eventually(Duration::from_secs(10), || sleepers.alive().len() == n).await,
            "{command}: {:?}",
            sleepers.alive()
        );
        s.ok("kill", json!({"job_id": id})).await;
        assert!(
            sleepers.alive().is_empty(),
            "{command} left {:?}",
            sleepers.alive()
        );
    }
    let in_group = Sleepers::new();
    s.start_job(json!({"command": format!("(env -i sleep {a} &); sleep {a}", a = in_group.arg)}))
        .await;
    assert!(eventually(Duration::from_secs(10), || in_group.alive().len() == 2).await);
    s.signal(libc::SIGKILL);
    assert!(
        eventually(Duration::from_secs(10), || in_group.alive().is_empty()).await,
        "left {:?}",
        in_group.alive()
    );
}

#[tokio::test]
async fn the_server_says_which_containment_it_uses() {
    let s = server_with_env(&[]).await;
    assert!(
        eventually(Duration::from_secs(5), || stderr_of(&s)
            .contains("Containment: cgroup v2"))
        .await,
        "stderr: {}",
        stderr_of(&s)
    );
    let bad = std::process::Command::new(BIN)
        .env("MCP_JOBS_CONTAINMENT", "sometimes")
        .env("XDG_CONFIG_HOME", s.state_dir.path().join("no-config"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run mcp-jobs");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("MCP_JOBS_CONTAINMENT"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
