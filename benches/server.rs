//! The mcp-jobs benchmark: the real release server driven over stdio by rmcp's client, next to
//! the machine's own baselines measured in the same run.
//!
//! `cargo bench --bench server` (full, a few minutes) or `cargo bench --bench server -- --smoke`
//! (small sizes, seconds: what CI runs). Figures go to stdout; BENCHMARKS.md explains them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-jobs");

struct Sizes {
    round_trips: usize,
    starts: usize,
    true_jobs: usize,
    capture: u64,
    sleepers: usize,
    retained: usize,
    log: u64,
}

const FULL: Sizes = Sizes {
    round_trips: 2000,
    starts: 300,
    true_jobs: 1000,
    capture: 2 << 30,
    sleepers: 1000,
    retained: 10_000,
    log: 1 << 30,
};

const SMOKE: Sizes = Sizes {
    round_trips: 50,
    starts: 10,
    true_jobs: 20,
    capture: 32 << 20,
    sleepers: 20,
    retained: 50,
    log: 16 << 20,
};

struct Server {
    client: RunningService<RoleClient, ()>,
    pid: u32,
    state: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }
}

impl Server {
    async fn start(args: &[&str]) -> Self {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args).arg("--state-dir").arg(state.path());
        cmd.env("RUST_LOG", "error")
            .env("XDG_CONFIG_HOME", state.path());
        Self::spawn(cmd, state).await
    }

    /// A server started in `cwd`.
    async fn start_at(cwd: &Path, args: &[&str]) -> Self {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args).arg("--state-dir").arg(state.path());
        cmd.env("RUST_LOG", "error")
            .env("XDG_CONFIG_HOME", state.path())
            .current_dir(cwd);
        Self::spawn(cmd, state).await
    }

    async fn noop() -> Self {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("__noop-server");
        Self::spawn(cmd, state).await
    }

    async fn spawn(cmd: tokio::process::Command, state: tempfile::TempDir) -> Self {
        let transport = TokioChildProcess::new(cmd).unwrap();
        let pid = transport.id().unwrap();
        let client = ().serve(transport).await.unwrap();
        Self { client, pid, state }
    }

    async fn call(&self, tool: &'static str, args: Value) -> Value {
        let Value::Object(map) = args else {
            unreachable!()
        };
        let r = self
            .client
            .peer()
            .call_tool(CallToolRequestParams::new(tool).with_arguments(map))
            .await
            .unwrap();
        assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
        r.structured_content.unwrap_or(Value::Null)
    }

    async fn wait_all(&self, ids: &[String]) {
        for chunk in ids.chunks(500) {
            let r = self
                .call(
                    "wait",
                    json!({"job_ids": chunk, "timeout": 3600, "lines": 0}),
                )
                .await;
            assert_eq!(r["reason"], "done");
        }
    }

    fn rss(&self) -> u64 {
        rss(self.pid)
    }

    fn log_file(&self) -> PathBuf {
        let runs = self.state.path().join("runs");
        let run = std::fs::read_dir(runs)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::read_dir(run)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    }
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

fn shell(cmd: &str) -> Duration {
    let t = Instant::now();
    let ok = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "{cmd}");
    t.elapsed()
}

/// `n` round trips of the bare rmcp server's no-op tool: the floor every call is compared to.
async fn noop_round_trips(n: usize) -> Vec<Duration> {
    let bare = Server::noop().await;
    let mut noop = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        bare.client
            .peer()
            .call_tool(CallToolRequestParams::new("noop"))
            .await
            .unwrap();
        noop.push(t.elapsed());
    }
    noop
}

