//! The SSH executor against a real OpenSSH server on loopback, started here on a free port with
//! its own host and user keys (nothing system-wide changes).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

#[path = "../../fixtures/sshd.rs"]
mod fixture;

mod config;
mod fanout;
mod fleet;
mod hosts;

use fixture::Sshd;

/// A config file with hosts: `box` (good), `badkey` (key not authorized), `changed` (wrong
/// host key), `unknown` (host key not known).
fn config(sshd: &Sshd, keepalive: f64) -> PathBuf {
    let host = |name: &str, key: &str, known: &str| {
        format!(
            "[hosts.{name}]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"root\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\nkeepalive = {keepalive}\nconnect_timeout = 5\n\n",
            sshd.port,
            sshd.path(key).display(),
            sshd.path(known).display()
        )
    };
    std::fs::write(
        sshd.path("limited-policy.toml"),
        "default = \"allow\"\ndeny = [\"rm\"]\n",
    )
    .unwrap();
    let limited = host("limited", "user_key", "known_hosts")
        + &format!(
            "policy = \"{}\"\nmax_concurrent = 1\nmax_timeout = 60\n\n",
            sshd.path("limited-policy.toml").display()
        );
    // This sshd allows 200 sessions per connection, and `box` knows it.
    let text = limited
        + &host("box", "user_key", "known_hosts")
        + "max_sessions = 200\n\n"
        + &host("badkey", "stranger_key", "known_hosts")
        + &host("changed", "user_key", "wrong_known_hosts")
        + &host("unknown", "user_key", "empty_known_hosts");
    let path = sshd.path("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn server(sshd: &Sshd, keepalive: f64) -> Server {
    let config = config(sshd, keepalive);
    Server::start_with(&["--config", config.to_str().unwrap()]).await
}

#[tokio::test]
async fn the_tools_work_on_a_remote_host() {
    let sshd = Sshd::start();
    let s = server(&sshd, 5.0).await;
    let r = s
        .ok("execute", json!({"command": "echo out; echo err >&2; pwd; exit 3", "host": "box", "cwd": "/tmp", "wait": 20}))
        .await;
    assert_eq!(r["state"], "exited", "{r}");
    assert_eq!(r["exit_code"], 3);
    assert_eq!(r["host"], "box");
    let id = r["job_id"].as_str().unwrap().to_string();
    let out = s
        .ok("output", json!({"job_id": id, "stream": "stdout"}))
        .await;
    assert_eq!(out["text"], "out\n/tmp\n");
    let err = s
        .ok("output", json!({"job_id": id, "stream": "stderr"}))
        .await;
    assert_eq!(
        err["text"], "err\n",
        "the process-group marker is not part of the output"
    );
    // Over SSH, stdout and stderr are two streams of one channel: their relative order is not
    // kept, each stream's own order is.
    let t = s
        .ok(
            "tail",
            json!({"job_id": id, "lines": 1, "stream": "stdout"}),
        )
        .await;
    assert_eq!(t["text"], "/tmp\n");

    let cat = s
        .start_job(json!({"command": "cat", "host": "box", "env": {"GREETING": "hi"}}))
        .await;
    let r = s
        .ok(
            "interact",
            json!({"job_id": cat, "input": "hello remote", "until": "hello"}),
        )
        .await;
    assert_eq!(r["text"], "hello remote\n");
    s.ok("interact", json!({"job_id": cat, "input": "", "eof": true}))
        .await;
    let st = s.wait_end(&cat, 20).await;
    assert_eq!(st["state"], "exited");
    let env = s.ok("execute", json!({"command": "echo $GREETING", "host": "box", "env": {"GREETING": "hi there"}, "wait": 20})).await;
    assert_eq!(env["tail"], "hi there\n");
    let l = s.ok("list", json!({"host": "box"})).await;
    assert_eq!(l["total"], 3);
    assert!(
        l["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["host"] == "box")
    );
}

#[tokio::test]
async fn kill_leaves_no_remote_process() {
    let sshd = Sshd::start();
    let s = server(&sshd, 5.0).await;
    let mark = Marker::new("remote");
    let id = s
        .start_job(
            json!({"command": "sleep 1000 & sleep 1000 & wait", "host": "box", "env": mark.env()}),
        )
        .await;
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().len() >= 3).await,
        "{:?}",
        mark.alive()
    );
    let r = s.ok("kill", json!({"job_id": id})).await;
    assert_eq!(r["state"], "killed", "{r}");
    assert!(
        eventually(Duration::from_secs(5), || mark.alive().is_empty()).await,
        "left: {:?}",
        mark.alive()
    );
    // The wrapper's own complaint about its child's signal is not the job's output.
    let out = s.ok("output", json!({"job_id": id})).await;
    assert_eq!(out["text"].as_str().unwrap_or(""), "", "{out}");
}

