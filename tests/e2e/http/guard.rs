//! The front door: `Origin` and request targets, the bearer scheme, the token file, JSON-RPC
//! parse errors and unknown sessions.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{HttpServer, TOKEN, call, initialize};
use crate::support::*;

#[tokio::test]
async fn a_foreign_origin_gets_403_and_loopback_or_none_is_served() {
    let s = HttpServer::start_with(&["--allowed-origin", "https://app.example"]).await;
    let port = s.addr.rsplit(':').next().unwrap().to_string();
    for origin in [
        "http://evil.example",
        "null",
        &format!("http://localhost:{}", port.parse::<u16>().unwrap() + 1),
        &format!("https://127.0.0.1:{port}"),
    ] {
        let r = s
            .post(initialize())
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{origin}");
    }
    for origin in [
        Some(format!("http://localhost:{port}")),
        Some(format!("http://127.0.0.1:{port}")),
        Some(format!("http://[::1]:{port}")),
        Some("https://app.example".to_string()),
        None,
    ] {
        let mut req = s.post(initialize());
        if let Some(o) = &origin {
            req = req.header("Origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{origin:?}");
    }
}

/// Sends `request` on a new connection and returns the status line.
async fn raw(addr: &str, request: &str) -> String {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn an_absolute_target_must_name_this_server() {
    let s = HttpServer::start().await;
    let body = initialize();
    let request = |target: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.addr,
            body.len()
        )
    };
    let evil = raw(&s.addr, &request("http://evil.example/mcp")).await;
    assert!(evil.contains(" 403 "), "{evil}");
    let ours = raw(&s.addr, &request(&format!("http://{}/mcp", s.addr))).await;
    assert!(ours.contains(" 200 "), "{ours}");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = HttpServer::start().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = s
            .post_as(&format!("{scheme} {TOKEN}"), initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{scheme}");
    }
    for wrong in [format!("bearer {TOKEN}x"), format!("bearer{TOKEN}")] {
        let r = s.post_as(&wrong, initialize()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{wrong}");
    }
    // Two headers, one right: ambiguous, refused.
    let r = s
        .post_as("Bearer wrong-0123456789abcdef", initialize())
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn a_token_file_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(["serve", "--http", "127.0.0.1:0", "--token-file"])
            .arg(&token)
            .arg("--state-dir")
            .arg(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("chmod 600 {}", token.display())),
        "{err}"
    );
}

/// The README's quick start, on a machine where `~/.config/mcp-jobs/token` does not exist yet
/// (port 0 instead of 8765, so that tests can run side by side).
#[tokio::test]
async fn the_readme_quick_start_works_as_written() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join(".config/mcp-jobs/token");
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["serve", "--http", "127.0.0.1:0", "--token-file"])
        .arg(&file)
        .env("HOME", home.path());
    let state = tempfile::tempdir().unwrap();
    cmd.arg("--state-dir").arg(state.path());
    let s = HttpServer::spawn(cmd, state).await;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&file).unwrap();
    let r = reqwest::Client::new()
        .post(&s.url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("Authorization", format!("Bearer {}", token.trim()))
        .body(initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn malformed_json_gets_a_parse_error() {
    let s = HttpServer::start().await;
    let deep = "[".repeat(10_000);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "lone surrogate",
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\ud800"}}"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffing\"}".to_vec(),
        ),
        (
            "NaN",
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":NaN}}"#.to_vec(),
        ),
        ("deep nesting", deep.into_bytes()),
        ("truncated", br#"{"jsonrpc":"2.0","id":1,"#.to_vec()),
    ];
    for (what, body) in bodies {
        let r = s.post(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], -32700, "{what}: {v}");
        assert_eq!(v["id"], Value::Null, "{what}");
    }
    let r = s.post(r#"{"id": 7, "hello": 1}"#).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert_eq!(v["id"], 7);
    // The server is still fine.
    let c = s.client().await;
    call(&c, "list", json!({})).await;
}

#[tokio::test]
async fn delete_of_an_unknown_session_is_404() {
    let s = HttpServer::start().await;
    let delete = |id: &str| {
        reqwest::Client::new()
            .delete(&s.url)
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("Mcp-Session-Id", id)
            .send()
    };
    assert_eq!(
        delete("no-such-session").await.unwrap().status().as_u16(),
        404
    );
    let r = s.post(initialize()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    assert!(delete(&id).await.unwrap().status().is_success());
    assert_eq!(delete(&id).await.unwrap().status().as_u16(), 404);
}