async fn round_trips(z: &Sizes) {
    println!(
        "\n## 1. Tool round trip over stdio ({} calls each)",
        z.round_trips
    );
    let noop = noop_round_trips(z.round_trips).await;
    let s = Server::start(&[]).await;
    for _ in 0..10 {
        s.call("execute", json!({"command": "true"})).await;
    }
    let mut status = Vec::new();
    let mut list = Vec::new();
    for _ in 0..z.round_trips {
        let t = Instant::now();
        s.call("status", json!({"job_id": "j5"})).await;
        status.push(t.elapsed());
        let t = Instant::now();
        s.call("list", json!({})).await;
        list.push(t.elapsed());
    }
    let (n50, n99) = (pct(noop.clone(), 0.5), pct(noop, 0.99));
    let (s50, s99) = (pct(status.clone(), 0.5), pct(status, 0.99));
    let (l50, l99) = (pct(list.clone(), 0.5), pct(list, 0.99));
    println!("| call | p50 | p99 | p50 vs bare rmcp |");
    println!("|---|---|---|---|");
    println!(
        "| bare rmcp no-op tool | {} | {} | 1.00× |",
        us(n50),
        us(n99)
    );
    println!(
        "| `status` | {} | {} | {:.2}× |",
        us(s50),
        us(s99),
        s50.as_secs_f64() / n50.as_secs_f64()
    );
    println!(
        "| `list` (10 jobs) | {} | {} | {:.2}× |",
        us(l50),
        us(l99),
        l50.as_secs_f64() / n50.as_secs_f64()
    );
}

async fn starts(z: &Sizes) {
    println!("\n## 2. Start latency");
    let mut direct = Vec::new();
    for _ in 0..z.starts {
        let t = Instant::now();
        let mut c = Command::new("bash")
            .arg("-c")
            .arg("sleep 0")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        direct.push(t.elapsed());
        c.wait().unwrap();
    }
    let s = Server::start(&["--max-concurrent", "4096"]).await;
    let mut exec = Vec::new();
    for _ in 0..z.starts {
        let t = Instant::now();
        let r = s.call("execute", json!({"command": "sleep 0"})).await;
        exec.push(t.elapsed());
        // `sleep 0` may already have ended by the time the reply is written.
        assert!(r["state"] == "running" || r["state"] == "exited", "{r}");
        // One job at a time, as in the direct loop above: otherwise each start competes for
        // the two cores with the previous jobs' bash start-up (about 1.5 ms of CPU each),
        // which the direct loop never does.
        let id = r["job_id"].as_str().unwrap().to_string();
        s.wait_all(&[id]).await;
    }
    let (d50, d99) = (pct(direct.clone(), 0.5), pct(direct, 0.99));
    let (e50, e99) = (pct(exec.clone(), 0.5), pct(exec, 0.99));
    println!("| | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| `bash -c` spawned directly from Rust | {} | {} |",
        us(d50),
        us(d99)
    );
    println!(
        "| `execute` → running (MCP round trip included) | {} | {} |",
        us(e50),
        us(e99)
    );
    println!("| difference | {} | |", us(e50.saturating_sub(d50)));

    let t = Instant::now();
    for _ in 0..z.true_jobs {
        let ok = Command::new("bash").arg("-c").arg("true").status().unwrap();
        assert!(ok.success());
    }
    let direct_all = t.elapsed();
    let t = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..z.true_jobs {
        let r = s.call("execute", json!({"command": "true"})).await;
        ids.push(r["job_id"].as_str().unwrap().to_string());
    }
    s.wait_all(&ids).await;
    let served_all = t.elapsed();
    println!(
        "\n{} jobs of `true`, started one after another and all ended: {:.2} s through mcp-jobs, {:.2} s as `bash -c true` spawned and waited for directly ({:.2}×).",
        z.true_jobs,
        served_all.as_secs_f64(),
        direct_all.as_secs_f64(),
        served_all.as_secs_f64() / direct_all.as_secs_f64()
    );
}

