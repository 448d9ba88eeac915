//! Streamable HTTP: the same tools over HTTP, for clients that cannot spawn a process.
//!
//! In front of rmcp's service, in this order: the connection limits (`listener`), the `Host`,
//! request-target and `Origin` checks (`guard`: 403), the bearer token (401), then the checks
//! rmcp leaves out (`messages`: JSON-RPC parse errors, the session cap, unknown sessions). The
//! server binds loopback unless `--allow-remote` is given. All sessions share one JobManager,
//! so a job started in one session is seen by all.

mod guard;
mod listener;
mod messages;
mod sessions;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::config::{HttpFile, defaults};
use crate::jobs::JobManager;
use crate::tools::JobServer;
use guard::Guard;
use listener::ConnectionLimits;
use messages::BodyLimits;
use sessions::Sessions;

/// HTTP serving options from the command line (`None`: the config file's, else the default).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    pub token_file: Option<PathBuf>,
    pub allow_remote: bool,
    /// Extra names clients may use in `Host` (with `allow_remote`).
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins allowed besides the loopback ones.
    pub allowed_origins: Vec<String>,
    pub max_connections: Option<usize>,
    pub max_sessions: Option<usize>,
    /// Seconds.
    pub header_timeout: Option<f64>,
    pub idle_timeout: Option<f64>,
    pub session_idle_timeout: Option<f64>,
}

/// The limits in force: flags over the config file's `[http]` over the defaults.
#[derive(Debug, Clone, Copy)]
struct Limits {
    connections: ConnectionLimits,
    max_sessions: usize,
    session_idle: Duration,
    body: BodyLimits,
}

impl Limits {
    fn resolve(o: &HttpOptions, f: &HttpFile) -> anyhow::Result<Self> {
        let secs = |flag: Option<f64>, key: Option<f64>, default: Duration, name: &str| match flag
            .or(key)
        {
            None => Ok(default),
            Some(s) => Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    anyhow::anyhow!("{name} must be a positive number of seconds, not {s}")
                }),
        };
        let count = |flag: Option<usize>, key: Option<usize>, default: usize, name: &str| {
            let n = flag.or(key).unwrap_or(default);
            anyhow::ensure!(n >= 1, "{name} must be at least 1");
            Ok(n)
        };
        Ok(Self {
            connections: ConnectionLimits {
                max_connections: count(
                    o.max_connections,
                    f.max_connections,
                    defaults::HTTP_MAX_CONNECTIONS,
                    "--http-max-connections (http.max_connections)",
                )?,
                header_timeout: secs(
                    o.header_timeout,
                    f.header_timeout,
                    defaults::HTTP_HEADER_TIMEOUT,
                    "--http-header-timeout (http.header_timeout)",
                )?,
                idle_timeout: secs(
                    o.idle_timeout,
                    f.idle_timeout,
                    defaults::HTTP_IDLE_TIMEOUT,
                    "--http-idle-timeout (http.idle_timeout)",
                )?,
            },
            max_sessions: count(
                o.max_sessions,
                f.max_sessions,
                defaults::HTTP_MAX_SESSIONS,
                "--http-max-sessions (http.max_sessions)",
            )?,
            session_idle: secs(
                o.session_idle_timeout,
                f.session_idle_timeout,
                defaults::HTTP_SESSION_IDLE_TIMEOUT,
                "--http-session-idle-timeout (http.session_idle_timeout)",
            )?,
            body: BodyLimits {
                max_bytes: defaults::HTTP_MAX_BODY,
                timeout: defaults::HTTP_BODY_TIMEOUT,
            },
        })
    }
}

/// What every request passes before rmcp sees it.
struct FrontDoor {
    guard: Guard,
    token: token::Token,
    sessions: Arc<Sessions>,
    body: BodyLimits,
}

async fn front_door(door: Arc<FrontDoor>, req: Request, next: Next) -> Response {
    if let Some(why) = door.guard.refusal(&req) {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    // Exactly one Authorization header: with two, which one counts would be a guess.
    let mut auth = req.headers().get_all(header::AUTHORIZATION).iter();
    let authorized = match (auth.next(), auth.next()) {
        (Some(v), None) => door.token.accepts(v.as_bytes()),
        _ => false,
    };
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response();
    }
    messages::check(&door.sessions, door.body, req, next).await
}

/// Serves until `stop` is cancelled.
pub async fn serve(
    manager: Arc<JobManager>,
    opts: &HttpOptions,
    file: &HttpFile,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let addr = opts.addr;
    if !addr.ip().is_loopback() && !opts.allow_remote {
        anyhow::bail!(
            "{addr} is not a loopback address: pass --allow-remote to serve other machines (and put TLS in front)",
        );
    }
    let limits = Limits::resolve(opts, file)?;
    let token = token::load(opts.token_file.as_deref())?;
    let mut hosts = Guard::loopback_names();
    if opts.allow_remote {
        hosts.push(addr.ip().to_string());
        hosts.extend(opts.allowed_hosts.iter().cloned());
        hosts.extend(file.allowed_hosts.iter().cloned());
    }
    let origins: Vec<String> = opts
        .allowed_origins
        .iter()
        .chain(&file.allowed_origins)
        .cloned()
        .collect();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let guard = Guard::new(bound.port(), &hosts, &origins)?;
    let sessions = Arc::new(Sessions::new(limits.max_sessions, limits.session_idle));
    // rmcp checks `Host` too; `Origin` is checked by the guard, against the bound port.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_max_request_body_bytes(limits.body.max_bytes)
        .with_cancellation_token(stop.child_token());
    let factory_manager = Arc::clone(&manager);
    let service = StreamableHttpService::new(
        move || Ok(JobServer::new(Arc::clone(&factory_manager))),
        Arc::clone(&sessions),
        config,
    );
    let door = Arc::new(FrontDoor {
        guard,
        token,
        sessions,
        body: limits.body,
    });
    let router = axum::Router::new()
        .nest_service("/mcp", service)
        // Behind the front door too: a client without the token learns nothing of paths.
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found\n") })
        .layer(axum::middleware::from_fn(move |req, next| {
            front_door(Arc::clone(&door), req, next)
        }));
    // Machine-readable, for scripts and tests that asked for port 0.
    eprintln!("mcp-jobs: listening on http://{bound}/mcp");
    listener::run(listener, router, limits.connections, stop).await;
    Ok(())
}