#[tokio::test]
async fn bad_keys_are_refused_clearly() {
    let sshd = Sshd::start();
    let s = server(&sshd, 5.0).await;
    let e = s
        .err("execute", json!({"command": "true", "host": "changed"}))
        .await;
    assert!(e.contains("does NOT match"), "{e}");
    let e = s
        .err("execute", json!({"command": "true", "host": "unknown"}))
        .await;
    assert!(e.contains("is not in") && e.contains("ssh-keyscan"), "{e}");
    let e = s
        .err("execute", json!({"command": "true", "host": "badkey"}))
        .await;
    assert!(e.contains("refused"), "{e}");
    let e = s
        .err("execute", json!({"command": "true", "host": "elsewhere"}))
        .await;
    assert!(
        e.contains("box") && e.contains("local"),
        "lists the configured hosts: {e}"
    );
}

#[tokio::test]
async fn a_dead_connection_makes_jobs_lost_and_the_server_keeps_serving() {
    let sshd = Sshd::start();
    let s = server(&sshd, 1.0).await;
    let mark = Marker::new("lost");
    let id = s
        .start_job(json!({"command": "sleep 1000", "host": "box", "env": mark.env()}))
        .await;
    assert!(eventually(Duration::from_secs(10), || !mark.alive().is_empty()).await);
    sshd.kill();
    let t = Instant::now();
    let st = s.wait_end(&id, 30).await;
    assert_eq!(st["state"], "lost", "{st}");
    assert!(
        st["reason"].as_str().unwrap().contains("connection"),
        "{st}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "noticed after {:?}",
        t.elapsed()
    );
    let local = s
        .ok("execute", json!({"command": "echo still here", "wait": 10}))
        .await;
    assert_eq!(local["tail"], "still here\n");
    let e = s
        .err("execute", json!({"command": "true", "host": "box"}))
        .await;
    assert!(e.contains("connect"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_remote_jobs_over_one_connection() {
    let sshd = Sshd::start();
    let s = std::sync::Arc::new(server(&sshd, 5.0).await);
    // The first job opens the connection; the rest share it.
    s.ok(
        "execute",
        json!({"command": "true", "host": "box", "wait": 20}),
    )
    .await;
    let starts = (0..50).map(|i| {
        let s = std::sync::Arc::clone(&s);
        async move {
            s.start_job(json!({"command": format!("echo job-{i}; sleep 0.5"), "host": "box"}))
                .await
        }
    });
    let ids: Vec<String> = futures::future::join_all(starts).await;
    let r = s
        .ok("wait", json!({"job_ids": ids, "timeout": 60, "lines": 0}))
        .await;
    assert_eq!(r["reason"], "done", "{r}");
    for (i, id) in ids.iter().enumerate() {
        let out = s.ok("output", json!({"job_id": id})).await;
        assert_eq!(out["text"], format!("job-{i}\n"));
    }
    // One connection = one child of this sshd's listener: `max_sessions = 200` lets one
    // connection carry them all.
    let sessions = sshd.sessions().len();
    assert!(sessions <= 1, "{sessions} SSH connections for one host");
}

#[tokio::test]
async fn a_host_can_have_its_own_policy_and_limits() {
    let sshd = Sshd::start();
    let s = server(&sshd, 5.0).await;
    let e = s
        .err(
            "execute",
            json!({"command": "rm -f /tmp/nothing-here", "host": "limited"}),
        )
        .await;
    assert!(e.contains("refused by the policy"), "{e}");
    let r = s
        .ok(
            "execute",
            json!({"command": "rm -f /tmp/nothing-here", "wait": 10}),
        )
        .await;
    assert_eq!(
        r["state"], "exited",
        "the host's policy does not apply to other hosts"
    );
    let e = s
        .err(
            "execute",
            json!({"command": "sleep 1", "host": "limited", "timeout": 600}),
        )
        .await;
    assert!(e.contains("maximum"), "{e}");
    let first = s
        .start_job(json!({"command": "sleep 30", "host": "limited"}))
        .await;
    let second = s
        .ok(
            "execute",
            json!({"command": "echo second", "host": "limited"}),
        )
        .await;
    assert_eq!(second["state"], "queued", "one job at a time on this host");
    let other = s
        .ok(
            "execute",
            json!({"command": "echo other", "host": "box", "wait": 20}),
        )
        .await;
    assert_eq!(other["state"], "exited", "other hosts are not held up");
    s.ok("kill", json!({"job_id": first})).await;
    let st = s.wait_end(second["job_id"].as_str().unwrap(), 20).await;
    assert_eq!(st["state"], "exited");
}

#[tokio::test]
async fn a_remote_timeout_kills_the_remote_tree() {
    let sshd = Sshd::start();
    let s = server(&sshd, 5.0).await;
    let mark = Marker::new("remote-timeout");
    let id = s
        .start_job(json!({"command": "sleep 1000 & sleep 1000; wait", "host": "box", "timeout": 1, "env": mark.env()}))
        .await;
    let st = s.wait_end(&id, 30).await;
    assert_eq!(st["state"], "timed_out", "{st}");
    assert!(
        eventually(Duration::from_secs(5), || mark.alive().is_empty()).await,
        "left: {:?}",
        mark.alive()
    );
    let r = s
        .ok(
            "execute",
            json!({"command": "no-such-command-here", "host": "box", "wait": 20}),
        )
        .await;
    assert_eq!(r["exit_code"], 127, "{r}");
}

/// A remote job runs in its own session on the host: if the server dies without cleaning up,
/// the host-side watchdog (fed each job's process group) kills it when the connection goes.
#[tokio::test]
async fn remote_jobs_die_with_the_server() {
    let sshd = Sshd::start();
    let s = server(&sshd, 5.0).await;
    let mark = Marker::new("remote-orphan");
    s.start_job(
        json!({"command": "sleep 1000 & sleep 1000; wait", "host": "box", "env": mark.env()}),
    )
    .await;
    // The process group id arrives with the job's first stderr line; give it a moment to reach
    // the watchdog.
    assert!(eventually(Duration::from_secs(10), || mark.alive().len() >= 3).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.signal(libc::SIGKILL);
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left alive on the host: {:?}",
        mark.alive()
    );
}

/// Under a pseudo-terminal the job's output is its own too, and `kill` stops its tree.
#[tokio::test]
async fn a_remote_job_under_a_pty_shows_its_own_output_and_can_be_killed() {
    let sshd = Sshd::start();
    let s = server(&sshd, 5.0).await;
    let r = s
        .ok(
            "execute",
            json!({"command": "tty >/dev/null && echo on-a-tty", "host": "box", "pty": true, "wait": 20}),
        )
        .await;
    assert_eq!(r["exit_code"], 0, "{r}");
    assert_eq!(r["tail"], "on-a-tty\n", "{r}");
    let mark = Marker::new("remote-pty");
    let id = s
        .start_job(json!({"command": "sleep 1000 & sleep 1000", "host": "box", "pty": true, "env": mark.env()}))
        .await;
    assert!(eventually(Duration::from_secs(10), || mark.alive().len() >= 2).await);
    let k = s.ok("kill", json!({"job_id": id, "grace_ms": 500})).await;
    assert_eq!(k["state"], "killed", "{k}");
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left: {:?}",
        mark.alive()
    );
}