/// `interact` round trip with `cat` and with `python3 -i` (over a pipe and a pty), next to the
/// bare rmcp no-op round trip with the same client in the same run.
async fn interacts(z: &Sizes) {
    println!("\n## 9. interact round trip ({} calls each)", z.starts);
    let noop = noop_round_trips(z.starts).await;
    let n50 = pct(noop, 0.5);
    let s = Server::start(&[]).await;
    println!("| job | p50 | p99 | p50 vs (3 × no-op + 2 ms) |");
    println!("|---|---|---|---|");
    println!("| bare rmcp no-op tool | {} | | |", us(n50));
    for (command, pty, input, prompt) in [
        ("cat", false, "hello", None),
        ("python3 -i -q", false, "print(6 * 7)", Some(">>> $")),
        ("python3 -i -q", true, "print(6 * 7)", Some(">>> $")),
    ] {
        let r = s
            .call("execute", json!({"command": command, "pty": pty}))
            .await;
        let id = r["job_id"].as_str().unwrap().to_string();
        if let Some(p) = prompt {
            s.call("wait", json!({"job_id": id, "until": p, "timeout": 30}))
                .await;
        }
        let mut times = Vec::new();
        for _ in 0..z.starts {
            let t = Instant::now();
            s.call("interact", json!({"job_id": id, "input": input}))
                .await;
            times.push(t.elapsed());
        }
        let (p50, p99) = (pct(times.clone(), 0.5), pct(times, 0.99));
        let target = n50 * 3 + Duration::from_millis(2);
        println!(
            "| `{command}`{} | {} | {} | {:.2}× |",
            if pty { " (pty)" } else { "" },
            us(p50),
            us(p99),
            p50.as_secs_f64() / target.as_secs_f64()
        );
        s.call("kill", json!({"job_id": id})).await;
    }
}

/// Start latency of each sandbox mode against no sandbox, in the same workspace (a git
/// repository, so that its hooks and config are bound read-only; a hidden directory), the
/// servers taking turns so that drift on the machine hits every mode alike.
async fn sandbox(z: &Sizes) {
    println!("\n## 8. Sandbox start cost");
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::create_dir_all(dir.path().join("secret")).unwrap();
    let git = Command::new("git")
        .args(["init", "-q"])
        .arg(&ws)
        .status()
        .unwrap();
    assert!(git.success());
    let policy = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let hide = format!(
        "hide = [{:?}]\n",
        dir.path().join("secret").display().to_string()
    );
    let modes = [
        ("no sandbox (baseline)", None),
        (
            "network only",
            Some(policy("net.toml", "[sandbox]\nfilesystem = \"off\"\n")),
        ),
        (
            "read-only + hide",
            Some(policy(
                "ro.toml",
                &format!("[sandbox]\nfilesystem = \"read-only\"\n{hide}"),
            )),
        ),
        (
            "workspace-write + hide (git hooks/config bound read-only)",
            Some(policy(
                "ww.toml",
                &format!("[sandbox]\nfilesystem = \"workspace-write\"\n{hide}"),
            )),
        ),
    ];
    let mut servers = Vec::new();
    for (_, p) in &modes {
        let args: Vec<&str> = match p {
            Some(p) => vec!["--policy", p.as_str()],
            None => vec![],
        };
        servers.push(Server::start_at(&ws, &args).await);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    for _ in 0..z.starts {
        for (i, s) in servers.iter().enumerate() {
            let t = Instant::now();
            let r = s.call("execute", json!({"command": "sleep 0"})).await;
            times[i].push(t.elapsed());
            assert!(r["state"] == "running" || r["state"] == "exited", "{r}");
            let id = r["job_id"].as_str().unwrap().to_string();
            s.wait_all(&[id]).await;
        }
    }
    let base = pct(times[0].clone(), 0.5);
    println!("| `execute` → running (MCP round trip included) | p50 | p99 | added p50 |");
    println!("|---|---|---|---|");
    for ((name, _), t) in modes.iter().zip(times) {
        let (p50, p99) = (pct(t.clone(), 0.5), pct(t, 0.99));
        println!(
            "| {name} | {} | {} | {} |",
            us(p50),
            us(p99),
            if p50 >= base {
                us(p50 - base)
            } else {
                format!("-{}", us(base - p50))
            }
        );
    }
}

async fn capture(z: &Sizes) {
    println!(
        "\n## 3. Capture throughput ({} of zeros on stdout)",
        mib(z.capture)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("floor");
    let null = shell(&format!(
        "head -c {} /dev/zero | cat > /dev/null",
        z.capture
    ));
    let to_file = shell(&format!(
        "head -c {} /dev/zero | cat > {}",
        z.capture,
        file.display()
    ));
    std::fs::remove_file(&file).ok();
    let s = Server::start(&[]).await;
    let idle = s.rss();
    let pid = s.pid;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(rss(pid));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        })
    };
    let t = Instant::now();
    let r = s
        .call(
            "execute",
            json!({"command": format!("head -c {} /dev/zero", z.capture), "wait": 3600}),
        )
        .await;
    let served = t.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.await.unwrap();
    assert_eq!(r["state"], "exited");
    assert_eq!(r["output"]["total_bytes"], z.capture);
    let rate = |d: Duration| z.capture as f64 / d.as_secs_f64() / (1 << 20) as f64;
    println!("| pipeline | time | MB/s | mcp-jobs as % of it |");
    println!("|---|---|---|---|");
    println!(
        "| `head \\| cat > /dev/null` | {:.2} s | {:.0} | {:.0}% |",
        null.as_secs_f64(),
        rate(null),
        100.0 * rate(served) / rate(null)
    );
    println!(
        "| `head \\| cat > FILE` (the spool's floor) | {:.2} s | {:.0} | {:.0}% |",
        to_file.as_secs_f64(),
        rate(to_file),
        100.0 * rate(served) / rate(to_file)
    );
    println!(
        "| mcp-jobs `execute` until exited | {:.2} s | {:.0} | |",
        served.as_secs_f64(),
        rate(served)
    );
    println!(
        "\nServer RSS during the capture: idle {}, peak {} (+{}).",
        mib(idle),
        mib(peak),
        mib(peak.saturating_sub(idle))
    );
}

