//! Limits: a client that never finishes its request head is dropped, idle connections are
//! closed, a flood of connections cannot starve a connected client or grow the server, and
//! sessions are capped and expire.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{HttpServer, TOKEN, call, initialize};
use crate::support::*;

/// Waits (at most `within`) for the server to close `c`; returns how long that took.
async fn closed_within(c: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((t + within).into(), c.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(t.elapsed()),
            // A response (to a finished request) before the close.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let s = HttpServer::start_with(&["--http-header-timeout", "1"]).await;
    let mut c = TcpStream::connect(&s.addr).await.unwrap();
    c.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let took = closed_within(&mut c, Duration::from_secs(15))
        .await
        .expect("dropped");
    assert!(took >= Duration::from_millis(800), "{took:?}");
    // A connection that sends nothing at all goes the same way.
    let mut quiet = TcpStream::connect(&s.addr).await.unwrap();
    assert!(
        closed_within(&mut quiet, Duration::from_secs(15))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let s = HttpServer::start_with(&["--http-idle-timeout", "1"]).await;
    let mut c = TcpStream::connect(&s.addr).await.unwrap();
    // Answered (DELETE of a session that does not exist: 404 for a client with the token),
    // and the connection kept alive...
    c.write_all(
        format!(
            "DELETE /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nMcp-Session-Id: none\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    // ... until it has been idle for the timeout.
    let took = closed_within(&mut c, Duration::from_secs(15))
        .await
        .expect("closed");
    assert!(took >= Duration::from_millis(800), "{took:?}");
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The attack, scaled down: 2,000 connections that send half a request head and wait.
#[tokio::test]
async fn a_flood_of_half_open_connections_leaves_a_connected_client_served() {
    let s = HttpServer::start_with(&["--http-header-timeout", "30"]).await;
    let pid = s.pid();
    let c = s.client().await;
    call(&c, "list", json!({})).await;
    let (fds_before, rss_before) = (open_fds(pid), rss_bytes(pid));

    let mut flood = Vec::new();
    let mut reset = 0;
    for _ in 0..2000 {
        match TcpStream::connect(&s.addr).await {
            Ok(mut f) => {
                let _ = f
                    .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .await;
                flood.push(f);
            }
            // Accepted and reset by the server before the connect call returned.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => reset += 1,
            Err(e) => panic!("connect: {e}"),
        }
    }
    // The server closes all but the cap's worth at once: the flood's connections see the end.
    let mut still_open = 0;
    for f in &mut flood {
        if closed_within(f, Duration::from_millis(20)).await.is_none() {
            still_open += 1;
        }
    }
    let (fds_during, rss_during) = (open_fds(pid), rss_bytes(pid));
    let r = call(
        &c,
        "execute",
        json!({"command": "echo still-served", "wait": 10}),
    )
    .await;
    assert_eq!(r["state"], "exited", "{r}");
    eprintln!(
        "flood of 2000: {reset} reset while connecting, {} closed at once, {still_open} held; \
         server fds {fds_before} -> {fds_during}, RSS {} -> {} KiB",
        flood.len() - still_open,
        rss_before >> 10,
        rss_during >> 10
    );
    assert!(
        still_open <= 64,
        "{still_open} flood connections still open"
    );
    assert!(
        fds_during <= fds_before + 64 + 8,
        "{fds_before} -> {fds_during}"
    );
    assert!(
        rss_during < rss_before + (32 << 20),
        "RSS {rss_before} -> {rss_during}"
    );
    drop(flood);
    assert!(eventually(Duration::from_secs(10), || open_fds(pid) <= fds_before + 2).await);
}

/// While every connection the cap allows is held by a client that says nothing, a new client
/// takes the place of the oldest of them and is served at once, not after the header timeout.
#[tokio::test]
async fn a_new_client_is_served_while_the_cap_is_full_of_silent_connections() {
    let s = HttpServer::start_with(&["--http-header-timeout", "60", "--http-max-connections", "8"])
        .await;
    let mut silent = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(&s.addr).await.unwrap();
        c.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        silent.push(c);
    }
    // Each of them holds its place.
    for c in &mut silent {
        assert!(closed_within(c, Duration::from_millis(100)).await.is_none());
    }
    let started = Instant::now();
    let c = tokio::time::timeout(Duration::from_secs(20), s.client())
        .await
        .expect("a new client connects while the cap is full");
    let r = call(&c, "execute", json!({"command": "echo served", "wait": 10})).await;
    assert_eq!(r["state"], "exited", "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // The oldest silent connections made room for it.
    let mut closed = 0;
    for c in &mut silent {
        if closed_within(c, Duration::from_millis(200)).await.is_some() {
            closed += 1;
        }
    }
    assert!((1..=8).contains(&closed), "{closed} closed");
    assert!(
        closed_within(&mut silent[0], Duration::from_millis(10))
            .await
            .is_some(),
        "the oldest went first"
    );
}

/// Clients without the token are answered and let go: kept alive, they would hold every place
/// (they sent a request, so they are never displaced) and shut out those with the token.
#[tokio::test]
async fn refused_clients_do_not_keep_their_connections() {
    let s = HttpServer::start_with(&["--http-max-connections", "8"]).await;
    let mut refused = Vec::new();
    for path in [
        "/mcp", "/mcp", "/nothere", "/mcp", "/mcp", "/nothere", "/mcp", "/mcp",
    ] {
        let mut c = TcpStream::connect(&s.addr).await.unwrap();
        c.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
                s.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        refused.push(c);
    }
    for c in &mut refused {
        assert!(
            closed_within(c, Duration::from_secs(10)).await.is_some(),
            "a refused client's connection is closed after the answer"
        );
    }
    let c = tokio::time::timeout(Duration::from_secs(20), s.client())
        .await
        .expect("a client with the token gets in");
    let r = call(&c, "list", json!({})).await;
    assert_eq!(r["total"], 0, "{r}");
}

/// Many `initialize` at once for the last places: each gets a session or a 503, never a 500.
#[tokio::test]
async fn a_race_for_the_last_session_gets_503_not_500() {
    let s = HttpServer::start_with(&["--http-max-sessions", "2"]).await;
    let posts = (0..12).map(|_| async { s.post(initialize()).send().await.unwrap().status() });
    let statuses: Vec<u16> = futures::future::join_all(posts)
        .await
        .into_iter()
        .map(|st| st.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&st| st == 200).count(),
        2,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&st| st == 200 || st == 503),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn sessions_beyond_the_cap_get_503_and_idle_ones_expire() {
    let s = HttpServer::start_with(&[
        "--http-max-sessions",
        "2",
        "--http-session-idle-timeout",
        "2",
    ])
    .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = s.post(initialize()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        ids.push(r.headers()["mcp-session-id"].to_str().unwrap().to_string());
    }
    let r = s.post(initialize()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("too many MCP sessions"), "{msg}");
    // Idle sessions go (rmcp's keep-alive), and their places with them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = s.post(initialize()).send().await.unwrap();
        if r.status().as_u16() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no session expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    let r = s
        .post(ping)
        .header("Mcp-Session-Id", &ids[0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "an expired session is gone");
}
