//! Spawn latency of the local executor against `std::process::Command` (posix_spawn).
//! `cargo run --release -p executors --example spawn_latency [GAP_MS]`
//!
//! GAP_MS (default 0) pauses between spawns: jobs rarely start back to back, and joining a
//! cgroup costs more on a quiet machine (see `local::cgroup`). The containment method is the
//! server's (`MCP_JOBS_CONTAINMENT` forces one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use executors::local::LocalExecutor;
use executors::{Executor, JobSpec, OutputSink, Stream};

struct Null;
impl OutputSink for Null {
    fn append(&self, _: Stream, _: &[u8]) {}
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let containment =
        executors::local::Containment::setup(&format!("{}-bench", std::process::id())).unwrap();
    println!("containment: {}", containment.method().name());
    let gap = std::env::args()
        .nth(1)
        .map(|g| std::time::Duration::from_millis(g.parse().unwrap()));
    let containment = Arc::new(containment);
    let ex = LocalExecutor::new(Arc::clone(&containment)).unwrap();
    let mut std_t = Vec::new();
    let mut ours = Vec::new();
    for i in 0..400 {
        if let Some(gap) = gap {
            tokio::time::sleep(gap).await;
        }
        let t = Instant::now();
        let mut c = std::process::Command::new("/bin/bash")
            .arg("-c")
            .arg("sleep 0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std_t.push(t.elapsed());
        let _ = c.wait();
        let spec = JobSpec {
            command: "sleep 0".into(),
            stdin: true,
            tag: format!("bench:{i}"),
            ..JobSpec::default()
        };
        let t = Instant::now();
        let s = ex.spawn(spec, Arc::new(Null)).await.unwrap();
        ours.push(t.elapsed());
        s.outcome.await;
    }
    containment.kill_all(Instant::now() + std::time::Duration::from_secs(3));
    std_t.sort();
    ours.sort();
    println!(
        "std posix_spawn p50 {:?}  ours p50 {:?}",
        std_t[200], ours[200]
    );
}