async fn memory(z: &Sizes) {
    println!("\n## 4. Memory");
    let cap = (z.sleepers + z.retained + 100).to_string();
    let s = Server::start(&["--max-concurrent", &cap, "--max-retained", &cap]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = s.rss();
    for _ in 0..z.sleepers {
        s.call("execute", json!({"command": "sleep 3600"})).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_sleepers = s.rss();
    // A SIGKILLed server's jobs are swept by its guardian.
    drop(s);
    let s = Server::start(&["--max-concurrent", &cap, "--max-retained", &cap]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_ended = s.rss();
    let mut ids = Vec::new();
    for _ in 0..z.retained {
        let r = s.call("execute", json!({"command": "true"})).await;
        ids.push(r["job_id"].as_str().unwrap().to_string());
    }
    s.wait_all(&ids).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let with_ended = s.rss();
    println!("| state | server RSS | per job |");
    println!("|---|---|---|");
    println!("| idle | {} | |", mib(idle));
    println!(
        "| {} running `sleep` jobs | {} | {:.1} KiB |",
        z.sleepers,
        mib(with_sleepers),
        with_sleepers.saturating_sub(idle) as f64 / z.sleepers as f64 / 1024.0
    );
    println!(
        "| {} ended jobs retained | {} | {:.1} KiB |",
        z.retained,
        mib(with_ended),
        with_ended.saturating_sub(before_ended) as f64 / z.retained as f64 / 1024.0
    );
}

async fn reads(z: &Sizes) {
    println!("\n## 5. Reads on a {} log", mib(z.log));
    let cap = (z.log * 2).to_string();
    let s = Server::start(&["--log-cap", &cap]).await;
    let cmd = format!(
        "yes 'some build output line with a few words, 0123456789' | head -c {}; echo needle-at-the-end",
        z.log
    );
    let r = s
        .call("execute", json!({"command": cmd, "wait": 3600}))
        .await;
    assert_eq!(r["state"], "exited");
    let log = s.log_file();
    let mut tail = Vec::new();
    let mut middle = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = s.call("tail", json!({"job_id": "j1", "lines": 100})).await;
        tail.push(t.elapsed());
        assert_eq!(r["lines"], 100);
        let t = Instant::now();
        s.call(
            "output",
            json!({"job_id": "j1", "since": z.log / 2, "max_bytes": 16384}),
        )
        .await;
        middle.push(t.elapsed());
    }
    println!("| read | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| `tail` 100 lines | {} | {} |",
        us(pct(tail.clone(), 0.5)),
        us(pct(tail, 0.99))
    );
    println!(
        "| `output` 16 KiB from the middle | {} | {} |",
        us(pct(middle.clone(), 0.5)),
        us(pct(middle, 0.99))
    );

    let t = Instant::now();
    let mut since = 0u64;
    let mut found = 0;
    loop {
        let r = s
            .call(
                "output",
                json!({"job_id": "j1", "since": since, "grep": "needle"}),
            )
            .await;
        found += r["matches"].as_array().map_or(0, Vec::len);
        since = r["next"].as_u64().unwrap();
        if r["eof"] == true {
            break;
        }
    }
    let served = t.elapsed();
    assert_eq!(found, 1);
    let bytes = std::fs::read(&log).unwrap();
    let re = regex::bytes::RegexBuilder::new("needle")
        .multi_line(true)
        .build()
        .unwrap();
    let t = Instant::now();
    let n = re.find_iter(&bytes).count();
    let in_memory = t.elapsed();
    assert_eq!(n, 1);
    let grep = shell(&format!("grep -c needle {} || true", log.display()));
    let rate = |d: Duration| bytes.len() as f64 / d.as_secs_f64() / (1 << 20) as f64;
    println!("\n| grep over the log | time | MB/s |");
    println!("|---|---|---|");
    println!(
        "| mcp-jobs `output` with `grep` (following `next`) | {:.3} s | {:.0} |",
        served.as_secs_f64(),
        rate(served)
    );
    println!(
        "| `regex` crate over the bytes in memory | {:.3} s | {:.0} |",
        in_memory.as_secs_f64(),
        rate(in_memory)
    );
    println!(
        "| `grep -c` on the file | {:.3} s | {:.0} |",
        grep.as_secs_f64(),
        rate(grep)
    );
}

#[path = "../tests/fixtures/procfs.rs"]
mod procfs;
use procfs::rss_bytes as rss;

#[path = "../tests/fixtures/sshd.rs"]
mod sshd_fixture;

/// OpenSSH's client for the fixture's sshd, with the same key and known_hosts as the server's
/// host section, no user config, and `extra` options (multiplexing) before the destination.
fn openssh(sshd: &sshd_fixture::Sshd, extra: &[String], remote: &str) -> Command {
    let mut c = Command::new("ssh");
    c.arg("-F")
        .arg("/dev/null")
        .arg("-p")
        .arg(sshd.port.to_string())
        .arg("-i")
        .arg(sshd.path("user_key"))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            sshd.path("known_hosts").display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(extra)
        .arg("root@127.0.0.1")
        .arg(remote)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn timed(mut c: Command) -> Duration {
    let t = Instant::now();
    let ok = c.status().unwrap();
    let d = t.elapsed();
    assert!(ok.success(), "{c:?}");
    d
}

async fn ssh(z: &Sizes) {
    println!("\n## 7. SSH executor on loopback, next to the local executor and OpenSSH's client");
    if !Path::new("/usr/sbin/sshd").exists() {
        println!("skipped: no /usr/sbin/sshd (apt-get install openssh-server)");
        return;
    }
    let sshd = sshd_fixture::Sshd::start();
    let config = sshd.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[hosts.box]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"root\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n",
            sshd.port,
            sshd.path("user_key").display(),
            sshd.path("known_hosts").display()
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", config.to_str().unwrap()]).await;
    let smoke = z.round_trips < 100;
    let n = if smoke { 10 } else { 50 };
    let bytes: u64 = if smoke { 8 << 20 } else { 1 << 30 };
    // OpenSSH with an already-open multiplexed connection: the master is started first, each
    // timed run is a client that only opens a channel on it.
    let mux = vec![
        "-o".to_string(),
        "ControlMaster=auto".to_string(),
        "-o".to_string(),
        format!("ControlPath={}", sshd.path("mux").display()),
        "-o".to_string(),
        "ControlPersist=60".to_string(),
    ];
    timed(openssh(&sshd, &mux, "true"));
    for _ in 0..5 {
        s.call(
            "execute",
            json!({"command": "true", "host": "box", "wait": 30}),
        )
        .await;
        timed(openssh(&sshd, &mux, "true"));
    }
    // Taking turns, so that drift on the shared machine hits all three alike.
    let mut lat = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..n {
        for (i, host) in ["local", "box"].iter().enumerate() {
            let t = Instant::now();
            let r = s
                .call(
                    "execute",
                    json!({"command": "true", "host": host, "wait": 30}),
                )
                .await;
            lat[i].push(t.elapsed());
            assert_eq!(r["state"], "exited");
        }
        lat[2].push(timed(openssh(&sshd, &mux, "true")));
    }
    let mut exit = mux[..4].to_vec();
    exit.extend(["-O".to_string(), "exit".to_string()]);
    let _ = openssh(&sshd, &exit, "").status();
    let p = |v: &Vec<Duration>, q| pct(v.clone(), q);
    println!(
        "`execute {{command: \"true\", host, wait}}` until exited, {n} runs each, taking turns:\n"
    );
    println!("| | p50 | p90 | p50 vs OpenSSH |");
    println!("|---|---|---|---|");
    for (i, name) in [
        "local",
        "ssh (mcp-jobs)",
        "OpenSSH `ssh -o ControlMaster=auto ... true`, master open",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "| {name} | {} | {} | {:.2}× |",
            us(p(&lat[i], 0.5)),
            us(p(&lat[i], 0.9)),
            p(&lat[i], 0.5).as_secs_f64() / p(&lat[2], 0.5).as_secs_f64()
        );
    }
    // Capture: until `execute ... wait` returns ended, against a plain (non-multiplexed)
    // OpenSSH client writing to /dev/null. Two turns each; the better of each is reported.
    let mb = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    let head = format!("head -c {bytes} /dev/zero");
    let mut best = [f64::MAX; 3];
    for _ in 0..2 {
        for (i, host) in ["local", "box"].iter().enumerate() {
            let t = Instant::now();
            let r = s
                .call(
                    "execute",
                    json!({"command": head, "host": host, "wait": 600}),
                )
                .await;
            let d = t.elapsed();
            assert_eq!(r["output"]["total_bytes"], bytes);
            best[i] = best[i].min(d.as_secs_f64());
        }
        best[2] = best[2].min(timed(openssh(&sshd, &[], &head)).as_secs_f64());
    }
    println!(
        "\nCapture of `{head}` ({}), best of two turns:\n",
        mib(bytes)
    );
    println!("| | MB/s | vs OpenSSH |");
    println!("|---|---|---|");
    for (i, name) in [
        "local",
        "ssh (mcp-jobs)",
        "OpenSSH `ssh host '...' > /dev/null`",
    ]
    .iter()
    .enumerate()
    {
        let d = Duration::from_secs_f64(best[i]);
        println!(
            "| {name} | {:.0} | {:.0}% |",
            mb(d),
            100.0 * best[2] / best[i]
        );
    }
}

fn policy(z: &Sizes) {
    println!("\n## 6. Policy check");
    let p = policies::Policy::from_toml(
        "default = \"deny\"\nallow = [\"cargo\", \"git status\", \"ls\", \"grep\", \"head\"]\ndeny = [\"rm\", \"curl\"]\n",
        "bench.toml",
    )
    .unwrap();
    let n = if z.round_trips < 100 { 200 } else { 100_000 };
    for cmd in [
        "cargo test --workspace",
        "ls -la src/ && grep -rn 'TODO' src | head",
    ] {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(p.check(&policies::CheckRequest::new(cmd)));
        }
        let per = t.elapsed() / n;
        println!(
            "- `{cmd}`: {:.1} µs per check ({:.0} checks/s)",
            per.as_secs_f64() * 1e6,
            1.0 / per.as_secs_f64()
        );
    }
    let long = vec!["cargo build --release --features 'a b c'"; 240].join(" && ");
    let t = Instant::now();
    for _ in 0..(n / 1000).max(5) {
        std::hint::black_box(p.check(&policies::CheckRequest::new(&long)));
    }
    let per = t.elapsed() / (n / 1000).max(5);
    println!(
        "- a {} byte command: {:.0} µs per check",
        long.len(),
        per.as_secs_f64() * 1e6
    );
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name\t: ").map(str::to_string))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# mcp-jobs benchmark\n\nMachine: {cores} cores, {cpu}.");
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let z = if smoke { &SMOKE } else { &FULL };
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    machine();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if want("roundtrip") {
            round_trips(z).await;
        }
        if want("start") {
            starts(z).await;
        }
        if want("capture") {
            capture(z).await;
        }
        if want("memory") {
            memory(z).await;
        }
        if want("reads") {
            reads(z).await;
        }
        if want("ssh") {
            ssh(z).await;
        }
        if want("sandbox") {
            sandbox(z).await;
        }
        if want("interact") {
            interacts(z).await;
        }
    });
    if want("policy") {
        policy(z);
    }
    let _ = Path::new(BIN);
}
