//! Many jobs on one host over a stock sshd (`MaxSessions 10`): connections opened as needed,
//! jobs queued beyond the limits, and one connection's loss taking only its own jobs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::fixture::{Sshd, children_of, descends_from};
use crate::support::*;

/// `[hosts.NAME]` for the fixture's sshd, with `extra` settings.
pub(super) fn entry(sshd: &Sshd, name: &str, extra: &str) -> String {
    format!(
        "[hosts.{name}]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"root\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\nkeepalive = 1\nconnect_timeout = 5\n{extra}\n",
        sshd.port,
        sshd.path("user_key").display(),
        sshd.path("known_hosts").display()
    )
}

async fn server(sshd: &Sshd, config: &str) -> Arc<Server> {
    let path = sshd.path("fleet.toml");
    std::fs::write(&path, config).unwrap();
    Arc::new(Server::start_with(&["--config", path.to_str().unwrap()]).await)
}

/// Starts `n` jobs at once; `command(i)` is job i's. Returns the `execute` replies, in order.
async fn start_many(
    s: &Arc<Server>,
    n: usize,
    host: &str,
    command: impl Fn(usize) -> String,
) -> Vec<Value> {
    let starts = (0..n).map(|i| {
        let s = Arc::clone(s);
        let args = json!({"command": command(i), "host": host});
        async move { s.ok("execute", args).await }
    });
    futures::future::join_all(starts).await
}

fn ids(replies: &[Value]) -> Vec<String> {
    replies
        .iter()
        .map(|r| r["job_id"].as_str().unwrap().to_string())
        .collect()
}

