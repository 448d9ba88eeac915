//! `hosts`: where jobs can run. Two live sshd fixtures with tags (one of which goes down later),
//! one whose sshd is down, and one that accepts TCP but never speaks SSH: their connection
//! states, jobs and limits, and what a probe finds (as `uname`, `nproc` and the load say),
//! within a bound.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fixture::Sshd;
use super::fleet::entry;
use crate::schemas::{empties, mismatches};
use crate::support::*;

/// The row of `name` in a `hosts` reply.
fn row<'a>(reply: &'a Value, name: &str) -> &'a Value {
    reply["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {reply}"))
}

/// What a shell command prints here, trimmed.
fn sh(command: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(command).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The reply carries no empty fields and matches the tool's output schema.
async fn well_formed(s: &Server, reply: &Value) {
    let tools = s
        .client
        .as_ref()
        .unwrap()
        .peer()
        .list_all_tools()
        .await
        .unwrap();
    let tool = tools.iter().find(|t| t.name == "hosts").unwrap();
    let schema = Value::Object(tool.output_schema.as_ref().unwrap().as_ref().clone());
    let mut problems = Vec::new();
    mismatches("hosts", &schema, reply, &mut problems);
    empties("hosts", reply, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The facts a probe of this machine (`local`, or an sshd on loopback) must give.
fn check_facts(h: &Value, cpus: u64) {
    let f = &h["facts"];
    assert_eq!(f["os"], sh("uname -s"), "{h}");
    assert_eq!(f["kernel"], sh("uname -r"), "{h}");
    assert_eq!(f["arch"], sh("uname -m"), "{h}");
    assert_eq!(f["cpus"], cpus, "{h}");
    let load = f["load"].as_array().unwrap();
    assert_eq!(load.len(), 3, "{h}");
    assert!(
        load.iter().all(|l| l.as_f64().is_some_and(|l| l >= 0.0)),
        "{h}"
    );
    assert!(h.get("probe_error").is_none(), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_shows_states_jobs_limits_and_what_a_probe_finds() {
    let alpha = Sshd::start();
    let beta = Sshd::start();
    let gone = Sshd::start();
    // Accepts connections (the kernel completes them) but never says a word of SSH.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let config = entry(
        &alpha,
        "alpha",
        "tags = [\"build\", \"gpu\"]\nmax_concurrent = 1\n",
    ) + &entry(&beta, "beta", "tags = [\"build\"]\nmax_timeout = 60\n")
        + &entry(&gone, "gamma", "tags = [\"gpu\"]\n")
        + &format!(
            "[hosts.mute]\naddress = \"127.0.0.1\"\nport = {silent_port}\nuser = \"root\"\nagent = true\nconnect_timeout = 1\n"
        );
    gone.kill();
    let path = alpha.path("hosts.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start_with(&["--config", path.to_str().unwrap()]).await;

    // Before any job: nothing is connected, nothing failed.
    let r = s.ok("hosts", json!({})).await;
    let names: Vec<&str> = r["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "alpha", "beta", "gamma", "mute"]);
    assert_eq!(row(&r, "local")["state"], "local");
    for name in ["alpha", "beta", "gamma", "mute"] {
        let h = row(&r, name);
        assert_eq!(h["state"], "idle", "{h}");
        assert_eq!(
            (h["running"].as_u64(), h["queued"].as_u64()),
            (Some(0), Some(0))
        );
        assert!(h.get("facts").is_none(), "no probe unless asked: {h}");
    }
    let a = row(&r, "alpha");
    assert_eq!(a["address"], format!("127.0.0.1:{}", alpha.port));
    assert_eq!(a["user"], "root");
    assert_eq!(a["tags"], json!(["build", "gpu"]));
    assert_eq!(a["limits"]["max_concurrent"], 1);
    assert_eq!(a["limits"]["max_connections"], 4);
    assert_eq!(a["limits"]["max_sessions"], 10);
    assert_eq!(row(&r, "beta")["limits"]["max_timeout_s"], 60);
    assert!(row(&r, "local")["limits"].get("max_connections").is_none());
    well_formed(&s, &r).await;

    // Jobs: one ran on beta; alpha takes one at a time, so its second waits.
    let done = s
        .ok(
            "execute",
            json!({"command": "true", "host": "beta", "wait": 20}),
        )
        .await;
    assert_eq!(done["state"], "exited", "{done}");
    let first = s
        .start_job(json!({"command": "sleep 30", "host": "alpha"}))
        .await;
    let second = s
        .ok("execute", json!({"command": "sleep 30", "host": "alpha"}))
        .await;
    assert_eq!(second["state"], "queued", "{second}");
    let before = chrono::Utc::now();
    let e = s
        .err("execute", json!({"command": "true", "host": "gamma"}))
        .await;
    assert!(e.contains("cannot connect"), "{e}");

    let r = s.ok("hosts", json!({})).await;
    let a = row(&r, "alpha");
    assert_eq!(a["state"], "connected", "{a}");
    assert_eq!(a["connections"], 1, "{a}");
    assert_eq!(
        (a["running"].as_u64(), a["queued"].as_u64()),
        (Some(1), Some(1)),
        "{a}"
    );
    let b = row(&r, "beta");
    assert_eq!(
        b["state"], "connected",
        "the last connection stays open: {b}"
    );
    assert_eq!(
        (b["running"].as_u64(), b["queued"].as_u64()),
        (Some(0), Some(0)),
        "{b}"
    );
    let g = row(&r, "gamma");
    assert_eq!(g["state"], "failed", "{g}");
    assert!(
        g["error"].as_str().unwrap().contains("cannot connect"),
        "{g}"
    );
    let at = chrono::DateTime::parse_from_rfc3339(g["failed_at"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("failed_at is not RFC 3339 ({e}): {g}"));
    assert!(at >= before && at <= chrono::Utc::now(), "{g}");
    assert!(g.get("connections").is_none(), "{g}");
    assert_eq!(row(&r, "mute")["state"], "idle");
    well_formed(&s, &r).await;
    assert!(text(&s.call("hosts", json!({})).await).contains("gamma"));

    // A probe of every host at once: the live ones answer, the down one answers its error at
    // once (it is in back-off), the mute one its handshake timeout (1 s), none waits for
    // another.
    let t = Instant::now();
    let r = s.ok("hosts", json!({"probe": true})).await;
    let took = t.elapsed();
    // Its bound is 5 s (connect timeout + 4 s); the others' 9 s.
    assert!(took < Duration::from_secs(6), "the probe took {took:?}");
    let nproc: u64 = sh("nproc").parse().unwrap();
    for name in ["alpha", "beta"] {
        let h = row(&r, name);
        check_facts(h, nproc);
        let rtt = h["facts"]["rtt_ms"].as_f64().unwrap();
        assert!(rtt > 0.0 && rtt < 1000.0, "{h}");
    }
    let local = row(&r, "local");
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    check_facts(local, cpus);
    assert!(local["facts"].get("rtt_ms").is_none(), "{local}");
    let g = row(&r, "gamma");
    assert!(g.get("facts").is_none(), "{g}");
    assert!(
        g["probe_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{g}"
    );
    let m = row(&r, "mute");
    assert!(m["probe_error"].as_str().is_some(), "{m}");
    assert_eq!(m["state"], "failed", "its handshake failed: {m}");
    let a = row(&r, "alpha");
    assert_eq!(
        (a["running"].as_u64(), a["queued"].as_u64()),
        (Some(1), Some(1)),
        "the probe is not a job: {a}"
    );
    well_formed(&s, &r).await;
    let listed = s.ok("list", json!({})).await;
    assert_eq!(
        listed["total"], 4,
        "three jobs and the one that failed to start; none for the probes: {listed}"
    );

    // One host, by name: probed, alone.
    let r = s.ok("hosts", json!({"host": "beta"})).await;
    assert_eq!(r["hosts"].as_array().unwrap().len(), 1, "{r}");
    check_facts(row(&r, "beta"), nproc);

    let e = s.err("hosts", json!({"host": "delta"})).await;
    assert!(
        e.contains("delta") && e.contains("alpha") && e.contains("local"),
        "names the known hosts: {e}"
    );

    // beta's sshd goes away under its open connection: noticed by the keepalive (1 s).
    beta.kill();
    let deadline = Instant::now() + Duration::from_secs(15);
    let b = loop {
        let r = s.ok("hosts", json!({})).await;
        let b = row(&r, "beta").clone();
        if b["state"] == "failed" || Instant::now() >= deadline {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(b["state"], "failed", "{b}");
    assert!(b["error"].as_str().unwrap().contains("lost"), "{b}");
    assert!(b["failed_at"].is_string(), "{b}");

    s.ok("kill", json!({"job_id": first})).await;
    s.ok("kill", json!({"job_id": second["job_id"]})).await;
    drop(silent);
}

/// A probe's channel is closed once it has answered: the host's sshd has only the watchdog's
/// channel open on the connection, and a host probed before any job is `connected`.
#[tokio::test]
async fn a_probe_connects_an_idle_host_and_leaves_no_channel_open() {
    let sshd = Sshd::start_with("MaxSessions 3\n");
    let config = entry(&sshd, "box", "max_sessions = 3\n");
    let path = sshd.path("hosts.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start_with(&["--config", path.to_str().unwrap()]).await;
    // Three channels per connection: the watchdog's, one for short commands, one job. Probes
    // would fill it if their channels stayed open.
    for _ in 0..5 {
        let r = s.ok("hosts", json!({"host": "box"})).await;
        assert!(row(&r, "box").get("facts").is_some(), "{r}");
        assert_eq!(row(&r, "box")["state"], "connected", "{r}");
    }
    let r = s
        .ok(
            "execute",
            json!({"command": "echo ran", "host": "box", "wait": 20}),
        )
        .await;
    assert_eq!(r["tail"], "ran\n", "{r}");
    assert_eq!(
        sshd.sessions().len(),
        1,
        "one connection for probes and the job"
    );
}

/// The instructions and the `host` parameters name the configured hosts, bounded.
#[tokio::test]
async fn the_instructions_and_the_host_parameter_name_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::new();
    for i in 1..=12 {
        config += &format!(
            "[hosts.h{i:02}]\naddress = \"127.0.0.1\"\nport = 1\nuser = \"root\"\nagent = true\ntags = [\"t{}\", \"all\"]\n\n",
            i % 3
        );
    }
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start_with(&["--config", path.to_str().unwrap()]).await;
    let peer = s.client.as_ref().unwrap().peer();
    let instructions = peer.peer_info().unwrap().instructions.clone().unwrap();
    let named = "local, h01, h02, h03, h04, h05 … (7 more: see `hosts`)";
    assert!(
        instructions.contains(&format!("Hosts: {named}")),
        "{instructions}"
    );
    assert!(!instructions.contains("h06"), "bounded: {instructions}");
    // How to run on several, and with which tags.
    assert!(
        instructions.contains("`hosts: [..]` or `tag`")
            && instructions.contains("Tags: all, t0, t1, t2."),
        "{instructions}"
    );
    let tools = peer.list_all_tools().await.unwrap();
    for name in ["execute", "check", "list", "hosts"] {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        let d = t.input_schema["properties"]["host"]["description"]
            .as_str()
            .unwrap();
        assert!(d.contains(named), "{name}: {d}");
    }
    let execute = tools.iter().find(|t| t.name == "execute").unwrap();
    let d = execute.input_schema["properties"]["tag"]["description"]
        .as_str()
        .unwrap();
    assert!(d.ends_with("Tags: all, t0, t1, t2."), "{d}");
    let r = s.ok("hosts", json!({})).await;
    assert_eq!(r["hosts"].as_array().unwrap().len(), 13, "all of them: {r}");
}
