//! Serving: set up the state directory, the guardian, the executors and the JobManager, serve
//! MCP over stdio, and on the way out kill every job and wait for them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use executors::Executor;
use executors::local::{Containment, LocalExecutor};
use executors::ssh::SshExecutor;
use rmcp::ServiceExt;

use crate::audit::AuditLog;
use crate::config::{ConfigFile, Limits};
use crate::jobs::journal::{self, Journal};
use crate::jobs::manager::HostRules;
use crate::jobs::{HostAddress, JobManager};
use crate::sandbox::Sandbox;
use crate::signals::Stop;
use crate::state_dir::Runs;
use crate::tools::JobServer;
use policies::Policy;
use policies::sandbox::FilesystemMode;

/// How long shutdown may take before the server exits anyway.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(15);
/// How long the final kill of every job's cgroup may wait for them to be empty.
const CGROUP_KILL_DEADLINE: Duration = Duration::from_secs(3);

/// Server options from the command line.
#[derive(Debug, Default, Clone)]
pub struct ServeOptions {
    pub config: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub max_concurrent: Option<usize>,
    pub log_cap: Option<u64>,
    pub ring_size: Option<usize>,
    pub default_timeout: Option<f64>,
    pub max_retained: Option<usize>,
    /// `--sandbox MODE`: run local jobs in that filesystem mode, with no network.
    pub sandbox: Option<String>,
    /// Serve Streamable HTTP instead of stdio.
    pub http: Option<crate::http::HttpOptions>,
}

/// Where job logs live for this run, and whether to delete them at exit.
struct StateDir {
    root: PathBuf,
    jobs: PathBuf,
    /// This run's stand-ins for hidden places (`DIR/sandbox/<run>`), removed at exit.
    scratch: PathBuf,
    /// Set when the directory is temporary (removed at exit).
    temp: Option<tempfile::TempDir>,
}

impl Drop for StateDir {
    fn drop(&mut self) {
        executors::local::remove_scratch(&self.scratch);
    }
}

fn state_dir(explicit: Option<PathBuf>, instance: &str) -> anyhow::Result<StateDir> {
    let (root, temp) = match explicit {
        Some(dir) => (dir, None),
        None => {
            use std::os::unix::fs::PermissionsExt;
            // Made 0700 as it is created: tempfile's default is 0777 less the umask, which
            // would list every job's log name to other users.
            let t = tempfile::Builder::new()
                .prefix("mcp-jobs-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()
                .context("cannot create a temporary state directory")?;
            (t.path().to_owned(), Some(t))
        }
    };
    let jobs = root.join("runs").join(instance);
    crate::state_dir::create_private_dir(&jobs)
        .with_context(|| format!("cannot create the state directory {}", jobs.display()))?;
    if let Ok(m) = std::fs::metadata(&root) {
        use std::os::unix::fs::PermissionsExt;
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            // Made by someone else, or before; its logs are still 0600 and its run directories
            // 0700, but its listing is not private.
            tracing::warn!(
                "the state directory {} has mode {mode:o}: `chmod 700` it to keep job names private",
                root.display()
            );
        }
    }
    let scratch = root.join("sandbox").join(instance);
    Ok(StateDir {
        root,
        jobs,
        scratch,
        temp,
    })
}

/// The config file named by the flags, or the user's, or none.
pub(crate) fn config_file(opts: &ServeOptions) -> anyhow::Result<(ConfigFile, Option<PathBuf>)> {
    let config_path = opts.config.clone().or_else(ConfigFile::default_path);
    let file = match &config_path {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::default(),
    };
    Ok((file, config_path))
}

/// The policy: `--policy`, else the config's `policy` (relative to the config file), else none.
pub(crate) fn policy(
    opts: &ServeOptions,
    file: &ConfigFile,
    config_path: Option<&Path>,
) -> anyhow::Result<Policy> {
    let path = match (&opts.policy, &file.policy) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(p)) if p.is_relative() => Some(
            config_path
                .and_then(Path::parent)
                .map_or_else(|| p.clone(), |dir| dir.join(p)),
        ),
        (None, Some(p)) => Some(p.clone()),
        (None, None) => None,
    };
    match path {
        Some(p) => {
            let policy = Policy::load(&p).map_err(|e| anyhow::anyhow!("bad policy: {e}"))?;
            tracing::info!(policy = %p.display(), "policy loaded");
            Ok(policy)
        }
        None => Ok(Policy::allow_all()),
    }
}

/// The sandbox of local jobs: the policy's `[sandbox]` and `--sandbox` (or the config's
/// `sandbox`), the stricter of them.
pub fn sandbox(
    opts: &ServeOptions,
    file: &ConfigFile,
    policy: &Policy,
    instance: &str,
) -> anyhow::Result<Option<Arc<Sandbox>>> {
    let mode = match opts.sandbox.as_deref().or(file.sandbox.as_deref()) {
        None => None,
        Some(m) => match FilesystemMode::parse(m) {
            // `--sandbox off` adds nothing (a policy's own sandbox still applies).
            Some(FilesystemMode::Off) => None,
            Some(mode) => Some(mode),
            None => anyhow::bail!(
                "the sandbox mode must be {}, not {m:?}",
                FilesystemMode::NAMES
            ),
        },
    };
    Ok(Sandbox::resolve(policy, mode, instance)?.map(Arc::new))
}

