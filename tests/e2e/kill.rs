//! `kill`: the whole process tree goes, whatever it did to escape.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

async fn start_and_see(s: &Server, mark: &Marker, command: &str, expect: usize) -> String {
    let id = s
        .start_job(json!({"command": command, "env": mark.env()}))
        .await;
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().len() >= expect).await,
        "expected {expect} processes, saw {:?}",
        mark.alive()
    );
    id
}

#[tokio::test]
async fn kill_reaches_background_children() {
    let s = Server::start().await;
    let mark = Marker::new("bg");
    let id = start_and_see(&s, &mark, "sh -c 'sleep 1000 & sleep 1000 & wait'", 3).await;
    let r = s.ok("kill", json!({"job_id": id})).await;
    assert_eq!(r["state"], "killed");
    assert!(r.get("already_ended").is_none(), "{r}");
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn kill_reaches_a_child_that_called_setsid() {
    let s = Server::start().await;
    let mark = Marker::new("setsid");
    let id = start_and_see(&s, &mark, "setsid sleep 1000 & sleep 1000 & wait", 3).await;
    s.ok("kill", json!({"job_id": id})).await;
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn kill_reaches_a_double_forked_daemon() {
    let s = Server::start().await;
    let mark = Marker::new("daemon");
    // The subshell exits at once: its setsid child is orphaned (re-parented to the server).
    let id = start_and_see(&s, &mark, "(setsid sleep 1000 &); sleep 1000", 2).await;
    s.ok("kill", json!({"job_id": id})).await;
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn kill_escalates_to_sigkill_after_the_grace() {
    let s = Server::start().await;
    let mark = Marker::new("stubborn");
    let id = start_and_see(
        &s,
        &mark,
        "trap '' TERM; sleep 1000 & trap '' TERM; wait; wait",
        2,
    )
    .await;
    let t = std::time::Instant::now();
    let r = s.ok("kill", json!({"job_id": id, "grace_ms": 300})).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r["state"], "killed");
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn kill_with_another_signal() {
    let s = Server::start().await;
    let id = s.start_job(json!({"command": "sleep 1000"})).await;
    let r = s.ok("kill", json!({"job_id": id, "signal": "INT"})).await;
    assert_eq!(r["signal"], "SIGINT");
    let id = s.start_job(json!({"command": "sleep 1000"})).await;
    let r = s.ok("kill", json!({"job_id": id, "signal": 9})).await;
    assert_eq!(r["signal"], "SIGKILL");
}

#[tokio::test]
async fn killing_an_ended_job_says_so_and_sweeps_leftovers() {
    let s = Server::start().await;
    let mark = Marker::new("leftover");
    // The main process exits, leaving a background process behind.
    let r = s
        .ok("execute", json!({"command": "sleep 1000 > /dev/null 2>&1 & echo started", "env": mark.env(), "wait": 10}))
        .await;
    assert_eq!(r["state"], "exited");
    assert_eq!(mark.alive().len(), 1);
    let k = s.ok("kill", json!({"job_id": r["job_id"]})).await;
    assert_eq!(k["already_ended"], true);
    assert_eq!(k["state"], "exited", "{k}");
    assert!(k.get("warning").is_none(), "no survivors: {k}");
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}
