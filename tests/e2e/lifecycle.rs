//! The server's own end: closing stdin, SIGTERM and SIGKILL each leave no job process alive.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

async fn server_with_jobs(mark: &Marker) -> Server {
    let s = Server::start().await;
    for cmd in [
        "sleep 1000",
        "sh -c 'sleep 1000 & sleep 1000 & wait'",
        "setsid sleep 1000 & wait",
        "(setsid sleep 1000 &); sleep 1000",
    ] {
        s.start_job(json!({"command": cmd, "env": mark.env()}))
            .await;
    }
    s.start_job(json!({"command": "python3 -i -q", "pty": true, "env": mark.env()}))
        .await;
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().len() >= 9).await,
        "jobs did not start: {:?}",
        mark.alive()
    );
    s
}

#[tokio::test]
async fn closing_stdin_stops_the_server_and_its_jobs() {
    let mark = Marker::new("eof");
    let mut s = server_with_jobs(&mark).await;
    s.disconnect().await;
    assert!(
        eventually(Duration::from_secs(10), || !alive(s.pid)).await,
        "server still running"
    );
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn sigterm_stops_the_server_and_its_jobs() {
    let mark = Marker::new("term");
    let s = server_with_jobs(&mark).await;
    s.signal(libc::SIGTERM);
    assert!(
        eventually(Duration::from_secs(10), || !alive(s.pid)).await,
        "server still running"
    );
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn sigkill_of_the_server_still_kills_its_jobs() {
    let mark = Marker::new("kill9");
    let s = server_with_jobs(&mark).await;
    s.signal(libc::SIGKILL);
    assert!(eventually(Duration::from_secs(10), || !alive(s.pid)).await);
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left alive: {:?}",
        mark.alive()
    );
}

/// Without the guardian, PR_SET_PDEATHSIG still takes each job's main process with the server.
#[tokio::test]
async fn a_job_dies_with_its_server_even_without_the_guardian() {
    let mark = Marker::new("pdeath");
    let s = Server::start().await;
    // `sleep` is the job's main process (bash execs a lone command).
    s.start_job(json!({"command": "sleep 1000", "env": mark.env()}))
        .await;
    assert!(eventually(Duration::from_secs(10), || mark.alive().len() == 1).await);
    let guardian = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()))
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(") ")
                .next()
                .and_then(|r| r.split(' ').nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            ppid == Some(s.pid) && cmdline.windows(10).any(|w| w == b"__guardian")
        })
        .expect("the server's guardian");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(guardian, libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(5), || is_zombie(guardian)).await);
    s.signal(libc::SIGKILL);
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left alive: {:?}",
        mark.alive()
    );
}

