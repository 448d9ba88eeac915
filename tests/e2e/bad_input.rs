//! Hostile or mistaken input: each a clear tool error; the server keeps serving, loses nothing.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn every_bad_input_is_a_clear_tool_error() {
    let s = Server::start().await;
    let keep = s.start_job(json!({"command": "cat"})).await;
    let ended = s
        .ok("execute", json!({"command": "echo x", "wait": 10}))
        .await["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = tempfile::NamedTempFile::new().unwrap();
    let cases: Vec<(&'static str, serde_json::Value, &str)> = vec![
        ("status", json!({"job_id": "j999"}), "unknown job"),
        ("status", json!({"job_id": "banana"}), "unknown job"),
        (
            "output",
            json!({"job_id": keep, "grep": "(unclosed"}),
            "invalid regex",
        ),
        (
            "tail",
            json!({"job_id": keep, "grep": "["}),
            "invalid regex",
        ),
        (
            "wait",
            json!({"job_id": keep, "until": "*", "timeout": 1}),
            "invalid regex",
        ),
        (
            "execute",
            json!({"command": "sleep 1", "timeout": -5}),
            "non-negative",
        ),
        (
            "execute",
            json!({"command": "sleep 1", "timeout": 1e12}),
            "maximum",
        ),
        (
            "execute",
            json!({"command": "sleep 1", "wait": -1}),
            "non-negative",
        ),
        ("execute", json!({"command": ""}), "empty"),
        ("execute", json!({"command": "   "}), "empty"),
        ("execute", json!({"command": "echo a\u{0}b"}), "NUL"),
        (
            "execute",
            json!({"command": "ls", "cwd": "/does/not/exist"}),
            "does not exist",
        ),
        (
            "execute",
            json!({"command": "ls", "cwd": file.path()}),
            "not a directory",
        ),
        (
            "execute",
            json!({"command": "ls", "host": "nowhere"}),
            "unknown host",
        ),
        (
            "execute",
            json!({"command": "ls", "env": {"A=B": "x"}}),
            "not valid",
        ),
        (
            "output",
            json!({"job_id": keep, "max_bytes": 0}),
            "at least 1",
        ),
        (
            "output",
            json!({"job_id": ended, "since": 999999}),
            "past the end",
        ),
        ("tail", json!({"job_id": keep, "lines": 0}), "at least 1"),
        (
            "interact",
            json!({"job_id": ended, "input": "x"}),
            "not running",
        ),
        (
            "interact",
            json!({"job_id": keep, "input": "a\u{0}b"}),
            "NUL",
        ),
        (
            "interact",
            json!({"job_id": keep, "input": "x".repeat(2 << 20)}),
            "limit",
        ),
        (
            "kill",
            json!({"job_id": keep, "signal": "NOPE"}),
            "unknown signal",
        ),
        (
            "kill",
            json!({"job_id": keep, "grace_ms": 1u64 << 40}),
            "grace_ms",
        ),
        ("list", json!({"state": "sleeping"}), "unknown state"),
        ("wait", json!({}), "job_id"),
        ("wait", json!({"job_id": keep, "timeout": 1e9}), "maximum"),
        ("clean", json!({"job_id": "zz"}), "unknown job"),
        (
            "interact",
            json!({"job_id": keep, "input": "x", "wait_ms": 10_000_000_000u64}),
            "the maximum is 120000",
        ),
        (
            "kill",
            json!({"job_id": keep, "grace_ms": 60_001}),
            "at most 60000",
        ),
        ("clean", json!({}), "older_than"),
        ("clean", json!({"all": false}), "older_than"),
        ("list", json!({"limit": 0}), "limit"),
        ("check", json!({"command": ""}), "empty"),
        (
            "check",
            json!({"command": "ls", "host": "nowhere"}),
            "nowhere",
        ),
    ];
    for (tool, args, needle) in cases {
        let e = s.err(tool, args.clone()).await;
        assert!(
            e.to_lowercase().contains(&needle.to_lowercase()),
            "{tool} {args}: error {e:?} does not mention {needle:?}"
        );
    }
    // Still serving, nothing lost: the running job still answers, the ended one still reads.
    let r = s
        .ok("interact", json!({"job_id": keep, "input": "still here"}))
        .await;
    assert_eq!(r["text"], "still here\n");
    let out = s.ok("output", json!({"job_id": ended})).await;
    assert_eq!(out["text"], "x\n");
    let l = s.ok("list", json!({})).await;
    assert!(l["total"].as_u64().unwrap() >= 2);
    s.ok("kill", json!({"job_id": keep})).await;
}

#[tokio::test]
async fn misspelt_arguments_are_errors_that_name_the_right_one() {
    let s = Server::start().await;
    for (tool, args, bad, good) in [
        (
            "execute",
            json!({"command": "sleep 30", "timout": 2, "wait": 4}),
            "timout",
            "timeout",
        ),
        (
            "execute",
            json!({"command": "true", "timeout_ms": 2000}),
            "timeout_ms",
            "timeout",
        ),
        (
            "execute",
            json!({"command": "true", "wait_s": 1}),
            "wait_s",
            "wait",
        ),
        (
            "kill",
            json!({"job_id": "j1", "grace": 0}),
            "grace",
            "grace_ms",
        ),
    ] {
        let e = s.err(tool, args).await;
        assert!(
            e.contains(&format!("unknown argument \"{bad}\""))
                && e.contains(&format!("did you mean \"{good}\"")),
            "{e}"
        );
    }
    // Nothing ran.
    let l = s.ok("list", json!({})).await;
    assert_eq!(l["total"], 0, "{l}");
    let e = s.err("execute", json!({})).await;
    assert!(e.contains("missing argument \"command\""), "{e}");
}

#[tokio::test]
async fn values_sent_as_text_are_accepted_and_wrong_ones_named() {
    let s = Server::start().await;
    // As the Inspector CLI sends them: every value a string.
    let r = s
        .ok(
            "execute",
            json!({"command": "echo hi", "wait": "10", "pty": "false"}),
        )
        .await;
    assert_eq!(r["state"], "exited", "{r}");
    let id = r["job_id"].as_str().expect("id").to_string();
    let t = s.ok("tail", json!({"job_id": id, "lines": "5"})).await;
    assert_eq!(t["text"], "hi\n", "{t}");
    let e = s
        .err("execute", json!({"command": "true", "wait": "five"}))
        .await;
    assert_eq!(e, "\"wait\" must be a number of seconds, got \"five\"");
    let e = s.err("tail", json!({"job_id": id, "lines": -5})).await;
    assert!(e.contains("\"lines\" must be at least 0"), "{e}");
}
