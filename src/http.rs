//! Streamable HTTP: the same tools over HTTP, for clients that cannot spawn a process.
//!
//! Every request needs `Authorization: Bearer TOKEN` (401 otherwise, before any MCP handling).
//! The server binds loopback unless `--allow-remote` is given, and checks `Host` (DNS
//! rebinding) and `Origin` headers. All sessions share one JobManager, so a job started in one
//! session is seen by all.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::jobs::JobManager;
use crate::tools::JobServer;

/// HTTP serving options.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    pub token_file: Option<std::path::PathBuf>,
    pub allow_remote: bool,
    /// Extra names clients may use in `Host` (with `allow_remote`).
    pub allowed_hosts: Vec<String>,
}

/// The bearer token: from the file, or a new random one printed to stderr.
pub fn token(file: Option<&Path>) -> anyhow::Result<String> {
    if let Some(f) = file {
        let t = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the token file {}", f.display()))?;
        let t = t.trim().to_string();
        anyhow::ensure!(
            t.len() >= 16,
            "the token in {} is shorter than 16 characters",
            f.display()
        );
        return Ok(t);
    }
    let mut bytes = [0u8; 24];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    let t: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    eprintln!("mcp-jobs: bearer token for this server: {t}");
    Ok(t)
}

/// Constant-time comparison, so that the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(token: Arc<String>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if same(t.as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response(),
    }
}

/// Serves until `stop` is cancelled.
pub async fn serve(
    manager: Arc<JobManager>,
    opts: &HttpOptions,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    if !opts.addr.ip().is_loopback() && !opts.allow_remote {
        anyhow::bail!(
            "{} is not a loopback address: pass --allow-remote to serve other machines (and put TLS in front)",
            opts.addr
        );
    }
    let token = Arc::new(token(opts.token_file.as_deref())?);
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if opts.allow_remote {
        hosts.push(opts.addr.ip().to_string());
        hosts.extend(opts.allowed_hosts.iter().cloned());
    }
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_cancellation_token(stop.child_token());
    let factory_manager = Arc::clone(&manager);
    let service = StreamableHttpService::new(
        move || Ok(JobServer::new(Arc::clone(&factory_manager))),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(move |req, next| {
                require_token(Arc::clone(&token), req, next)
            }));
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {}", opts.addr))?;
    let bound = listener.local_addr()?;
    // Machine-readable, for scripts and tests that asked for port 0.
    eprintln!("mcp-jobs: listening on http://{bound}/mcp");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled_owned().await })
        .await
        .context("the HTTP server failed")?;
    Ok(())
}