/// A server started again on the same state directory knows the jobs of the one before it:
/// those that were running when it was killed are `lost`, ended ones keep their end and their
/// output, forgotten ones stay forgotten, and new jobs are numbered after them.
#[tokio::test]
async fn a_restarted_server_reports_its_predecessors_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    let first = Server::start_in(tempfile::tempdir().expect("tempdir"), &path, &[]).await;
    let done = first
        .ok(
            "execute",
            json!({"command": "echo finished; echo oops >&2; exit 3", "wait": 10}),
        )
        .await;
    assert_eq!(
        (done["job_id"].as_str(), done["state"].as_str()),
        (Some("j1"), Some("exited"))
    );
    let running = first
        .start_job(json!({"command": "echo started; exec sleep 600"}))
        .await;
    let forgotten = first.start_job(json!({"command": "true"})).await;
    first.wait_end(&forgotten, 10).await;
    first.ok("clean", json!({"job_id": forgotten})).await;
    first
        .ok(
            "wait",
            json!({"job_id": running, "until": "started", "timeout": 10}),
        )
        .await;
    let pid = first.ok("status", json!({"job_id": running})).await["pid"]
        .as_u64()
        .expect("pid") as u32;

    first.signal(libc::SIGKILL);
    // The guardian kills the jobs of a server killed outright.
    assert!(eventually(Duration::from_secs(10), || !alive(pid)).await);
    drop(first);

    let second = Server::start_in(tempfile::tempdir().expect("tempdir"), &path, &[]).await;
    let lost = second.ok("status", json!({"job_id": running})).await;
    assert_eq!(lost["state"], "lost", "{lost}");
    assert!(
        lost["reason"].as_str().unwrap_or("").contains("restarted"),
        "{lost}"
    );
    assert_eq!(lost["command"], "echo started; exec sleep 600");
    let out = second.ok("output", json!({"job_id": running})).await;
    assert_eq!(out["text"], "started\n");

    let ended = second.ok("status", json!({"job_id": "j1"})).await;
    assert_eq!(
        (ended["state"].as_str(), ended["exit_code"].as_i64()),
        (Some("exited"), Some(3))
    );
    let out = second.ok("output", json!({"job_id": "j1"})).await;
    assert_eq!(out["text"], "finished\noops\n");
    assert_eq!(out["eof"], true);
    let found = second
        .ok("output", json!({"job_id": "j1", "grep": "oops"}))
        .await;
    assert_eq!(found["matches"][0]["line"], 2, "{found}");

    let err = second.err("status", json!({"job_id": forgotten})).await;
    assert!(err.contains("unknown job"), "{err}");
    let next = second.ok("execute", json!({"command": "true"})).await;
    assert_eq!(next["job_id"], "j4");
    second.wait_end("j4", 10).await;
    let list = second.ok("list", json!({})).await;
    let ids: Vec<&str> = list["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["job_id"].as_str())
        .collect();
    assert_eq!(ids, ["j4", "j2", "j1"]);

    // The second run took the first one's jobs into its own journal: one journal is left.
    let journals = |root: &std::path::Path| {
        std::fs::read_dir(root.join("runs"))
            .expect("runs")
            .flatten()
            .filter(|d| d.path().join("journal.jsonl").exists())
            .count()
    };
    assert_eq!(journals(&path), 1);
    let mut second = second;
    second.disconnect().await;
    assert!(eventually(Duration::from_secs(10), || !alive(second.pid)).await);
    drop(second);
    let third = Server::start_in(tempfile::tempdir().expect("tempdir"), &path, &[]).await;
    let lost = third.ok("status", json!({"job_id": running})).await;
    assert_eq!(lost["state"], "lost", "{lost}");
    let out = third.ok("output", json!({"job_id": "j1"})).await;
    assert_eq!(out["text"], "finished\noops\n");
    let found = third
        .ok("output", json!({"job_id": "j1", "grep": "oops"}))
        .await;
    assert_eq!(found["matches"][0]["line"], 2, "{found}");
    assert_eq!(
        third.ok("status", json!({"job_id": "j4"})).await["state"],
        "exited"
    );
    // Ids are never reused, even that of the job forgotten in the first run.
    let next = third.ok("execute", json!({"command": "true"})).await;
    assert_eq!(next["job_id"], "j5");
    assert_eq!(journals(&path), 1);
    drop(dir);
}

/// After a clean stop, the jobs the stop killed are `killed` (not `lost`) in the next run, and
/// a log that outgrew its cap reads back as it did: head, omitted middle, tail, line numbers.
#[tokio::test]
async fn a_restart_after_a_clean_stop_reads_capped_logs_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    let args = ["--log-cap", "4096"];
    let mut first = Server::start_in(tempfile::tempdir().expect("tempdir"), &path, &args).await;
    let capped = first
        .ok("execute", json!({"command": "seq 1 5000", "wait": 10}))
        .await;
    assert_eq!(capped["state"], "exited");
    let before = first
        .ok("output", json!({"job_id": "j1", "grep": "^4999$"}))
        .await;
    let sleeper = first.start_job(json!({"command": "sleep 600"})).await;
    first.disconnect().await;
    assert!(eventually(Duration::from_secs(10), || !alive(first.pid)).await);
    drop(first);

    let second = Server::start_in(dir, &path, &args).await;
    let killed = second.ok("status", json!({"job_id": sleeper})).await;
    assert_eq!(killed["state"], "killed", "{killed}");
    let summary = killed["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("the server was shutting down") && !summary.contains("by kill"),
        "{killed}"
    );
    let tail = second.ok("tail", json!({"job_id": "j1", "lines": 2})).await;
    assert_eq!(tail["text"], "4999\n5000\n");
    let head = second.ok("output", json!({"job_id": "j1"})).await;
    assert!(
        head["text"].as_str().unwrap().starts_with("1\n2\n3\n"),
        "{head}"
    );
    assert!(head["omitted_bytes"].as_u64().unwrap() > 10_000, "{head}");
    let after = second
        .ok("output", json!({"job_id": "j1", "grep": "^4999$"}))
        .await;
    assert_eq!(after["matches"], before["matches"], "{after}");
    assert_eq!(after["matches"][0]["line"], 4999);
}