/// Builds the manager from the config file and flags.
fn manager(
    opts: &ServeOptions,
    file: &ConfigFile,
    config_path: Option<&Path>,
    instance: &str,
    state: &StateDir,
    containment: &Arc<Containment>,
) -> anyhow::Result<JobManager> {
    let audit_path = opts
        .audit_log
        .clone()
        .or_else(|| file.audit_log.clone())
        .unwrap_or_else(|| state.root.join("audit.jsonl"));
    // What the server trusts is not for jobs to write: its state, its audit log, its config.
    let protect = |mut p: Policy| {
        p.add_protected(&state.root);
        p.add_protected(&audit_path);
        if let Some(c) = config_path {
            p.add_protected(c);
        }
        p
    };
    let policy = Arc::new(protect(policy(opts, file, config_path)?));
    let audit = Arc::new(
        AuditLog::open(&audit_path)
            .with_context(|| format!("cannot open the audit log {}", audit_path.display()))?,
    );
    tracing::info!(audit = %audit_path.display(), "audit log");
    let mut limits = Limits::from_file(&file.limits)?;
    if let Some(n) = opts.max_concurrent {
        anyhow::ensure!(n >= 1, "--max-concurrent must be at least 1");
        limits.max_concurrent = n;
    }
    if let Some(n) = opts.log_cap {
        anyhow::ensure!(n >= 1024, "--log-cap must be at least 1024 bytes");
        limits.log_cap = n;
    }
    if let Some(n) = opts.ring_size {
        anyhow::ensure!(
            (1024..=(64 << 20)).contains(&n),
            "--ring-size must be between 1 KiB and 64 MiB"
        );
        limits.ring_size = n;
    }
    if let Some(t) = opts.default_timeout {
        let d = Duration::try_from_secs_f64(t)
            .context("--default-timeout must be a number of seconds")?;
        limits.default_timeout = (!d.is_zero()).then_some(d);
    }
    if let Some(n) = opts.max_retained {
        limits.max_retained = n;
    }
    let sandbox = sandbox(opts, file, &policy, instance)?;
    let mut local = LocalExecutor::with_scratch(Arc::clone(containment), &scratch_dir(state))
        .context("cannot start the local executor")?;
    if let Some(watcher) = crate::guardian::watcher() {
        local = local.with_watcher(watcher);
    }
    if let Some(s) = &sandbox {
        tracing::info!("local jobs run in a sandbox:\n{}", s.describe());
        let why = match s.spec(&policy, None) {
            Ok(spec) => local.sandbox_support().refusal(&spec),
            Err(why) => Some(why),
        };
        if let Some(why) = why {
            tracing::warn!(
                "the sandbox cannot be enforced here now, so local jobs will be refused: {why}"
            );
        }
    }
    let local: Arc<dyn Executor> = Arc::new(local);
    let mut executors: HashMap<String, Arc<dyn Executor>> = HashMap::new();
    executors.insert("local".into(), local);
    let mut host_rules = HashMap::new();
    let ssh_config = file.ssh_config()?;
    for (name, host) in &file.hosts {
        anyhow::ensure!(name != "local", "a host cannot be called `local`");
        let resolved = match host.resolve(name, ssh_config.as_ref()) {
            Ok(r) => r,
            Err(e) if host.imported => {
                tracing::warn!("the ssh config's host {name} is left out: {e}");
                continue;
            }
            Err(e) => return Err(e),
        };
        let address = HostAddress {
            address: HostAddress::join(&resolved.address, resolved.port),
            user: resolved.user.clone(),
            via: resolved
                .jump
                .as_ref()
                .map(|j| format!("{}@{}", j.user, HostAddress::join(&j.address, j.port))),
            max_sessions: resolved.max_sessions,
            max_connections: resolved.max_connections,
        };
        executors.insert(name.clone(), Arc::new(SshExecutor::new(resolved)));
        let policy = match &host.policy {
            Some(p) => {
                let p = match (p.is_relative(), config_path.and_then(Path::parent)) {
                    (true, Some(dir)) => dir.join(p),
                    _ => p.clone(),
                };
                Some(Arc::new(protect(Policy::load(&p).map_err(|e| {
                    anyhow::anyhow!("bad policy for host {name}: {e}")
                })?)))
            }
            None => None,
        };
        let max_timeout = host
            .max_timeout
            .map(|t| {
                Duration::try_from_secs_f64(t).map_err(|_| {
                    anyhow::anyhow!("hosts.{name}.max_timeout must be a number of seconds")
                })
            })
            .transpose()?;
        host_rules.insert(
            name.clone(),
            HostRules {
                policy,
                max_concurrent: host.max_concurrent,
                max_timeout,
                sandbox_off: host.sandbox_off()?,
                tags: host.checked_tags(name)?,
                address: Some(address),
            },
        );
    }
    let manager = JobManager::new(
        limits,
        policy,
        audit,
        state.jobs.clone(),
        executors,
        host_rules,
        instance.to_string(),
    )
    .with_sandbox(sandbox);
    if state.temp.is_some() {
        // Nothing outlives this run.
        return Ok(manager);
    }
    let runs = Runs::new(state.root.join("runs"));
    let previous = journal::previous_jobs(&runs, instance);
    let journal = Journal::create(&state.jobs)
        .with_context(|| format!("cannot create the job journal in {}", state.jobs.display()))?;
    let manager = manager.with_journal(journal);
    if !previous.jobs.is_empty() {
        tracing::info!(
            jobs = previous.jobs.len(),
            "jobs of earlier runs taken over"
        );
    }
    let read = previous.runs.clone();
    manager.import(previous);
    // Their jobs are in this run's journal now.
    for run in &read {
        journal::remove_journal(&runs, run);
    }
    Ok(manager)
}

