//! A job blocked reading its stdin is reported as waiting for input — with its prompt, in
//! `status`, `list` and `wait` — and a job that is not reading is not.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// Waits (through `wait`) until `id` waits for input; the wait must say so well before its
/// timeout. Returns the job's item in the wait's result.
async fn wait_for_prompt(s: &Server, id: &str) -> Value {
    let t = Instant::now();
    let r = s.ok("wait", json!({"job_id": id, "timeout": 30})).await;
    assert_eq!(r["reason"], "waiting_for_input", "{r}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let item = r["jobs"][0].clone();
    assert_eq!(item["state"], "running", "{item}");
    assert!(item["waiting_for_input"]["since"].is_string(), "{item}");
    item
}

/// The job's row in `list`.
async fn row(s: &Server, id: &str) -> Value {
    let l = s.ok("list", json!({})).await;
    l["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job_id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_prompt_shows_in_status_and_list_and_ends_a_wait() {
    let s = Server::start().await;
    // `read -p` prints its prompt only to a terminal: over a pipe, the script prints it.
    for (command, pty) in [
        (
            "printf 'Continue? [y/N] ' >&2; read x; echo \"got $x\"",
            false,
        ),
        ("read -p 'Continue? [y/N] ' x; echo \"got $x\"", true),
    ] {
        let id = s
            .start_job(json!({"command": command, "pty": pty, "keep_stdin_open": true}))
            .await;
        let item = wait_for_prompt(&s, &id).await;
        assert_eq!(item["waiting_for_input"]["prompt"], "Continue? [y/N]");
        let st = s.ok("status", json!({"job_id": id})).await;
        assert_eq!(st["waiting_for_input"]["prompt"], "Continue? [y/N]", "{st}");
        assert!(
            st["summary"]
                .as_str()
                .unwrap()
                .contains("waiting for input")
        );
        let r = row(&s, &id).await;
        assert_eq!(r["waiting_for_input"]["prompt"], "Continue? [y/N]", "{r}");
        s.ok("interact", json!({"job_id": id, "input": "y"})).await;
        let st = s.wait_end(&id, 10).await;
        assert_eq!(st["exit_code"], 0);
        assert!(st.get("waiting_for_input").is_none(), "{st}");
    }
    // Over a pipe, `read -p` waits all the same, without a prompt.
    let id = s.start_job(json!({"command": "read -p 'Go? ' x"})).await;
    let item = wait_for_prompt(&s, &id).await;
    assert!(item["waiting_for_input"].get("prompt").is_none(), "{item}");
    s.ok("kill", json!({"job_id": id})).await;
}

#[tokio::test]
async fn cat_and_python_wait_for_input_over_a_pipe_and_a_pty() {
    let s = Server::start().await;
    for pty in [false, true] {
        let cat = s.start_job(json!({"command": "cat", "pty": pty})).await;
        let python = s
            .start_job(json!({"command": "python3 -i -q", "pty": pty}))
            .await;
        wait_for_prompt(&s, &cat).await;
        let item = wait_for_prompt(&s, &python).await;
        assert_eq!(item["waiting_for_input"]["prompt"], ">>>", "{item}");
        for id in [&cat, &python] {
            let st = s.ok("status", json!({"job_id": id})).await;
            assert!(st["waiting_for_input"].is_object(), "pty {pty}: {st}");
            s.ok("kill", json!({"job_id": id})).await;
        }
    }
}

#[tokio::test]
async fn a_busy_job_is_not_waiting_for_input() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "while :; do :; done", "keep_stdin_open": true}))
        .await;
    let t = Instant::now();
    let r = s.ok("wait", json!({"job_id": id, "timeout": 2})).await;
    assert_eq!(r["reason"], "timed_out", "{r}");
    assert!(t.elapsed() >= Duration::from_millis(1900));
    assert!(r["jobs"][0].get("waiting_for_input").is_none(), "{r}");
    let st = s.ok("status", json!({"job_id": id})).await;
    assert!(st.get("waiting_for_input").is_none(), "{st}");
    assert!(row(&s, &id).await.get("waiting_for_input").is_none());
    s.ok("kill", json!({"job_id": id})).await;
}

#[tokio::test]
async fn after_input_the_job_is_not_waiting_while_it_works() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "read x; sleep 3; echo 'Next? '; read y"}))
        .await;
    let first = wait_for_prompt(&s, &id).await;
    // Given its input, the job works (sleeps) before it reads again.
    s.ok(
        "interact",
        json!({"job_id": id, "input": "a", "wait_ms": 100}),
    )
    .await;
    let st = s.ok("status", json!({"job_id": id})).await;
    assert!(st.get("waiting_for_input").is_none(), "{st}");
    let again = wait_for_prompt(&s, &id).await;
    assert_eq!(again["waiting_for_input"]["prompt"], "Next?");
    let since = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v["waiting_for_input"]["since"].as_str().unwrap())
            .unwrap()
    };
    assert!(since(&again) > since(&first), "{first} {again}");
    s.ok("interact", json!({"job_id": id, "input": "b"})).await;
    s.wait_end(&id, 10).await;
}

#[tokio::test]
async fn a_wait_on_several_jobs_returns_when_one_waits_for_input() {
    let s = Server::start().await;
    let sleeper = s.start_job(json!({"command": "sleep 30"})).await;
    let asker = s
        .start_job(json!({"command": "sleep 0.5; printf 'Password: '; read p"}))
        .await;
    let t = Instant::now();
    let r = s
        .ok("wait", json!({"job_ids": [sleeper, asker], "timeout": 30}))
        .await;
    assert_eq!(r["reason"], "waiting_for_input", "{r}");
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(r["jobs"][0].get("waiting_for_input").is_none(), "{r}");
    assert_eq!(r["jobs"][1]["waiting_for_input"]["prompt"], "Password:");
    // `execute` with `wait` comes back at the prompt too.
    let t = Instant::now();
    let e = s
        .ok(
            "execute",
            json!({"command": "printf 'Overwrite? '; read a", "wait": 30}),
        )
        .await;
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(e["waiting_for_input"]["prompt"], "Overwrite?", "{e}");
    for id in [&sleeper, &asker, e["job_id"].as_str().unwrap()] {
        s.ok("kill", json!({"job_id": id})).await;
    }
}

#[tokio::test]
async fn a_job_waiting_on_its_stdin_and_something_else_is_at_work() {
    // Like `ssh host make`: blocked in select or poll on its stdin *and* a socket, it waits
    // for the other end, not for an answer.
    let s = Server::start().await;
    let mut ids = Vec::new();
    for wait in [
        "select.select([0, a], [], [])",
        "p = select.poll(); p.register(0); p.register(a); p.poll()",
    ] {
        let command = format!(
            "python3 -c 'import select, socket; a, b = socket.socketpair(); print(\"ready\", flush=True); {wait}'"
        );
        ids.push(s.start_job(json!({"command": command})).await);
    }
    let r = s
        .ok(
            "wait",
            json!({"job_ids": ids, "until": "ready", "timeout": 20}),
        )
        .await;
    assert_eq!(r["reason"], "done", "{r}");
    let r = s.ok("wait", json!({"job_ids": ids, "timeout": 2})).await;
    assert_eq!(r["reason"], "timed_out", "{r}");
    // Blocked in select or poll on its stdin alone, it waits for input.
    let id = s
        .start_job(json!({"command": "python3 -c 'import select; select.select([0], [], [])'"}))
        .await;
    wait_for_prompt(&s, &id).await;
    ids.push(id);
    for id in &ids {
        s.ok("kill", json!({"job_id": id})).await;
    }
}