/// A job that appends forged records to its own run's journal — a log path outside the state
/// directory, a run name that climbs out of it, a symlink in place of a log and of a run
/// directory — cannot make the next server read or delete a file outside the state directory.
#[tokio::test]
async fn forged_journal_records_reach_nothing_outside_the_state_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let secret = "SENTINEL-OUTSIDE-THE-STATE-DIR\n";
    // Named as job 7's log would be: the symlinked run `evil` leads to it.
    let sentinel = outside.join("j7.log");
    std::fs::write(&sentinel, secret).unwrap();

    let mut first = Server::start_in(tempfile::tempdir().expect("tempdir"), &state, &[]).await;
    let honest = first
        .ok("execute", json!({"command": "echo honest", "wait": 10}))
        .await;
    assert_eq!(honest["job_id"], "j1");
    let len = secret.len();
    let at = "2026-01-01T00:00:00Z";
    let created = |job: u64, extra: &str| {
        format!(
            r#"{{"event":"created","job":{job},"command":"forged","host":"local","pty":false,"created_at":"{at}","layout":{{"head_cap":1048576,"tail_cap":1048576}}{extra}}}"#
        )
    };
    let ended = |job: u64| {
        format!(
            r#"{{"event":"ended","job":{job},"ended_at":"{at}","ending":{{"state":"exited","code":0}},"usage":null,"output":{{"total":{len},"stdout":{len},"stderr":0,"lines":1}}}}"#
        )
    };
    let log = format!(r#","log":"{}""#, sentinel.display());
    let forged = [
        // An old-style log path to the sentinel.
        created(9, &log),
        ended(9),
        // A symlink to the sentinel in place of its log.
        created(8, ""),
        ended(8),
        // Its run a symlink to the sentinel's directory.
        created(7, r#","run":"evil""#),
        ended(7),
        // A run name that climbs out.
        created(6, &format!(r#","run":"../../outside"{log}"#)),
        ended(6),
    ]
    .join("\n");
    let forger = first
        .ok(
            "execute",
            json!({
                "command": "cd \"$STATE\"/runs/* && printf '%s\\n' \"$FORGED\" >> journal.jsonl \
                            && ln -s \"$OUTSIDE/j7.log\" j8.log && ln -s \"$OUTSIDE\" ../evil",
                "env": {"STATE": state, "OUTSIDE": outside, "FORGED": forged},
                "wait": 10,
            }),
        )
        .await;
    assert_eq!(forger["exit_code"], 0, "{forger}");
    first.disconnect().await;
    assert!(eventually(Duration::from_secs(10), || !alive(first.pid)).await);
    drop(first);

    let second = Server::start_in(tempfile::tempdir().expect("tempdir"), &state, &[]).await;
    let out = second.ok("output", json!({"job_id": "j1"})).await;
    assert_eq!(out["text"], "honest\n");
    for job in ["j6", "j7", "j8", "j9"] {
        for args in [
            json!({"job_id": job}),
            json!({"job_id": job, "grep": "SENT.NEL"}),
            json!({"job_id": job, "since": 0, "stream": "stdout", "max_bytes": 4096}),
        ] {
            let r = second.call("output", args).await;
            let seen = format!("{} {:?}", text(&r), r.structured_content);
            assert!(
                !seen.contains("SENTINEL"),
                "{job} read the sentinel: {seen}"
            );
        }
        let r = second.call("tail", json!({"job_id": job})).await;
        assert!(!text(&r).contains("SENTINEL"), "{job}: {}", text(&r));
    }
    second.ok("clean", json!({"all": true})).await;
    let list = second.ok("list", json!({})).await;
    assert_eq!(list["jobs"].as_array().map(Vec::len), Some(0), "{list}");
    assert_eq!(std::fs::read_to_string(&sentinel).unwrap(), secret);
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing was added to or removed from the outside directory"
    );
    drop(second);
    drop(dir);
}

/// Everything the server makes under its state directory is its user's only: directories 0700,
/// files 0600 (the test runs with the usual umask 022, which would give 0755 and 0644).
#[tokio::test]
async fn the_state_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let holder = tempfile::tempdir().unwrap();
    let root = holder.path().join("state");
    let s = Server::start_in(holder, &root, &[]).await;
    let id = s
        .start_job(json!({"command": "echo private; echo err >&2"}))
        .await;
    s.wait_end(&id, 10).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let runs = root.join("runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    for dir in [&root, &runs, &run] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    let log = run.join(format!("{id}.log"));
    for file in [log, run.join("journal.jsonl"), root.join("audit.jsonl")] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// Claude Code sends SIGINT right after `initialize` when it shuts down: the server must still
/// stop cleanly (exit status 0) and remove its temporary state directory, every time.
#[tokio::test]
async fn sigint_right_after_initialize_exits_cleanly() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "1"}}});
    for round in 0..10 {
        let mut child = tokio::process::Command::new(BIN)
            .env("TMPDIR", tmp.path())
            .env("XDG_CONFIG_HOME", tmp.path().join("no-config"))
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{init}\n").as_bytes())
            .await
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let reply = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(reply.contains("\"result\""), "{reply}");
        // The temporary state directory is private from its creation.
        for entry in std::fs::read_dir(tmp.path()).unwrap().flatten() {
            use std::os::unix::fs::PermissionsExt;
            if entry.file_name().to_string_lossy().starts_with("mcp-jobs-") {
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o700, "{}", entry.path().display());
            }
        }
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) };
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .unwrap()
            .unwrap();
        // stdin stays open until here: the server stopped for the signal, not for end of file.
        drop(stdin);
        assert_eq!(status.code(), Some(0), "round {round}: {status:?}");
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().starts_with("mcp-jobs-"))
            .collect();
        assert!(left.is_empty(), "round {round}: left behind {left:?}");
    }
}

