//! `interact`: writing to a running job's stdin and reading only what follows.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn interact_with_cat_returns_only_the_new_output() {
    let s = Server::start().await;
    let id = s.start_job(json!({"command": "cat"})).await;
    let r = s
        .ok("interact", json!({"job_id": id, "input": "hello"}))
        .await;
    assert_eq!(r["text"], "hello\n");
    let r = s
        .ok(
            "interact",
            json!({"job_id": id, "input": "again", "until": "again"}),
        )
        .await;
    assert_eq!(r["text"], "again\n");
    assert_eq!(r["matched"], true);
    let r = s
        .ok(
            "interact",
            json!({"job_id": id, "input": "no newline", "newline": false, "eof": true}),
        )
        .await;
    assert_eq!(r["text"], "no newline");
    let st = s.wait_end(&id, 10).await;
    assert_eq!(st["state"], "exited");
    let all = s.ok("output", json!({"job_id": id})).await;
    assert_eq!(all["text"], "hello\nagain\nno newline");
}

#[tokio::test]
async fn interact_with_python_over_a_pipe() {
    let s = Server::start().await;
    let id = s.start_job(json!({"command": "python3 -i -q"})).await;
    // With a pipe, Python's prompts go to stderr; wait for the first one.
    s.ok(
        "wait",
        json!({"job_id": id, "until": ">>> ", "timeout": 20}),
    )
    .await;
    let r = s
        .ok(
            "interact",
            json!({"job_id": id, "input": "print(6 * 7)", "until": "^42$", "wait_ms": 20000}),
        )
        .await;
    assert_eq!(r["matched"], true, "{r}");
    assert!(r["text"].as_str().unwrap().contains("42"));
    let r = s
        .ok("interact", json!({"job_id": id, "input": "x = 'abc' * 2\nprint(x)", "until": "abcabc", "wait_ms": 20000}))
        .await;
    assert!(r["text"].as_str().unwrap().contains("abcabc"));
    assert!(
        !r["text"].as_str().unwrap().contains("42"),
        "old output came back: {r}"
    );
    s.ok("interact", json!({"job_id": id, "input": "", "eof": true}))
        .await;
    let st = s.wait_end(&id, 20).await;
    assert_eq!(st["state"], "exited");
}

#[tokio::test]
async fn interact_with_python_under_a_pty() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "python3 -i -q", "pty": true}))
        .await;
    s.ok(
        "wait",
        json!({"job_id": id, "until": ">>> ", "timeout": 20}),
    )
    .await;
    let r = s
        .ok(
            "interact",
            json!({"job_id": id, "input": "print(6 * 7)", "until": "^>>> ", "wait_ms": 20000}),
        )
        .await;
    assert_eq!(r["matched"], true, "{r}");
    // Waiting for the next prompt, not for "42": a Ctrl-D typed while Python is between two
    // reads meets a terminal in canonical mode, and readline then reads a NUL, not an end of
    // file. The prompt is printed once readline owns the terminal again.
    let text = r["text"].as_str().unwrap();
    assert!(
        text.lines().any(|l| l.trim_end_matches('\r') == "42"),
        "{text:?}"
    );
    // Ctrl-D through the terminal ends the REPL.
    s.ok(
        "interact",
        json!({"job_id": id, "input": "\u{4}", "newline": false}),
    )
    .await;
    let st = s.wait_end(&id, 20).await;
    assert_eq!(st["state"], "exited");
}

#[tokio::test]
async fn interact_refuses_jobs_that_cannot_take_input() {
    let s = Server::start().await;
    let r = s
        .ok("execute", json!({"command": "echo done", "wait": 10}))
        .await;
    let e = s
        .err("interact", json!({"job_id": r["job_id"], "input": "x"}))
        .await;
    assert!(e.contains("not running"), "{e}");
    let id = s
        .start_job(json!({"command": "sleep 30", "stdin": "fed"}))
        .await;
    // The initial stdin is written, then closed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while s.ok("status", json!({"job_id": id})).await["stdin_open"] == true {
        assert!(std::time::Instant::now() < deadline, "stdin never closed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let e = s.err("interact", json!({"job_id": id, "input": "x"})).await;
    assert!(e.contains("stdin is closed"), "{e}");
    s.ok("kill", json!({"job_id": id})).await;
}

#[tokio::test]
async fn interact_waits_until_quiet() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "while read l; do echo \"got $l\"; sleep 0.1; echo \"still $l\"; done"}))
        .await;
    let r = s
        .ok(
            "interact",
            json!({"job_id": id, "input": "a", "quiet_ms": 500, "wait_ms": 10000}),
        )
        .await;
    assert_eq!(r["text"], "got a\nstill a\n");
    s.ok("kill", json!({"job_id": id})).await;
}

/// `interact` returns once the job is back at its prompt (blocked reading its stdin), not
/// after a quiet time: with the quiet time set far beyond the wait, only that can end it early.
#[tokio::test]
async fn interact_returns_when_the_job_waits_for_input_again() {
    let s = Server::start().await;
    for (command, pty, input, reply) in [
        ("cat", false, "hello", "hello\n"),
        ("python3 -i -q", false, "print(6 * 7)", "42\n>>> "),
        ("python3 -i -q", true, "print(6 * 7)", "42\n>>> "),
        (
            "read -p 'Continue? [y/N] ' a; echo \"answer $a\"; read -p 'Again? ' b",
            // `read -p` prompts only on a terminal.
            true,
            "y",
            "answer y\nAgain? ",
        ),
    ] {
        let id = s.start_job(json!({"command": command, "pty": pty})).await;
        // The first prompt (or, for cat, a moment to start).
        if command != "cat" {
            s.ok(
                "wait",
                json!({"job_id": id, "until": "(>>> |[?\\]] )$", "timeout": 20}),
            )
            .await;
        }
        let t = std::time::Instant::now();
        let r = s
            .ok(
                "interact",
                json!({"job_id": id, "input": input, "quiet_ms": 60000, "wait_ms": 60000}),
            )
            .await;
        let took = t.elapsed();
        let text = r["text"].as_str().unwrap_or_default();
        assert!(text.ends_with(reply), "{command}: {r}");
        assert!(
            took < Duration::from_secs(20),
            "{command}: took {took:?}: the wait for input was not seen"
        );
        s.ok("kill", json!({"job_id": id})).await;
    }
}

/// A job busy computing after the input is not taken for waiting: the reply comes whole.
#[tokio::test]
async fn a_busy_job_is_not_taken_for_waiting() {
    let s = Server::start().await;
    let id = s.start_job(json!({"command": "python3 -i -q"})).await;
    s.ok(
        "wait",
        json!({"job_id": id, "until": ">>> $", "timeout": 20}),
    )
    .await;
    let r = s
        .ok(
            "interact",
            json!({
                "job_id": id,
                "input": "import time; print('start', flush=True); time.sleep(0.5); sum(range(3000000)); print('done')",
                "quiet_ms": 60000,
                "wait_ms": 30000
            }),
        )
        .await;
    let text = r["text"].as_str().unwrap_or_default();
    assert!(text.contains("start") && text.contains("done\n>>> "), "{r}");
    s.ok("kill", json!({"job_id": id})).await;
}
