//! The `mcp-jobs` command: serve MCP (default), or run the guardian.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mcp_jobs::serve::{ServeOptions, serve_stdio};

#[derive(Parser, Debug)]
#[command(
    name = "mcp-jobs",
    version,
    about = "An MCP server that runs shell commands as background jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args, Debug, Clone, Default)]
struct ServeArgs {
    /// Config file (TOML). Default: $XDG_CONFIG_HOME/mcp-jobs/config.toml if it exists.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Policy file (TOML) that decides what may run. Overrides the config's `policy`.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Audit log (JSON lines). Default: audit.jsonl in the state directory.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Directory for job logs. Default: a temporary directory removed at exit.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Jobs running at once; more are queued.
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Bytes of output kept on disk per job (head and tail).
    #[arg(long)]
    log_cap: Option<u64>,
    /// Bytes of recent output kept in memory per job.
    #[arg(long)]
    ring_size: Option<usize>,
    /// Timeout in seconds for jobs that do not set one (0: none).
    #[arg(long)]
    default_timeout: Option<f64>,
    /// Ended jobs remembered before the oldest are forgotten.
    #[arg(long)]
    max_retained: Option<usize>,
    /// Run every local job in a kernel sandbox: `read-only` or `workspace-write` (the
    /// workspace is the policy's `cwd` roots, or the starting directory), with no network.
    /// Combined with a policy's `[sandbox]`, the stricter wins.
    #[arg(long, value_name = "MODE")]
    sandbox: Option<String>,
    /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:8765) instead of stdio, at /mcp.
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    /// File holding the bearer token HTTP clients must send; made (mode 0600, with a new
    /// random token) if it does not exist; refused if others can read it. Default: a new random
    /// token, printed to stderr at start.
    #[arg(long, requires = "http")]
    token_file: Option<PathBuf>,
    /// Allow a non-loopback HTTP address.
    #[arg(long, requires = "http")]
    allow_remote: bool,
    /// A host name HTTP clients may use (checked against the Host header; with --allow-remote).
    #[arg(long, requires = "allow_remote")]
    allowed_host: Vec<String>,
    /// A browser origin allowed besides the loopback ones (`http://localhost:PORT`,
    /// `http://127.0.0.1:PORT`, `http://[::1]:PORT`), as scheme://host[:port]. Requests without
    /// `Origin` are allowed; others get 403.
    #[arg(long, requires = "http", value_name = "ORIGIN")]
    allowed_origin: Vec<String>,
    /// HTTP connections open at once (default 64); more are closed at once.
    #[arg(long, requires = "http", value_name = "N")]
    http_max_connections: Option<usize>,
    /// MCP sessions open at once over HTTP (default 16); more `initialize` calls get 503.
    #[arg(long, requires = "http", value_name = "N")]
    http_max_sessions: Option<usize>,
    /// Seconds a new HTTP connection has to send a complete request head (default 10).
    #[arg(long, requires = "http", value_name = "SECS")]
    http_header_timeout: Option<f64>,
    /// Seconds a kept-alive HTTP connection may wait for its next request (default 60).
    #[arg(long, requires = "http", value_name = "SECS")]
    http_idle_timeout: Option<f64>,
    /// Seconds an MCP session may go without a message before it is closed (default 300).
    #[arg(long, requires = "http", value_name = "SECS")]
    http_session_idle_timeout: Option<f64>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve MCP over stdio (the default).
    Serve(Box<ServeArgs>),
    /// Ask a policy whether a command would be allowed, and why. Exit status: 0 allowed,
    /// 1 refused, 2 bad usage or bad policy file.
    Check {
        /// The policy file (default: the config's, as the server would use).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Config file (TOML): its policy and its hosts' own policies. Default:
        /// $XDG_CONFIG_HOME/mcp-jobs/config.toml if it exists.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The host the command would run on.
        #[arg(long, default_value = "local")]
        host: String,
        /// The working directory the command would run in.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Print the full verdict as JSON.
        #[arg(long)]
        json: bool,
        /// The command line, as one argument.
        command: String,
    },
    /// Show what this machine's kernel can confine, what each sandbox mode would enforce
    /// here, and the sandbox the given config, policy and --sandbox ask for.
    Sandbox {
        /// Config file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Policy file (TOML).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Sandbox mode, as for the server.
        #[arg(long, value_name = "MODE")]
        sandbox: Option<String>,
    },
    /// Internal: the watchdog that kills the jobs of a server that died.
    #[command(name = "__guardian", hide = true)]
    Guardian {
        instance: String,
        /// The jobs' instance cgroup, as `METHOD:PATH`.
        containment: Option<String>,
    },
    /// Internal: a bare MCP server with a no-op tool (the benchmarks' baseline).
    #[command(name = "__noop-server", hide = true)]
    NoopServer,
}

fn main() {
    // Before anything else: a stop signal during start-up must end in a clean shutdown, not in
    // death by the signal (see `signals`).
    if let Err(e) = mcp_jobs::signals::install_early() {
        eprintln!("mcp-jobs: cannot catch stop signals: {e}");
    }
    let cli = Cli::parse();
    if !matches!(cli.command, None | Some(Cmd::Serve(_))) {
        // Only the server shuts down on its own; the other commands stop as commands do.
        let _ = mcp_jobs::signals::restore_default();
    }
    let a = match cli.command {
        Some(Cmd::Guardian {
            instance,
            containment,
        }) => mcp_jobs::guardian::run(&instance, containment.as_deref()),
        Some(Cmd::Check {
            policy,
            config,
            host,
            cwd,
            json,
            command,
        }) => std::process::exit(mcp_jobs::check_cli::run(
            config,
            policy,
            &host,
            cwd.as_deref(),
            json,
            &command,
        )),
        Some(Cmd::Sandbox {
            config,
            policy,
            sandbox,
        }) => std::process::exit(mcp_jobs::sandbox_cli::run(&ServeOptions {
            config,
            policy,
            sandbox,
            ..ServeOptions::default()
        })),
        Some(Cmd::NoopServer) => {
            let code = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(mcp_jobs::noop::serve()))
            {
                Ok(Ok(())) => 0,
                _ => 1,
            };
            std::process::exit(code);
        }
        Some(Cmd::Serve(args)) => *args,
        None => cli.serve,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("mcp_jobs=info,executors=info")
            }),
        )
        .init();
    let opts = ServeOptions {
        config: a.config,
        policy: a.policy,
        audit_log: a.audit_log,
        state_dir: a.state_dir,
        max_concurrent: a.max_concurrent,
        log_cap: a.log_cap,
        ring_size: a.ring_size,
        default_timeout: a.default_timeout,
        max_retained: a.max_retained,
        sandbox: a.sandbox,
        http: a.http.map(|addr| mcp_jobs::http::HttpOptions {
            addr,
            token_file: a.token_file,
            allow_remote: a.allow_remote,
            allowed_hosts: a.allowed_host,
            allowed_origins: a.allowed_origin,
            max_connections: a.http_max_connections,
            max_sessions: a.http_max_sessions,
            header_timeout: a.http_header_timeout,
            idle_timeout: a.http_idle_timeout,
            session_idle_timeout: a.http_session_idle_timeout,
        }),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-jobs: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(serve_stdio(opts)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mcp-jobs: {e:#}");
            1
        }
    };
    // Exit without waiting for the runtime: its blocking stdin reader may never return while the
    // client keeps our stdin open (rust-sdk issue 220).
    std::process::exit(code);
}