/// Serves MCP (stdio, or HTTP with `opts.http`) until the client goes or a signal arrives, then
/// kills every job and returns.
pub async fn serve_stdio(opts: ServeOptions) -> anyhow::Result<()> {
    // First: a signal from now on (or noted since `main` began) stops the server cleanly.
    let mut stop_signal = Stop::listen().context("cannot listen for stop signals")?;
    let instance = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    // A broken config or policy stops the server before anything starts.
    let (file, config_path) = config_file(&opts)?;
    let containment = Arc::new(
        Containment::setup(&instance).context("cannot set up the containment of local jobs")?,
    );
    if containment.root().is_some() {
        tracing::info!("{}", containment.describe());
    } else {
        tracing::warn!("{}", containment.describe());
    }
    // Before the first job, and before the reaper: see `guardian`.
    crate::guardian::start(&instance, &containment).context("cannot start the guardian process")?;
    let state_root = opts.state_dir.clone().or_else(|| file.state_dir.clone());
    let state = state_dir(state_root, &instance)?;
    let manager = Arc::new(manager(
        &opts,
        &file,
        config_path.as_deref(),
        &instance,
        &state,
        &containment,
    )?);
    if let Some(http) = opts.http.clone() {
        let stop = tokio_util::sync::CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            // Awaited outside the log macro, which skips its arguments when the level is off.
            let sig = stop_signal.recv().await;
            tracing::info!("{sig}");
            on_signal.cancel();
        });
        let served = crate::http::serve(Arc::clone(&manager), &http, &file.http, stop).await;
        stop_jobs(&manager, &containment).await;
        drop(state);
        return served;
    }
    tracing::info!(state = %state.jobs.display(), "mcp-jobs serving on stdio");

    let server = JobServer::new(Arc::clone(&manager));
    let handshake = server.serve(crate::stdio::transport());
    let service = tokio::select! {
        s = handshake => s.context("MCP initialisation failed")?,
        sig = stop_signal.recv() => {
            tracing::info!("{sig} before the MCP handshake ended");
            stop_jobs(&manager, &containment).await;
            drop(state);
            return Ok(());
        }
    };
    let stop = service.cancellation_token();
    let waiting = service.waiting();
    tokio::pin!(waiting);
    tokio::select! {
        r = &mut waiting => tracing::info!("client closed the connection: {r:?}"),
        sig = stop_signal.recv() => { tracing::info!("{sig}"); stop.cancel(); }
    }
    stop_jobs(&manager, &containment).await;
    drop(state);
    Ok(())
}

/// This run's private directory for the sandbox's stand-ins (hidden places are bound to them).
fn scratch_dir(state: &StateDir) -> PathBuf {
    state.scratch.clone()
}

/// Kills every job on the way out: each job's tree politely (TERM, then KILL after the grace),
/// then whatever that missed — every process left in the jobs' cgroups (leftovers of ended jobs,
/// escapees), and the orphans re-parented to this server (a child subreaper).
async fn stop_jobs(manager: &JobManager, containment: &Arc<Containment>) {
    if tokio::time::timeout(SHUTDOWN_DEADLINE, manager.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown took too long; exiting anyway (the guardian sweeps what is left)");
    }
    let c = Arc::clone(containment);
    let until = Instant::now() + CGROUP_KILL_DEADLINE;
    match tokio::task::spawn_blocking(move || c.kill_all(until)).await {
        Ok(left) if !left.is_empty() => {
            tracing::warn!(?left, "processes of jobs survived SIGKILL");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("the cgroup kill failed: {e}"),
    }
    let spared: Vec<u32> = crate::guardian::pid().into_iter().collect();
    executors::local::kill_orphans(&spared);
}
