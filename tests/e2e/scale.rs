//! Many jobs at once.

use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_jobs_at_once() {
    let s = std::sync::Arc::new(Server::start().await);
    let t = std::time::Instant::now();
    let starts = (0..200).map(|i| {
        let s = std::sync::Arc::clone(&s);
        async move {
            s.start_job(json!({"command": format!("echo job-{i}; sleep 0.5; echo done-{i} >&2")}))
                .await
        }
    });
    let ids: Vec<String> = futures::future::join_all(starts).await;
    let started = t.elapsed();
    let r = s
        .ok("wait", json!({"job_ids": ids, "timeout": 120, "lines": 0}))
        .await;
    eprintln!(
        "200 jobs: started in {started:?}, all ended after {:?}",
        t.elapsed()
    );
    assert_eq!(r["reason"], "done");
    let jobs = r["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 200);
    for j in jobs {
        assert_eq!(j["state"], "exited", "{j}");
        assert_eq!(j["exit_code"], 0);
    }
    for (i, id) in ids.iter().enumerate() {
        let out = s.ok("output", json!({"job_id": id})).await;
        assert_eq!(out["text"], format!("job-{i}\ndone-{i}\n"));
    }
}

/// Ended jobs hold no file descriptors: a long-running server must not run out of them.
#[tokio::test]
async fn ended_jobs_hold_no_descriptors() {
    let s = Server::start().await;
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", s.pid)).map_or(0, |d| d.count());
    let before = fds();
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(s.start_job(json!({"command": format!("echo {i}")})).await);
    }
    s.ok("wait", json!({"job_ids": ids, "timeout": 60, "lines": 0}))
        .await;
    let after = fds();
    assert!(
        after < before + 20,
        "descriptors grew from {before} to {after} over 300 ended jobs"
    );
    // Their output is still readable (the log is reopened on demand).
    let out = s.ok("output", json!({"job_id": ids[150]})).await;
    assert_eq!(out["text"], "150\n");
}
