//! `execute`, `status`, `list`: starting jobs and reading their state.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_long_command_returns_an_id_at_once() {
    let s = Server::start().await;
    let t = Instant::now();
    let r = s.ok("execute", json!({"command": "sleep 30"})).await;
    let took = t.elapsed();
    assert!(took < Duration::from_secs(1), "execute took {took:?}");
    assert_eq!(r["job_id"], "j1");
    assert_eq!(r["state"], "running");
    assert!(r["pid"].as_u64().is_some());
    s.ok("kill", json!({"job_id": "j1"})).await;
}

#[tokio::test]
async fn wait_returns_the_finished_job_inline() {
    let s = Server::start().await;
    let r = s
        .ok(
            "execute",
            json!({"command": "echo out; echo err >&2; exit 3", "wait": 10}),
        )
        .await;
    assert_eq!(r["state"], "exited");
    assert_eq!(r["exit_code"], 3);
    let tail = r["tail"].as_str().unwrap();
    assert!(tail.contains("out") && tail.contains("err"), "{tail}");
    assert!(r["usage"]["max_rss_bytes"].as_u64().unwrap() > 0);
    assert!(r["duration_ms"].as_u64().is_some());
}

#[tokio::test]
async fn a_job_still_running_after_wait_comes_back_running() {
    let s = Server::start().await;
    let t = Instant::now();
    let r = s
        .ok("execute", json!({"command": "sleep 5", "wait": 0.3}))
        .await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r["state"], "running");
    assert!(r.get("tail").is_none());
}

#[tokio::test]
async fn stdout_and_stderr_are_captured_apart_and_in_order() {
    let s = Server::start().await;
    let cmd = "for i in 1 2 3; do echo out$i; sleep 0.05; echo err$i >&2; sleep 0.05; done";
    let id = s.start_job(json!({"command": cmd})).await;
    s.wait_end(&id, 20).await;
    let all = s.ok("output", json!({"job_id": id})).await;
    assert_eq!(all["text"], "out1\nerr1\nout2\nerr2\nout3\nerr3\n");
    let out = s
        .ok("output", json!({"job_id": id, "stream": "stdout"}))
        .await;
    assert_eq!(out["text"], "out1\nout2\nout3\n");
    let err = s
        .ok("output", json!({"job_id": id, "stream": "stderr"}))
        .await;
    assert_eq!(err["text"], "err1\nerr2\nerr3\n");
    let st = s.ok("status", json!({"job_id": id})).await;
    assert_eq!(st["output"]["stdout_bytes"], 15);
    assert_eq!(st["output"]["stderr_bytes"], 15);
}

#[tokio::test]
async fn exit_codes_and_signals_are_reported() {
    let s = Server::start().await;
    let r = s
        .ok("execute", json!({"command": "exit 7", "wait": 10}))
        .await;
    assert_eq!(
        (r["state"].clone(), r["exit_code"].clone()),
        (json!("exited"), json!(7))
    );
    let r = s
        .ok("execute", json!({"command": "kill -USR1 $$", "wait": 10}))
        .await;
    assert_eq!(r["state"], "killed");
    assert_eq!(r["signal"], "SIGUSR1");
    let r = s
        .ok("execute", json!({"command": "true", "wait": 10}))
        .await;
    assert_eq!(r["exit_code"], 0);
}

#[tokio::test]
async fn cwd_env_and_label_are_applied() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let r = s
        .ok(
            "execute",
            json!({"command": "pwd; echo $GREETING", "cwd": dir.path(), "env": {"GREETING": "hello there"},
                   "label": "probe", "wait": 10}),
        )
        .await;
    let tail = r["tail"].as_str().unwrap();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(tail, format!("{}\nhello there\n", real.display()));
    assert_eq!(r["label"], "probe");
    s.start_job(json!({"command": "true", "label": "other"}))
        .await;
    let l = s.ok("list", json!({"label": "probe"})).await;
    assert_eq!(l["total"], 1);
    assert_eq!(l["jobs"][0]["job_id"], "j1");
}

#[tokio::test]
async fn timeout_kills_the_job_tree() {
    let s = Server::start().await;
    let mark = Marker::new("timeout");
    let id = s
        .start_job(
            json!({"command": "sleep 100 & sleep 100; wait", "timeout": 0.5, "env": mark.env()}),
        )
        .await;
    let st = s.wait_end(&id, 20).await;
    assert_eq!(st["state"], "timed_out");
    assert!(
        eventually(Duration::from_secs(5), || mark.alive().is_empty()).await,
        "left: {:?}",
        mark.alive()
    );
}

#[tokio::test]
async fn pty_gives_the_job_a_terminal() {
    let s = Server::start().await;
    let r = s
        .ok(
            "execute",
            json!({"command": "tty", "pty": true, "wait": 10}),
        )
        .await;
    assert!(r["tail"].as_str().unwrap().starts_with("/dev/pts/"), "{r}");
    let r = s.ok("execute", json!({"command": "tty", "wait": 10})).await;
    assert_eq!(r["tail"], "not a tty\n");
}

#[tokio::test]
async fn stdin_text_is_fed_then_closed() {
    let s = Server::start().await;
    let r = s
        .ok(
            "execute",
            json!({"command": "sort", "stdin": "b\nc\na\n", "wait": 10}),
        )
        .await;
    assert_eq!(r["state"], "exited");
    assert_eq!(r["tail"], "a\nb\nc\n");
}

