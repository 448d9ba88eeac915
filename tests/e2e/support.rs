//! Test fixtures: a real `mcp-jobs` binary driven by rmcp's client, and helpers to look for
//! processes in /proc and to wait on conditions with deadlines.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

#[path = "../fixtures/procfs.rs"]
mod procfs;
pub use procfs::rss_bytes;

pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-jobs");

/// A running server with a connected client. Killed (with its jobs) on drop.
pub struct Server {
    pub client: Option<RunningService<RoleClient, ()>>,
    pub pid: u32,
    pub state_dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(args: &[&str]) -> Self {
        let state_dir = tempfile::tempdir().expect("tempdir");
        let dir = state_dir.path().to_owned();
        Self::start_in(state_dir, &dir, args).await
    }

    /// A server on the state directory `dir` (which may be an earlier server's).
    pub async fn start_in(state_dir: tempfile::TempDir, dir: &Path, args: &[&str]) -> Self {
        Self::launch(state_dir, dir, args, |_| {}).await
    }

    /// A server started in the working directory `cwd`.
    pub async fn start_at(cwd: &Path, args: &[&str]) -> Self {
        let cwd = cwd.to_owned();
        Self::start_adjusted(args, move |cmd| {
            cmd.current_dir(&cwd);
        })
        .await
    }

    /// A server whose command the caller adjusts first (working directory, environment,
    /// `pre_exec`).
    pub async fn start_adjusted(
        args: &[&str],
        adjust: impl FnOnce(&mut tokio::process::Command),
    ) -> Self {
        let state_dir = tempfile::tempdir().expect("tempdir");
        let dir = state_dir.path().to_owned();
        Self::launch(state_dir, &dir, args, adjust).await
    }

    /// A server on the state directory `dir`, whose command the caller adjusts first.
    pub async fn launch(
        state_dir: tempfile::TempDir,
        dir: &Path,
        args: &[&str],
        adjust: impl FnOnce(&mut tokio::process::Command),
    ) -> Self {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("--state-dir").arg(dir).args(args);
        // No user config file may leak into the tests.
        cmd.env("XDG_CONFIG_HOME", state_dir.path().join("no-config"));
        cmd.env("RUST_LOG", "warn");
        adjust(&mut cmd);
        let transport = TokioChildProcess::new(cmd).expect("spawn mcp-jobs");
        let pid = transport.id().expect("server pid");
        let client = ().serve(transport).await.expect("MCP initialise");
        Self {
            client: Some(client),
            pid,
            state_dir,
        }
    }

    fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.client.as_ref().expect("client is connected").peer()
    }

    /// Calls a tool; returns the raw result.
    pub async fn call(&self, tool: &'static str, args: Value) -> CallToolResult {
        let Value::Object(map) = args else {
            panic!("tool arguments must be an object");
        };
        tokio::time::timeout(
            Duration::from_secs(120),
            self.peer()
                .call_tool(CallToolRequestParams::new(tool).with_arguments(map)),
        )
        .await
        .unwrap_or_else(|_| panic!("{tool} did not answer within 120 s"))
        .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn ok(&self, tool: &'static str, args: Value) -> Value {
        let r = self.call(tool, args.clone()).await;
        assert_ne!(r.is_error, Some(true), "{tool} {args} failed: {}", text(&r));
        r.structured_content
            .unwrap_or_else(|| panic!("{tool} returned no structured content"))
    }

    /// Calls a tool that must fail as a tool error; returns its message.
    pub async fn err(&self, tool: &'static str, args: Value) -> String {
        let r = self.call(tool, args.clone()).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} {args} should have failed: {}",
            text(&r)
        );
        text(&r)
    }

    /// Starts a job and returns its id.
    pub async fn start_job(&self, args: Value) -> String {
        self.ok("execute", args).await["job_id"]
            .as_str()
            .expect("job_id")
            .to_string()
    }

    /// Waits (through the `wait` tool) until a job has ended; returns its status.
    pub async fn wait_end(&self, job: &str, secs: u64) -> Value {
        let r = self
            .ok("wait", json!({"job_id": job, "timeout": secs, "lines": 0}))
            .await;
        assert_eq!(r["reason"], "done", "{job} did not end within {secs}s: {r}");
        r["jobs"][0].clone()
    }

    /// Closes the client's side of the connection (the server reads end of file).
    pub async fn disconnect(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.cancel().await;
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.pid as i32, sig) };
    }

    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL: the guardian then kills whatever jobs are left.
        self.signal(libc::SIGKILL);
    }
}

/// The text content of a result.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls `cond` every 20 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A unique marker to put in a job's environment, so that its processes can be found in /proc
/// whatever group or session they moved to.
pub struct Marker {
    pub value: String,
}

impl Marker {
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Self {
            value: format!("{name}-{}-{nanos}", std::process::id()),
        }
    }

    /// `{"E2E_MARK": value}` for execute's `env`.
    pub fn env(&self) -> Value {
        json!({"E2E_MARK": self.value})
    }

    /// Live (non-zombie) processes carrying the marker.
    pub fn alive(&self) -> Vec<i32> {
        let needle = format!("E2E_MARK={}", self.value);
        let mut found = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return found;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
                continue;
            };
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) && !is_zombie(pid) {
                found.push(pid);
            }
        }
        found
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        // Whatever a failed test left behind.
        for pid in self.alive() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

pub fn is_zombie(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat.get(i + 2..i + 3))
            .is_some_and(|s| s == "Z" || s == "X"),
        Err(_) => true,
    }
}

pub fn alive(pid: u32) -> bool {
    !is_zombie(pid as i32)
}

/// The job log files (`jN.log`) under a state directory.
pub fn log_files(state: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(runs) = std::fs::read_dir(state.join("runs")) else {
        return out;
    };
    for run in runs.flatten() {
        if let Ok(files) = std::fs::read_dir(run.path()) {
            out.extend(
                files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "log")),
            );
        }
    }
    out
}
