//! `output` that leads somewhere: each `grep` match carries its cursor, `context` shows the
//! lines around it, and `line`/`lines` read by line number.

use serde_json::json;

use crate::support::*;

/// 300 lines on stdout with one error on stderr after line 150 (written once the server has
/// read all of stdout, and stdout goes on once it has read the error: two pipes' order is then
/// known); returns the ended job's id.
async fn job(s: &Server) -> String {
    let script = "import fcntl, os, struct, termios, time\n\
def drained(fd):\n    while struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'    '))[0]:\n        time.sleep(0.001)\n\
for i in range(1, 301):\n    os.write(1, b'line %d\\n' % i)\n    if i == 150:\n        drained(1)\n        os.write(2, b'error: boom\\n')\n        drained(2)\n";
    let id = s
        .start_job(json!({"command": format!("python3 -c \"{script}\"")}))
        .await;
    s.wait_end(&id, 30).await;
    id
}

#[tokio::test]
async fn a_match_cursor_reads_on_from_the_matched_line() {
    let s = Server::start().await;
    let id = job(&s).await;
    let g = s.ok("output", json!({"job_id": id, "grep": "boom"})).await;
    let m = &g["matches"][0];
    assert_eq!(
        (m["line"].as_u64(), m["text"].as_str()),
        (Some(151), Some("error: boom"))
    );
    assert!(g.get("text").is_none(), "the matches say it all: {g}");
    let cursor = m["cursor"].as_u64().unwrap();
    let r = s
        .ok(
            "output",
            json!({"job_id": id, "since": cursor, "max_bytes": 24}),
        )
        .await;
    assert_eq!(r["text"], "error: boom\nline 151\nlin");
    // The cursor of a one-stream match leads to it in that stream too.
    let g = s
        .ok("output", json!({"job_id": id, "grep": "^line 20$"}))
        .await;
    let cursor = g["matches"][0]["cursor"].as_u64().unwrap();
    let r = s
        .ok(
            "output",
            json!({"job_id": id, "since": cursor, "stream": "stdout", "lines": 2}),
        )
        .await;
    assert_eq!(r["text"], "line 20\nline 21\n");
    assert_eq!(r["line"], 20);
}

#[tokio::test]
async fn context_shows_the_lines_around_each_match_once() {
    let s = Server::start().await;
    let id = job(&s).await;
    let g = s
        .ok(
            "output",
            json!({"job_id": id, "grep": "boom|^line 152$", "context": 2}),
        )
        .await;
    let m = g["matches"].as_array().unwrap();
    assert_eq!(m.len(), 2, "{g}");
    assert_eq!(m[0]["before"], json!(["line 149", "line 150"]));
    // The next match's line is not repeated as context.
    assert_eq!(m[0]["after"], json!(["line 151"]));
    assert_eq!(m[1]["line"], 153);
    assert!(m[1].get("before").is_none(), "{g}");
    assert_eq!(m[1]["after"], json!(["line 153", "line 154"]));
    // One stream alone: its own neighbours and line numbers.
    let e = s
        .ok(
            "output",
            json!({"job_id": id, "grep": "^line 1$", "context": 3, "stream": "stdout"}),
        )
        .await;
    let m = &e["matches"][0];
    assert!(m.get("before").is_none());
    assert_eq!(m["after"], json!(["line 2", "line 3", "line 4"]));
    let t = s
        .call(
            "output",
            json!({"job_id": id, "grep": "boom", "context": 1}),
        )
        .await;
    assert!(
        text(&t).contains("150- line 150\n151: error: boom"),
        "{}",
        text(&t)
    );
}

#[tokio::test]
async fn output_reads_by_line_number() {
    let s = Server::start().await;
    let id = job(&s).await;
    let r = s
        .ok("output", json!({"job_id": id, "line": 150, "lines": 3}))
        .await;
    assert_eq!(r["text"], "line 150\nerror: boom\nline 151\n");
    assert_eq!(r["line"], 150);
    let next = r["next"].as_u64().unwrap();
    let more = s
        .ok("output", json!({"job_id": id, "since": next, "lines": 1}))
        .await;
    assert_eq!(more["text"], "line 152\n");
    assert_eq!(more["line"], 153);
    // Line numbers of one stream alone.
    let e = s
        .ok(
            "output",
            json!({"job_id": id, "line": 151, "lines": 1, "stream": "stdout"}),
        )
        .await;
    assert_eq!(e["text"], "line 151\n");
    // To the end.
    let last = s.ok("output", json!({"job_id": id, "line": 300})).await;
    assert_eq!(last["text"], "line 299\nline 300\n");
    assert_eq!(last["eof"], true);
}

#[tokio::test]
async fn line_arguments_that_do_not_fit_are_refused() {
    let s = Server::start().await;
    let id = job(&s).await;
    for (args, says) in [
        (json!({"line": 3, "since": 0}), "not both"),
        (json!({"line": 0}), "1-based"),
        (json!({"line": 302}), "301 line(s) so far"),
        (json!({"lines": 0}), "at least 1"),
        (json!({"lines": 10001}), "at most 10000"),
        (json!({"lines": 2, "grep": "x"}), "use `context`"),
        (json!({"context": 2}), "give `grep` too"),
        (json!({"grep": "x", "context": 51}), "at most 50"),
        (json!({"grep": "x", "contex": 5}), "context"),
    ] {
        let mut args = args;
        args["job_id"] = json!(id);
        let e = s.err("output", args.clone()).await;
        assert!(e.contains(says), "{args}: {e}");
    }
}
