//! `output` and `tail`: cursors, streams, grep, text cleaning, big outputs.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn tail_of_a_million_lines() {
    let s = Server::start().await;
    let id = s.start_job(json!({"command": "seq 1 1000000"})).await;
    s.wait_end(&id, 60).await;
    let t = s.ok("tail", json!({"job_id": id, "lines": 5})).await;
    assert_eq!(t["text"], "999996\n999997\n999998\n999999\n1000000\n");
    assert_eq!(t["lines"], 5);
    // seq 1 1000000 prints 6,888,896 bytes.
    assert_eq!(t["cursor"], 6_888_896);
    let d = s.ok("tail", json!({"job_id": id})).await;
    assert_eq!(d["lines"], 20);
    let g = s
        .ok(
            "tail",
            json!({"job_id": id, "lines": 2, "grep": "^12345.$"}),
        )
        .await;
    assert_eq!(g["text"], "123458\n123459\n");
}

#[tokio::test]
async fn output_pages_through_with_cursors_and_never_consumes() {
    let s = Server::start().await;
    let id = s.start_job(json!({"command": "seq 1 20000"})).await;
    s.wait_end(&id, 30).await;
    let expected: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    let mut got = String::new();
    let mut since = 0u64;
    let mut pages = 0;
    loop {
        let r = s
            .ok(
                "output",
                json!({"job_id": id, "since": since, "max_bytes": 7000}),
            )
            .await;
        let text = r["text"].as_str().unwrap();
        assert!(text.len() <= 7000);
        got.push_str(text);
        since = r["next"].as_u64().unwrap();
        pages += 1;
        if r["eof"] == true {
            break;
        }
        assert!(pages < 100, "no end in sight");
    }
    assert_eq!(got, expected);
    assert!(pages >= 16);
    // Reading again from any cursor gives the same bytes.
    let again = s
        .ok("output", json!({"job_id": id, "since": 6, "max_bytes": 8}))
        .await;
    assert_eq!(again["text"], "4\n5\n6\n7\n");
}

#[tokio::test]
async fn default_reads_are_bounded_and_say_what_is_left() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "head -c 100000 /dev/zero | tr '\\0' 'x'"}))
        .await;
    s.wait_end(&id, 30).await;
    let r = s.call("output", json!({"job_id": id})).await;
    let st = r.structured_content.clone().unwrap();
    assert_eq!(st["text"].as_str().unwrap().len(), 16384);
    assert_eq!(st["remaining_bytes"], 100000 - 16384);
    assert!(
        text(&r).contains("continue with since=16384"),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn grep_returns_matching_lines_with_numbers() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "for i in $(seq 1 300); do echo \"line $i\"; done; echo 'error: boom' >&2"}))
        .await;
    s.wait_end(&id, 30).await;
    let r = s
        .ok(
            "output",
            json!({"job_id": id, "grep": "^line 2[0-9]{2}$|boom"}),
        )
        .await;
    let m = r["matches"].as_array().unwrap();
    assert_eq!(m.len(), 101);
    assert_eq!(m[0]["line"], 200);
    assert_eq!(m[0]["text"], "line 200");
    assert_eq!(m[100]["line"], 301);
    assert_eq!(m[100]["text"], "error: boom");
    let e = s
        .ok(
            "output",
            json!({"job_id": id, "grep": "boom", "stream": "stderr"}),
        )
        .await;
    assert_eq!(e["matches"][0]["line"], 1);
}

#[tokio::test]
async fn invalid_utf8_ansi_and_progress_lines_are_cleaned() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "printf 'bad \\377\\376 ok \\033[1;31mred\\033[0m\\n'; printf '10%%\\r50%%\\r100%%\\ndone\\n'"}))
        .await;
    s.wait_end(&id, 30).await;
    let r = s.ok("output", json!({"job_id": id})).await;
    assert_eq!(r["text"], "bad \u{fffd}\u{fffd} ok red\n100%\ndone\n");
    let raw = s.ok("output", json!({"job_id": id, "raw": true})).await;
    assert!(raw["text"].as_str().unwrap().contains("\u{1b}[1;31mred"));
    assert!(raw["text"].as_str().unwrap().contains("10%\r50%\r100%"));
}

#[tokio::test]
async fn output_can_be_read_while_the_job_runs() {
    let s = Server::start().await;
    let id = s
        .start_job(json!({"command": "echo first; sleep 0.5; echo second; sleep 30"}))
        .await;
    let got_first = s
        .ok(
            "wait",
            json!({"job_id": id, "until": "^first$", "timeout": 10}),
        )
        .await;
    assert_eq!(got_first["jobs"][0]["matched_line"], "first");
    let r = s.ok("output", json!({"job_id": id})).await;
    assert_eq!(r["ended"], false);
    let next = r["next"].as_u64().unwrap();
    s.ok(
        "wait",
        json!({"job_id": id, "until": "second", "timeout": 10}),
    )
    .await;
    let r2 = s.ok("output", json!({"job_id": id, "since": next})).await;
    assert_eq!(r2["text"], "second\n");
    s.ok("kill", json!({"job_id": id})).await;
}

/// A job printing 1 GiB: the server's memory stays bounded and the log is capped.
#[tokio::test]
async fn a_gigabyte_of_output_keeps_memory_and_disk_bounded() {
    let cap: u64 = 4 << 20;
    let s = Server::start_with(&["--log-cap", &cap.to_string()]).await;
    let idle = s.rss_bytes();
    let id = s
        .start_job(json!({"command": "head -c 1073741824 /dev/zero | tr '\\0' 'y'"}))
        .await;
    // Sample the server's RSS while the job prints.
    let pid = s.pid;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(rss_bytes(pid));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let st = s.wait_end(&id, 120).await;
    assert_eq!(st["state"], "exited");
    assert_eq!(st["output"]["total_bytes"], 1u64 << 30);
    assert_eq!(st["output"]["omitted_bytes"], (1u64 << 30) - cap);
    for f in log_files(s.state_dir.path()) {
        assert!(
            std::fs::metadata(&f).unwrap().len() <= cap,
            "{f:?} exceeds the cap"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.await.unwrap().max(s.rss_bytes());
    eprintln!("server RSS idle {idle} B, peak during 1 GiB {peak} B");
    assert!(peak < idle + (32 << 20), "RSS grew from {idle} to {peak}");
    let t = s.ok("tail", json!({"job_id": id, "lines": 1})).await;
    assert!(t["text"].as_str().unwrap().starts_with("yyyy"));
    let head = s.ok("output", json!({"job_id": id, "max_bytes": 10})).await;
    assert_eq!(head["text"], "yyyyyyyyyy");
}