/// Every job ended `exited` with its own exit code and output.
async fn check_each(s: &Server, ids: &[String]) {
    let r = s
        .ok("wait", json!({"job_ids": ids, "timeout": 120, "lines": 0}))
        .await;
    assert_eq!(r["reason"], "done", "{r}");
    for (i, id) in ids.iter().enumerate() {
        let st = s.ok("status", json!({"job_id": id})).await;
        assert_eq!(st["state"], "exited", "job {i}: {st}");
        assert_eq!(st["exit_code"], i % 7, "job {i}: {st}");
        let out = s.ok("output", json!({"job_id": id})).await;
        assert_eq!(out["text"], format!("job-{i}\n"), "job {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_jobs_on_a_stock_sshd_all_run() {
    let sshd = Sshd::start_with("");
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    // 4 connections (the default) of 10 sessions, less the watchdog's and the kills': 32 run,
    // the others wait for them.
    let replies = start_many(&s, 40, "box", |i| {
        format!("echo job-{i}; sleep 1; exit {}", i % 7)
    })
    .await;
    for r in &replies {
        let state = r["state"].as_str().unwrap();
        assert!(state == "running" || state == "queued", "{r}");
    }
    let queued = replies.iter().filter(|r| r["state"] == "queued").count();
    assert!(
        queued >= 8,
        "{queued} queued: 40 cannot all run on 4 connections"
    );
    let sessions = sshd.sessions().len();
    assert!((1..=4).contains(&sessions), "{sessions} connections");
    check_each(&s, &ids(&replies)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_jobs_run_at_once_on_enough_connections() {
    let sshd = Sshd::start_with("");
    let s = server(&sshd, &entry(&sshd, "box", "max_connections = 6")).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // Each job waits until all forty have started: they can only end if they ran together.
    let replies = start_many(&s, 40, "box", |i| {
        format!(
            "touch {d}/{i}; for k in $(seq 600); do [ $(ls {d} | wc -l) -ge 40 ] && break; sleep 0.05; done; \
[ $(ls {d} | wc -l) -ge 40 ] || exit 99; echo job-{i}; exit {}",
            i % 7
        )
    })
    .await;
    assert!(
        replies.iter().all(|r| r["state"] == "running"),
        "{replies:?}"
    );
    check_each(&s, &ids(&replies)).await;
    assert!(sshd.sessions().len() <= 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_queue_jobs_and_none_fails() {
    let sshd = Sshd::start_with("");
    let config =
        entry(&sshd, "one", "max_connections = 1") + &entry(&sshd, "three", "max_concurrent = 3");
    let s = server(&sshd, &config).await;
    let one = start_many(&s, 12, "one", |i| {
        format!("echo job-{i}; sleep 1; exit {}", i % 7)
    })
    .await;
    let three = start_many(&s, 6, "three", |i| {
        format!("echo job-{i}; sleep 1; exit {}", i % 7)
    })
    .await;
    let queued = |r: &[Value]| r.iter().filter(|r| r["state"] == "queued").count();
    assert_eq!(queued(&one), 4, "8 channels on the one connection: {one:?}");
    // A job waiting for a channel leaves the queue when killed, and never runs.
    let never = tempfile::tempdir().unwrap();
    let ran = never.path().join("ran");
    let r = s
        .ok(
            "execute",
            json!({"command": format!("touch {}", ran.display()), "host": "one"}),
        )
        .await;
    assert_eq!(r["state"], "queued", "{r}");
    let k = s.ok("kill", json!({"job_id": r["job_id"]})).await;
    assert_eq!(k["state"], "killed", "{k}");
    assert_eq!(queued(&three), 3, "max_concurrent = 3: {three:?}");
    assert!(sshd.sessions().len() <= 2, "one connection per host");
    check_each(&s, &ids(&one)).await;
    check_each(&s, &ids(&three)).await;
    assert!(!ran.exists(), "a job killed in the queue ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_takes_only_its_own_jobs() {
    let sshd = Sshd::start_with("");
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    let mark = Marker::new("per-connection");
    let env = mark.env();
    let replies = start_many(&s, 12, "box", |_| {
        format!("E2E_MARK={} sleep 1000", env["E2E_MARK"].as_str().unwrap())
    })
    .await;
    let ids = ids(&replies);
    // Each job's remote process group leader, reported once it started.
    let mut pids = Vec::new();
    for id in &ids {
        let mut pid = None;
        for _ in 0..200 {
            let st = s.ok("status", json!({"job_id": id})).await;
            if let Some(p) = st["pid"].as_i64() {
                pid = Some(p as i32);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pids.push(pid.unwrap_or_else(|| panic!("{id} never reported its process")));
    }
    let sessions = sshd.sessions();
    assert_eq!(
        sessions.len(),
        2,
        "8 jobs on the first connection, 4 on the second"
    );
    let victim = sessions[0];
    let doomed: Vec<bool> = pids.iter().map(|p| descends_from(*p, victim)).collect();
    let n = doomed.iter().filter(|d| **d).count();
    assert!(n == 8 || n == 4, "{n} jobs under the killed connection");
    // The connection's sshd processes (with privilege separation, a monitor and its child;
    // for root here, one), not the session processes under them: the watchdog must live to see
    // its connection go.
    let sshd_process =
        |p: &i32| std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"sshd"));
    let mut victims: Vec<i32> = children_of(victim)
        .into_iter()
        .filter(sshd_process)
        .collect();
    victims.push(victim);
    for p in victims {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    for (id, doomed) in ids.iter().zip(&doomed) {
        if *doomed {
            let st = s.wait_end(id, 30).await;
            assert_eq!(st["state"], "lost", "{st}");
        }
    }
    for (id, doomed) in ids.iter().zip(&doomed) {
        if !doomed {
            let st = s.ok("status", json!({"job_id": id})).await;
            assert_eq!(
                st["state"], "running",
                "the other connection's jobs go on: {st}"
            );
        }
    }
    // The host is still usable: a new job goes to the surviving connection (or a new one).
    let r = s
        .ok(
            "execute",
            json!({"command": "echo again", "host": "box", "wait": 20}),
        )
        .await;
    assert_eq!(r["tail"], "again\n", "{r}");
    for (id, doomed) in ids.iter().zip(&doomed) {
        if !doomed {
            let st = s.ok("kill", json!({"job_id": id, "grace_ms": 500})).await;
            assert_eq!(st["state"], "killed", "{st}");
        }
    }
    // The lost connection's watchdog took its jobs' processes with it.
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left on the host: {:?}",
        mark.alive()
            .iter()
            .map(|p| (
                *p,
                std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default(),
                super::fixture::parent_of(*p)
            ))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_refuses_channels_is_full() {
    // The config claims more sessions than the sshd allows (10): the tenth channel is refused
    // ("Channel open failure"), and the job goes to a new connection instead of failing.
    let sshd = Sshd::start_with("");
    let s = server(&sshd, &entry(&sshd, "box", "max_sessions = 40")).await;
    let replies = start_many(&s, 14, "box", |i| {
        format!("echo job-{i}; sleep 1; exit {}", i % 7)
    })
    .await;
    assert!(
        replies.iter().all(|r| r["state"] == "running"),
        "{replies:?}"
    );
    assert_eq!(
        sshd.sessions().len(),
        2,
        "a second connection took the rest"
    );
    check_each(&s, &ids(&replies)).await;
}

#[tokio::test]
async fn a_host_that_is_down_fails_fast_and_holds_up_no_other() {
    let sshd = Sshd::start_with("");
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = down.local_addr().unwrap().port();
    drop(down);
    let config = entry(&sshd, "box", "")
        + &format!(
            "[hosts.down]\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"root\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n",
            sshd.path("user_key").display(),
            sshd.path("known_hosts").display()
        );
    let s = server(&sshd, &config).await;
    let e = s
        .err("execute", json!({"command": "true", "host": "down"}))
        .await;
    assert!(e.contains("cannot connect"), "{e}");
    let t = std::time::Instant::now();
    let e = s
        .err("execute", json!({"command": "true", "host": "down"}))
        .await;
    assert!(e.contains("not tried again"), "backs off: {e}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let r = s
        .ok(
            "execute",
            json!({"command": "echo up", "host": "box", "wait": 20}),
        )
        .await;
    assert_eq!(r["tail"], "up\n");
}

/// The state of `id`, polled until it is `want` or the deadline passes.
async fn reaches(s: &Server, id: &str, want: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let st = s.ok("status", json!({"job_id": id})).await;
        if st["state"] == want || std::time::Instant::now() >= deadline {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_for_a_full_host_start_in_the_order_they_came() {
    let sshd = Sshd::start_with("");
    let s = server(&sshd, &entry(&sshd, "one", "max_connections = 1")).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // Eight jobs take the connection's eight job channels; each ends when its file appears.
    let blockers = start_many(&s, 8, "one", |i| {
        format!("while [ ! -e {d}/go-{i} ]; do sleep 0.05; done")
    })
    .await;
    assert!(
        blockers.iter().all(|r| r["state"] == "running"),
        "{blockers:?}"
    );
    let mut queued = Vec::new();
    for _ in 0..5 {
        let r = s
            .ok("execute", json!({"command": "sleep 600", "host": "one"}))
            .await;
        assert_eq!(r["state"], "queued", "{r}");
        queued.push(r["job_id"].as_str().unwrap().to_string());
    }
    // One channel frees at a time: the first in line takes it, the others keep waiting.
    for (k, id) in queued.iter().enumerate() {
        std::fs::write(dir.path().join(format!("go-{k}")), "").unwrap();
        let st = reaches(&s, id, "running", Duration::from_secs(15)).await;
        assert_eq!(st["state"], "running", "job {k} in line: {st}");
        for later in &queued[k + 1..] {
            let st = s.ok("status", json!({"job_id": later})).await;
            assert_eq!(st["state"], "queued", "after job {k} started: {st}");
        }
    }
    for id in ids(&blockers).iter().chain(&queued) {
        s.ok("kill", json!({"job_id": id})).await;
    }
}

/// The host's sshd processes (the listener's descendants that are sshd, not the jobs).
fn sshd_processes(sshd: &Sshd) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| descends_from(p, sshd.pid))
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.starts_with("sshd"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_gone_silent_is_noticed_within_a_few_keepalives() {
    let sshd = Sshd::start_with("");
    // keepalive = 1 s: silent for 3 s is gone.
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    let mark = Marker::new("silent");
    let id = s
        .start_job(json!({"command": "sleep 600", "host": "box", "env": mark.env()}))
        .await;
    assert!(eventually(Duration::from_secs(10), || !mark.alive().is_empty()).await);
    // The job's process group reaches the host's watchdog after the job has started: a job
    // that ends after it on the same connection shows it has been sent.
    let r = s
        .ok(
            "execute",
            json!({"command": "true", "host": "box", "wait": 20}),
        )
        .await;
    assert_eq!(r["state"], "exited", "{r}");
    // Stopped, the host's sshd answers nothing while the kernel still acknowledges every TCP
    // segment: what a dropped network or a hung host looks like (no reset ever comes).
    let stopped = sshd_processes(&sshd);
    assert!(!stopped.is_empty());
    for &p in &stopped {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(p, libc::SIGSTOP) };
    }
    let st = reaches(&s, &id, "lost", Duration::from_secs(20)).await;
    assert_eq!(st["state"], "lost", "{st}");
    let why = st["reason"].as_str().unwrap();
    assert!(why.contains("not answered"), "{why}");
    // Back, the host finds the connection closed, and its watchdog kills the job's tree.
    for &p in &stopped {
        // SAFETY: as above.
        unsafe { libc::kill(p, libc::SIGCONT) };
    }
    assert!(
        eventually(Duration::from_secs(15), || mark.alive().is_empty()).await,
        "left: {:?}",
        mark.alive()
    );
    let r = s
        .ok(
            "execute",
            json!({"command": "echo back", "host": "box", "wait": 20}),
        )
        .await;
    assert_eq!(r["tail"], "back\n", "a new connection: {r}");
}

/// A login that writes to stderr before the command runs (a `.bashrc`'s warning) does not hide
/// the job's process group, and a marker line that is not the job's own (no nonce, or another
/// one) is passed on as output and never taken: `kill` stops the job and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_noise_and_false_markers_do_not_fool_kill() {
    // A process group the false markers name: it must survive.
    let mut decoy = decoy_group().await;
    let victim = decoy.id();
    let sshd = Sshd::start_with(&format!(
        "ForceCommand printf 'login noise\\n\\036MCPJOBS-PGID:{victim}\\n\\036MCPJOBS-PGID:0123456789abcdef:{victim}\\n' >&2; eval \"$SSH_ORIGINAL_COMMAND\"\n"
    ));
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    let mark = Marker::new("noisy-login");
    let id = started(&s, "echo started; sleep 600", &mark).await;
    let st = s.ok("status", json!({"job_id": id})).await;
    let pid = st["pid"].as_u64().expect("the job's own group was found") as u32;
    assert_ne!(pid, victim, "{st}");
    let k = s.ok("kill", json!({"job_id": id, "grace_ms": 1000})).await;
    assert_eq!(k["state"], "killed", "{k}");
    assert!(k.get("warning").is_none(), "{k}");
    assert!(
        eventually(Duration::from_secs(10), || mark.alive().is_empty()).await,
        "left: {:?}",
        mark.alive()
    );
    assert!(
        decoy.try_wait().unwrap().is_none(),
        "the group a false marker named was not signalled"
    );
    let err = s
        .ok("output", json!({"job_id": id, "stream": "stderr"}))
        .await;
    let text = err["text"].as_str().unwrap();
    assert!(text.starts_with("login noise\n"), "{text}");
    assert!(
        !text.contains(&format!(":{pid}")),
        "the job's own marker is taken out: {text}"
    );
    let _ = decoy.kill();
    let _ = decoy.wait();
}

/// A remote job starts in its login directory on the host, which the server cannot see: where
/// the host's policy limits the working directory, a job must name an absolute one there.
#[tokio::test]
async fn a_remote_working_directory_must_be_absolute_and_given_under_cwd_limits() {
    let sshd = Sshd::start();
    let policy = sshd.path("cwd-policy.toml");
    std::fs::write(&policy, "default = \"allow\"\ncwd = [\"/tmp\"]\n").unwrap();
    let config = entry(&sshd, "jail", &format!("policy = \"{}\"", policy.display()))
        + &entry(&sshd, "free", "");
    let s = server(&sshd, &config).await;
    let no_cwd = s
        .err("execute", json!({"command": "pwd", "host": "jail"}))
        .await;
    assert!(no_cwd.contains("give `cwd`"), "{no_cwd}");
    let relative = s
        .err(
            "execute",
            json!({"command": "pwd", "host": "jail", "cwd": "tmp"}),
        )
        .await;
    assert!(relative.contains("absolute"), "{relative}");
    // `check` says the same, before anything runs.
    let c = s
        .ok("check", json!({"command": "pwd", "host": "jail"}))
        .await;
    assert_eq!(c["allowed"], false, "{c}");
    // A relative directory means nothing on any remote host.
    let e = s
        .err(
            "execute",
            json!({"command": "pwd", "host": "free", "cwd": "tmp"}),
        )
        .await;
    assert!(e.contains("absolute"), "{e}");
    let r = s
        .ok(
            "execute",
            json!({"command": "pwd", "host": "jail", "cwd": "/tmp", "wait": 20}),
        )
        .await;
    assert_eq!(r["tail"], "/tmp\n", "{r}");
    // Without limits, no `cwd` is the login directory, as with ssh.
    let r = s
        .ok(
            "execute",
            json!({"command": "pwd", "host": "free", "wait": 20}),
        )
        .await;
    assert_eq!(r["state"], "exited", "{r}");
    assert!(r.get("cwd").is_none(), "{r}");
}

/// A process that leaves the job's session on the host (`setsid`) escapes the kill there (no
/// cgroup of ours on a remote host); the job itself still ends when killed, even while that
/// process holds its output open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_remote_job_ends_even_when_an_escaped_process_holds_its_output() {
    let sshd = Sshd::start();
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    let mark = Marker::new("escaped");
    let id = started(&s, "setsid sleep 300 & echo started; sleep 300", &mark).await;
    let k = s.ok("kill", json!({"job_id": id, "grace_ms": 500})).await;
    assert_eq!(k["state"], "killed", "{k}");
    // The escaped process is there still: what the README says a remote kill cannot reach.
    assert!(!mark.alive().is_empty());
    for p in mark.alive() {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// A host that never runs the wrapper (a forced command) gives no process group; what it
/// prints is the job's output all the same, to the last byte, with a pty too.
#[tokio::test]
async fn output_of_a_host_that_never_sends_the_marker_is_kept_whole() {
    let sshd = Sshd::start_with("ForceCommand printf 'restricted: no'; printf ' shell' >&2\n");
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    for pty in [false, true] {
        let r = s
            .ok(
                "execute",
                json!({"command": "echo hi", "host": "box", "pty": pty, "wait": 20}),
            )
            .await;
        assert_eq!(r["state"], "exited", "{r}");
        let out = s.ok("output", json!({"job_id": r["job_id"]})).await;
        let text = out["text"].as_str().unwrap_or("");
        assert!(
            text.contains("restricted: no") && text.contains(" shell"),
            "pty {pty}: {out}"
        );
    }
}

/// Input for a remote job that does not read its stdin is refused once a few MiB wait to be
/// written, instead of piling up in the server.
#[tokio::test]
async fn input_for_a_remote_job_that_does_not_read_is_bounded() {
    let sshd = Sshd::start();
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    let id = s
        .start_job(json!({"command": "sleep 600", "host": "box"}))
        .await;
    let chunk = "x".repeat(1_000_000);
    let mut refused = None;
    for i in 0..20 {
        let r = s
            .call(
                "interact",
                json!({"job_id": id, "input": chunk, "wait_ms": 100}),
            )
            .await;
        let t = text(&r);
        // Refused by the connection, not merely timed out (a timed-out write used to stay
        // queued there, and the next one behind it, without end).
        if t.contains("still wait to be written") {
            refused = Some(i);
            break;
        }
    }
    let i = refused.expect("input was refused at some point");
    // What the channel's window took, and 4 MiB waiting: a few calls.
    assert!((1..=12).contains(&i), "refused at call {i}");
    s.ok("kill", json!({"job_id": id})).await;
}

/// A login file can read the command line, nonce included, and print a marker of its own
/// before the wrapper's: two markers, so neither is trusted; a login that writes more than the
/// search window never lets the marker be seen. Either way `kill` signals no group (the decoy
/// a forged marker names survives) and ends the job by closing its channel, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_marker_or_a_flood_of_login_noise_signals_no_group() {
    let mut decoy = decoy_group().await;
    let victim = decoy.id();
    let dir = tempfile::tempdir().unwrap();
    let forger = dir.path().join("forge.sh");
    std::fs::write(
        &forger,
        format!(
            "n=$(printf %s \"$SSH_ORIGINAL_COMMAND\" | grep -o 'MCPJOBS-PGID:[0-9a-f]*:' | head -1)\n\
             printf '\\036%s%s\\n' \"$n\" {victim} >&2\n\
             eval \"$SSH_ORIGINAL_COMMAND\"\n"
        ),
    )
    .unwrap();
    let flooder = dir.path().join("flood.sh");
    std::fs::write(
        &flooder,
        "head -c 70000 /dev/zero | tr '\\0' x >&2\neval \"$SSH_ORIGINAL_COMMAND\"\n",
    )
    .unwrap();
    for script in [&forger, &flooder] {
        let sshd = Sshd::start_with(&format!("ForceCommand sh {}\n", script.display()));
        let s = server(&sshd, &entry(&sshd, "box", "")).await;
        let mark = Marker::new("forged");
        let id = started(&s, "echo started; sleep 600", &mark).await;
        let k = s.ok("kill", json!({"job_id": id, "grace_ms": 500})).await;
        assert_eq!(k["state"], "killed", "{k}");
        let warning = k["warning"].as_str().unwrap_or("");
        assert!(warning.contains("no group was signalled"), "{k}");
        assert!(
            decoy.try_wait().unwrap().is_none(),
            "the group a forged marker named was not signalled"
        );
        for p in mark.alive() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
    let _ = decoy.kill();
    let _ = decoy.wait();
}

/// A remote job ended by its timeout reads as a local one does: the signal, no exit code (the
/// host's `setsid -w` reports the signal as an exit code).
#[tokio::test]
async fn a_remote_timeout_reports_the_signal_as_a_local_one_does() {
    let sshd = Sshd::start();
    let s = server(&sshd, &entry(&sshd, "box", "")).await;
    for host in ["box", "local"] {
        let r = s
            .ok(
                "execute",
                json!({"command": "sleep 100", "host": host, "timeout": 1, "wait": 30}),
            )
            .await;
        assert_eq!(r["state"], "timed_out", "{host}: {r}");
        assert_eq!(r["signal"], "SIGTERM", "{host}: {r}");
        assert!(r.get("exit_code").is_none(), "{host}: {r}");
    }
}

/// A process group of our own for false markers to name (it must survive them), once its
/// `setsid` has made it a group leader.
async fn decoy_group() -> std::process::Child {
    let decoy = std::process::Command::new("setsid")
        .args(["sleep", "600"])
        .spawn()
        .unwrap();
    let pid = decoy.id();
    assert!(
        eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(") ").next().and_then(|r| r.split(' ').nth(2)) == Some(&pid.to_string())
            })
        })
        .await
    );
    decoy
}

/// Starts `command` (which prints `started`) on `box` with `mark`, and waits until it has.
async fn started(s: &Server, command: &str, mark: &Marker) -> String {
    let id = s
        .start_job(json!({"command": command, "host": "box", "env": mark.env()}))
        .await;
    s.ok(
        "wait",
        json!({"job_id": id, "until": "started", "timeout": 20}),
    )
    .await;
    id
}
