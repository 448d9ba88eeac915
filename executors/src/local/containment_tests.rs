//! Containment against processes that try to escape, with real processes and real cgroups.
//! Methods this machine cannot provide are skipped (with a note on stderr).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Containment, LocalExecutor, Method};
use crate::{Executor, JobSpec, OutputSink, Stream};

struct Null;
impl OutputSink for Null {
    fn append(&self, _: Stream, _: &[u8]) {}
}

/// A `sleep` duration no other process uses: the processes that run it are ours.
fn unique_sleep() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "1000.{}{:09}{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Live processes with `arg` among their arguments.
fn running(arg: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rfind(')')
                    .and_then(|i| s.get(i + 2..i + 3).map(str::to_owned))
            })
            .is_none_or(|s| s == "Z" || s == "X");
        if !zombie && cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Kills whatever a failed test left.
struct Sweep(String);
impl Drop for Sweep {
    fn drop(&mut self) {
        for pid in running(&self.0) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    while !cond() {
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

fn containment(method: Method) -> Option<Arc<Containment>> {
    let instance = format!("{}-test-{}", std::process::id(), unique_sleep());
    match Containment::create(&instance, Some(method)) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// Every way out that a process group, parent links and an environment tag miss.
fn escapes(s: &str) -> String {
    format!(
        "(env -i setsid sleep {s} &); (env -i sleep {s} &); \
         python3 -c 'import os\nif os.fork()==0:\n os.setsid()\n if os.fork()==0: os.execve(\"/bin/sleep\",[\"sleep\",\"{s}\"],{{}})' ; \
         sleep {s}"
    )
}

async fn escapees_are_killed(method: Method) {
    let Some(c) = containment(method) else { return };
    let ex = LocalExecutor::new(Arc::clone(&c)).unwrap();
    let s = unique_sleep();
    let _sweep = Sweep(s.clone());
    let spec = JobSpec {
        command: escapes(&s),
        tag: format!("t{s}:j1"),
        ..JobSpec::default()
    };
    let spawned = ex.spawn(spec, Arc::new(Null)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || running(&s).len() == 4).await,
        "{:?}",
        running(&s)
    );
    let job_dir = c.root().unwrap().join("j1");
    assert!(job_dir.is_dir());
    spawned
        .process
        .kill_tree(libc::SIGTERM, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(running(&s).is_empty(), "left: {:?}", running(&s));
    spawned.outcome.await;
    assert!(
        eventually(Duration::from_secs(5), || !job_dir.exists()).await,
        "the job's cgroup is still there"
    );
    assert!(
        c.kill_all(Instant::now() + Duration::from_secs(3))
            .is_empty()
    );
    assert!(!c.root().unwrap().exists());
}

#[tokio::test]
async fn cgroup2_kill_reaches_every_escapee() {
    escapees_are_killed(Method::Cgroup2).await;
}

#[tokio::test]
async fn freezer_kill_reaches_every_escapee() {
    escapees_are_killed(Method::Freezer).await;
}

/// The instance group takes every job's leftovers at once (the server's exit, the guardian).
#[tokio::test]
async fn killing_the_instance_group_reaches_leftovers_of_ended_jobs() {
    for method in [Method::Cgroup2, Method::Freezer] {
        let Some(c) = containment(method) else {
            continue;
        };
        let ex = LocalExecutor::new(Arc::clone(&c)).unwrap();
        let s = unique_sleep();
        let _sweep = Sweep(s.clone());
        let spec = JobSpec {
            command: format!("(env -i setsid sleep {s} > /dev/null 2>&1 &)"),
            tag: format!("t{s}:j1"),
            ..JobSpec::default()
        };
        let spawned = ex.spawn(spec, Arc::new(Null)).await.unwrap();
        spawned.outcome.await;
        assert!(eventually(Duration::from_secs(10), || running(&s).len() == 1).await);
        // Leftovers keep the ended job's group.
        assert!(c.root().unwrap().join("j1").is_dir());
        assert!(
            c.kill_all(Instant::now() + Duration::from_secs(3))
                .is_empty()
        );
        assert!(running(&s).is_empty(), "{method:?} left: {:?}", running(&s));
        assert!(!c.root().unwrap().exists());
    }
}

/// Without a cgroup, what stays in reach is still killed; `env -i setsid` after a double fork
/// is out of reach (the documented limit).
#[tokio::test]
async fn process_group_fallback_is_best_effort() {
    let Some(c) = containment(Method::ProcessGroup) else {
        return;
    };
    assert!(c.root().is_none());
    let ex = LocalExecutor::new(c).unwrap();
    let (inside, escaped) = (unique_sleep(), unique_sleep());
    let _sweep = (Sweep(inside.clone()), Sweep(escaped.clone()));
    let spec = JobSpec {
        command: format!(
            "(setsid sleep {inside} &); sleep {inside} & (env -i setsid sleep {escaped} &); wait"
        ),
        tag: format!("t{inside}:j1"),
        ..JobSpec::default()
    };
    let spawned = ex.spawn(spec, Arc::new(Null)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || running(&inside).len() == 2
            && running(&escaped).len() == 1)
        .await
    );
    spawned
        .process
        .kill_tree(libc::SIGTERM, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(running(&inside).is_empty());
    assert_eq!(running(&escaped).len(), 1);
}