/// Over stdio, a line that is not JSON gets a JSON-RPC parse error (id null) at once, instead
/// of silence that leaves the client waiting for its timeout; the session goes on.
#[tokio::test]
async fn malformed_json_over_stdio_gets_a_parse_error() {
    use std::io::{BufRead, BufReader, Write};
    let state = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .arg("--state-dir")
        .arg(state.path())
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let _reap = Reap(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = || {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a reply within 10 s");
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    let deep = "[".repeat(10_000);
    let bad: Vec<&[u8]> = vec![
        b"{\"a\": NaN}",
        b"{\"x\": \"\\ud800\"}",
        b"\xff\xfe{}",
        deep.as_bytes(),
        b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"",
    ];
    for line in bad {
        stdin.write_all(line).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let r = next();
        assert_eq!(r["error"]["code"], -32700, "{r}");
        assert!(r["id"].is_null(), "{r}");
    }
    // The connection still works.
    let init = json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    writeln!(stdin, "{init}").unwrap();
    stdin.flush().unwrap();
    let r = next();
    assert_eq!(r["id"], 7, "{r}");
    assert!(r["result"]["serverInfo"].is_object(), "{r}");
}

/// A fan-out's group outlives its server: the next run on the same state directory finds its
/// jobs by the group id, and numbers new groups after it.
#[tokio::test]
async fn a_restarted_server_knows_its_predecessors_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    let mut first = Server::start_in(tempfile::tempdir().expect("tempdir"), &path, &[]).await;
    let g = first
        .ok(
            "execute",
            json!({"command": "exit 4", "hosts": ["local"], "wait": 10}),
        )
        .await;
    assert_eq!(g["group_id"], "g1", "{g}");
    first.disconnect().await;
    assert!(eventually(Duration::from_secs(10), || !alive(first.pid)).await);
    drop(first);

    let second = Server::start_in(tempfile::tempdir().expect("tempdir"), &path, &[]).await;
    let st = second.ok("status", json!({"group": "g1"})).await;
    assert_eq!(st["jobs"][0]["job_id"], g["jobs"][0]["job_id"], "{st}");
    assert_eq!(st["jobs"][0]["exit_code"], 4, "{st}");
    let next = second
        .ok("execute", json!({"command": "true", "hosts": ["local"]}))
        .await;
    assert_eq!(next["group_id"], "g2", "{next}");
    second
        .ok("wait", json!({"group": "g2", "timeout": 10}))
        .await;
    drop(dir);
}