#[tokio::test]
async fn a_full_server_queues_jobs() {
    let s = Server::start_with(&["--max-concurrent", "1"]).await;
    let first = s.start_job(json!({"command": "sleep 30"})).await;
    let r = s.ok("execute", json!({"command": "echo second"})).await;
    assert_eq!(r["state"], "queued");
    let second = r["job_id"].as_str().unwrap().to_string();
    s.ok("kill", json!({"job_id": first})).await;
    let st = s.wait_end(&second, 10).await;
    assert_eq!(st["state"], "exited");
    let out = s.ok("output", json!({"job_id": second})).await;
    assert_eq!(out["text"], "second\n");
    // A queued job can be killed before it starts.
    let blocker = s.start_job(json!({"command": "sleep 30"})).await;
    let queued = s.start_job(json!({"command": "echo never"})).await;
    let k = s.ok("kill", json!({"job_id": queued})).await;
    assert_eq!(k["state"], "killed");
    s.ok("kill", json!({"job_id": blocker})).await;
    let out = s.ok("output", json!({"job_id": queued})).await;
    // No output: no text at all (empty fields are left out), and nothing after the cursor.
    assert!(out.get("text").is_none(), "{out}");
    assert_eq!(out["next"], 0, "{out}");
}

#[tokio::test]
async fn list_is_newest_first_and_filters_by_state() {
    let s = Server::start().await;
    s.ok("execute", json!({"command": "true", "wait": 10}))
        .await;
    let running = s.start_job(json!({"command": "sleep 30"})).await;
    let l = s.ok("list", json!({})).await;
    assert_eq!(l["jobs"][0]["job_id"], "j2");
    assert_eq!(l["jobs"][1]["job_id"], "j1");
    let l = s.ok("list", json!({"state": "running"})).await;
    assert_eq!(l["total"], 1);
    assert_eq!(l["jobs"][0]["job_id"], running);
    s.ok("kill", json!({"job_id": running})).await;
}

#[tokio::test]
async fn clean_forgets_ended_jobs_and_their_logs() {
    let s = Server::start().await;
    s.ok("execute", json!({"command": "echo a", "wait": 10}))
        .await;
    let running = s
        .start_job(json!({"command": "echo started; sleep 30"}))
        .await;
    s.ok(
        "wait",
        json!({"job_id": running, "until": "started", "timeout": 10}),
    )
    .await;
    // Logs are created at a job's first byte.
    assert_eq!(log_files(s.state_dir.path()).len(), 2);
    let e = s.err("clean", json!({"job_id": running})).await;
    assert!(e.contains("still running"), "{e}");
    for vague in [json!({}), json!({"all": false})] {
        let e = s.err("clean", vague).await;
        assert!(
            e.contains("job_id") && e.contains("older_than") && e.contains("all: true"),
            "{e}"
        );
    }
    assert_eq!(
        log_files(s.state_dir.path()).len(),
        2,
        "nothing was forgotten"
    );
    let r = s.ok("clean", json!({"all": true})).await;
    assert_eq!(r["removed"], json!(["j1"]));
    assert_eq!(log_files(s.state_dir.path()).len(), 1);
    s.err("status", json!({"job_id": "j1"})).await;
    s.ok("kill", json!({"job_id": running})).await;
}

#[tokio::test]
async fn tools_publish_schemas_and_annotations() {
    let s = Server::start().await;
    let tools = s
        .client
        .as_ref()
        .unwrap()
        .peer()
        .list_all_tools()
        .await
        .unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for t in [
        "execute", "status", "output", "tail", "interact", "kill", "list", "wait", "clean",
    ] {
        assert!(names.contains(&t), "missing tool {t}");
    }
    for t in &tools {
        assert!(t.output_schema.is_some(), "{} has no output schema", t.name);
        assert!(t.description.as_ref().is_some_and(|d| d.len() > 40));
    }
    let status = tools.iter().find(|t| t.name == "status").unwrap();
    assert_eq!(
        status.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
}

#[tokio::test]
async fn clean_by_age_and_list_limits() {
    let s = Server::start().await;
    for i in 0..5 {
        s.ok(
            "execute",
            json!({"command": format!("echo {i}"), "wait": 10}),
        )
        .await;
    }
    let l = s.ok("list", json!({"limit": 2})).await;
    assert_eq!(l["total"], 5);
    assert_eq!(l["jobs"].as_array().unwrap().len(), 2);
    let r = s.ok("clean", json!({"older_than": 3600})).await;
    assert_eq!(r["removed"], json!([]), "nothing ended an hour ago");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.ok("clean", json!({"older_than": 1})).await;
    assert_eq!(r["removed"].as_array().unwrap().len(), 5);
    assert_eq!(r["remaining"], 0);
}

/// A job starts on another CPU than the server's thread (so that its start-up does not stall
/// the server), then may run anywhere the server may.
#[tokio::test]
async fn jobs_may_run_on_every_cpu_the_server_may() {
    let s = Server::start().await;
    let r = s.ok("execute", json!({"command": "read line"})).await;
    let pid = r["pid"].as_u64().unwrap().to_string();
    let cpus = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()?
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .map(str::to_string)
    };
    let ours = cpus("self").unwrap();
    let same = eventually(Duration::from_secs(5), || {
        cpus(&pid).as_ref() == Some(&ours)
    })
    .await;
    assert!(same, "job: {:?}, test and server: {ours}", cpus(&pid));
    s.ok("kill", json!({"job_id": r["job_id"]})).await;
}
