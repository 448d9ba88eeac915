//! Streamable HTTP: a bearer token on every request, shared jobs across sessions, and a
//! graceful shutdown that kills the jobs; the front door's checks in `guard`, its limits in
//! `limits`, protocol 2026-07-28 in `stateless`.

mod guard;
mod limits;
mod stateless;

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::support::*;

pub(super) const TOKEN: &str = "test-token-0123456789abcdef";

/// An HTTP server on a free loopback port, with the token `TOKEN` in a private file. Killed on
/// drop (`kill_on_drop`).
struct HttpServer {
    child: tokio::process::Child,
    url: String,
    /// `127.0.0.1:PORT`.
    addr: String,
    _dir: tempfile::TempDir,
}

impl HttpServer {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["serve", "--http", "127.0.0.1:0", "--token-file"])
            .arg(&token)
            .arg("--state-dir")
            .arg(dir.path())
            .args(args);
        Self::spawn(cmd, dir).await
    }

    /// Runs `cmd` (an HTTP server) and waits for its address.
    async fn spawn(mut cmd: tokio::process::Command, dir: tempfile::TempDir) -> Self {
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            let mut said = String::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(u) = line.strip_prefix("mcp-jobs: listening on ") {
                    return u.to_string();
                }
                said.push_str(&line);
                said.push('\n');
            }
            panic!("the server ended without listening: {said}");
        })
        .await
        .unwrap();
        // Keep draining stderr so that the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .to_string();
        Self {
            child,
            url,
            addr,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    async fn client(&self) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        let config =
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()).auth_header(TOKEN);
        let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
        ().serve(transport).await.unwrap()
    }

    /// A POST of `body` with the headers MCP wants and the right token.
    fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.post_as(&format!("Bearer {TOKEN}"), body)
    }

    /// A POST of `body` with the headers MCP wants and `authorization`.
    fn post_as(
        &self,
        authorization: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("Authorization", authorization)
            .body(body)
    }
}

/// An `initialize` request body.
fn initialize() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "1"}}})
    .to_string()
}

async fn call(
    c: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tool: &'static str,
    args: Value,
) -> Value {
    let Value::Object(map) = args else {
        unreachable!()
    };
    let r = c
        .peer()
        .call_tool(CallToolRequestParams::new(tool).with_arguments(map))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
    r.structured_content.unwrap()
}

#[tokio::test]
async fn requests_without_the_token_get_401_and_run_nothing() {
    let s = HttpServer::start().await;
    let http = reqwest::Client::new();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "execute", "arguments": {"command": "touch /tmp/should-not-exist"}}});
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789"),
        Some("Basic dXNlcjpwYXNz"),
    ] {
        let mut req = http
            .post(&s.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{auth:?}");
    }
    let c = s.client().await;
    let l = call(&c, "list", json!({})).await;
    assert_eq!(l["total"], 0, "nothing ran");
}

#[tokio::test]
async fn two_sessions_see_the_same_jobs() {
    let s = HttpServer::start().await;
    let a = s.client().await;
    let b = s.client().await;
    let r = call(&a, "execute", json!({"command": "echo from-a", "wait": 10})).await;
    assert_eq!(r["state"], "exited");
    let id = r["job_id"].as_str().unwrap().to_string();
    let out = call(&b, "output", json!({"job_id": id})).await;
    assert_eq!(out["text"], "from-a\n");
    let l = call(&b, "list", json!({})).await;
    assert_eq!(l["total"], 1);
}

#[tokio::test]
async fn sigterm_stops_the_http_server_and_its_jobs() {
    let mut s = HttpServer::start().await;
    let c = s.client().await;
    let mark = Marker::new("http");
    call(
        &c,
        "execute",
        json!({"command": "sh -c 'sleep 1000 & sleep 1000 & wait'", "env": mark.env()}),
    )
    .await;
    assert!(eventually(Duration::from_secs(10), || mark.alive().len() >= 3).await);
    let pid = s.child.id().unwrap();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(15), s.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(mark.alive().is_empty(), "left alive: {:?}", mark.alive());
}

#[tokio::test]
async fn a_remote_address_needs_allow_remote() {
    let out = tokio::process::Command::new(BIN)
        .args(["serve", "--http", "0.0.0.0:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}
