//! The combined stream keeps the order in which a job wrote to its two pipes as far as the
//! server can know it, and `merge_stderr` makes it one pipe, in exact write order.

use serde_json::json;

use crate::support::*;

/// 20,000 lines from bash builtins (unbuffered: one write per line), one of them to stderr.
const ONE_ERROR: &str = "for i in $(seq 1 20000); do if [ $i -eq 12346 ]; then \
echo \"error: boom\" >&2; else echo \"line $i\"; fi; done";

/// With `merge_stderr`, the stderr line is where it was written in every run, however far
/// behind the server is (several jobs at once compete for the CPU).
#[tokio::test]
async fn merged_stderr_keeps_its_place_under_load() {
    let s = Server::start().await;
    for round in 0..5 {
        let mut ids = Vec::new();
        for _ in 0..4 {
            let args = json!({"command": ONE_ERROR, "merge_stderr": true});
            ids.push(s.start_job(args).await);
        }
        for id in &ids {
            s.wait_end(id, 120).await;
            let r = s.ok("output", json!({"job_id": id, "grep": "error"})).await;
            let m = &r["matches"];
            assert_eq!(m.as_array().map(Vec::len), Some(1), "{r}");
            assert_eq!(m[0]["line"], 12346, "round {round}, {id}: {r}");
            assert_eq!(m[0]["text"], "error: boom");
        }
    }
}

/// Over two pipes, the order is known whenever one pipe holds output while the other is empty
/// (here the job waits until the server has read each stream before it switches): stderr is
/// never starved behind stdout, nor put ahead of it, nor does a line of one cut the other's.
#[tokio::test]
async fn two_pipes_keep_the_order_the_reader_can_know() {
    let s = Server::start().await;
    let script = [
        "import fcntl, os, struct, termios, time",
        "def drained(fd):",
        "    while struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'    '))[0]:",
        "        time.sleep(0.0005)",
        "for i in range(1, 20001):",
        "    if i % 1000 == 346:",
        "        drained(1)",
        "        os.write(2, b'error %d\\n' % i)",
        "        drained(2)",
        "    else:",
        "        os.write(1, b'line %d\\n' % i)",
    ]
    .join("\n");
    let id = s
        .start_job(json!({"command": format!("python3 -c \"{script}\"")}))
        .await;
    s.wait_end(&id, 120).await;
    let r = s.ok("output", json!({"job_id": id, "grep": "error"})).await;
    let lines: Vec<u64> = r["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["line"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (0..20).map(|k| k * 1000 + 346).collect();
    assert_eq!(lines, want, "{r}");
}

#[tokio::test]
async fn merge_stderr_is_one_stream_in_write_order() {
    let s = Server::start().await;
    let cmd = "for i in 1 2 3 4 5 6; do if [ $((i % 2)) = 0 ]; then echo \"err $i\" >&2; \
else echo \"out $i\"; fi; done; ls /no/such/file";
    let r = s
        .ok(
            "execute",
            json!({"command": cmd, "merge_stderr": true, "wait": 30}),
        )
        .await;
    assert_eq!(r["state"], "exited", "{r}");
    assert_eq!(r["merge_stderr"], true);
    assert_eq!(r["output"]["stderr_bytes"], 0, "{r}");
    let id = r["job_id"].as_str().unwrap();
    let out = s
        .ok("output", json!({"job_id": id, "stream": "stdout"}))
        .await;
    let text = out["text"].as_str().unwrap();
    assert!(
        text.starts_with("out 1\nerr 2\nout 3\nerr 4\nout 5\nerr 6\nls: "),
        "{text}"
    );
    let st = s.call("status", json!({"job_id": id})).await;
    assert!(
        crate::support::text(&st).contains("merged into stdout"),
        "{}",
        crate::support::text(&st)
    );
    // Without it, the status says nothing of a merge.
    let plain = s
        .ok("execute", json!({"command": "true", "wait": 30}))
        .await;
    assert!(plain.get("merge_stderr").is_none(), "{plain}");
}
