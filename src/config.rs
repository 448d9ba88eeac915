//! Configuration: the TOML file, overridden by flags, resolved into [`Settings`]. Every default
//! and every hard bound lives in [`defaults`] and [`bounds`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Defaults, used when neither the config file nor a flag says otherwise.
pub mod defaults {
    use std::time::Duration;
    /// Jobs running at once; more are queued.
    pub const MAX_CONCURRENT: usize = 256;
    /// Longest `timeout` a job may ask for.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
    /// Bytes of output kept on disk per job (half head, half tail).
    pub const LOG_CAP: u64 = 64 << 20;
    /// Bytes of recent output kept in memory per job.
    pub const RING_SIZE: usize = 64 << 10;
    /// Ended jobs remembered before the oldest are forgotten.
    pub const MAX_RETAINED: usize = 1000;
    /// Time between the polite signal and SIGKILL.
    pub const KILL_GRACE: Duration = Duration::from_secs(3);
}

/// Hard bounds on what a tool call may ask for.
pub mod bounds {
    /// Default and largest size of one response's text.
    pub const DEFAULT_MAX_BYTES: usize = 16 << 10;
    pub const MAX_MAX_BYTES: usize = 1 << 20;
    /// Largest `input` for `interact` and `stdin` for `execute`.
    pub const MAX_INPUT: usize = 1 << 20;
    /// Largest command string.
    pub const MAX_COMMAND: usize = 128 << 10;
    /// Longest a `wait` (or `execute` with `wait`) may wait, in seconds.
    pub const MAX_WAIT_SECS: f64 = 3600.0;
    /// Default `wait` timeout, in seconds.
    pub const DEFAULT_WAIT_SECS: f64 = 30.0;
    /// Longest `interact` wait, and its default, in milliseconds.
    pub const MAX_INTERACT_MS: u64 = 600_000;
    pub const DEFAULT_INTERACT_MS: u64 = 2_000;
    /// Silence after which `interact` returns, in milliseconds.
    pub const DEFAULT_QUIET_MS: u64 = 300;
    /// Longest kill grace, in milliseconds.
    pub const MAX_GRACE_MS: u64 = 600_000;
    /// Largest `lines` for `tail`, and its default.
    pub const MAX_TAIL_LINES: usize = 10_000;
    pub const DEFAULT_TAIL_LINES: usize = 20;
    /// Largest label.
    pub const MAX_LABEL: usize = 200;
    /// Most rows `list` returns.
    pub const MAX_LIST: usize = 1000;
    pub const DEFAULT_LIST: usize = 100;
    /// Most matches one `output` with `grep` returns.
    pub const MAX_MATCHES: usize = 1000;
    /// Most lines of `grep` context on each side of a match.
    pub const MAX_CONTEXT: u64 = 50;
}

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub policy: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    /// The kernel sandbox for local jobs: "off", "read-only" or "workspace-write" (with no
    /// network); combined with a policy's `[sandbox]`, the stricter wins.
    pub sandbox: Option<String>,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub hosts: BTreeMap<String, HostFile>,
}

/// `[limits]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub max_concurrent: Option<usize>,
    /// Seconds; 0 means none.
    pub default_timeout: Option<f64>,
    pub max_timeout: Option<f64>,
    pub log_cap_bytes: Option<u64>,
    pub ring_bytes: Option<usize>,
    pub max_retained: Option<usize>,
    pub kill_grace_ms: Option<u64>,
}

/// `[hosts.NAME]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    pub address: String,
    pub port: Option<u16>,
    pub user: String,
    pub identity_file: Option<PathBuf>,
    #[serde(default)]
    pub agent: bool,
    pub known_hosts: Option<PathBuf>,
    /// Environment variable holding the key's passphrase.
    pub passphrase_env: Option<String>,
    /// Seconds to wait for the connection and handshake (default 10).
    pub connect_timeout: Option<f64>,
    /// Seconds between keepalives; a dead connection is noticed within about twice this
    /// (default 5).
    pub keepalive: Option<f64>,
    /// A policy file for this host only (instead of the server's).
    pub policy: Option<PathBuf>,
    /// Jobs at once on this host.
    pub max_concurrent: Option<usize>,
    /// Longest `timeout` a job on this host may ask for, in seconds.
    pub max_timeout: Option<f64>,
    /// `"off"`: this host's jobs may run while the server's sandbox is on (they cannot be
    /// confined by it). Nothing else is accepted: a host cannot be sandboxed from here.
    pub sandbox: Option<String>,
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(p: &std::path::Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        Err(_) => p.to_owned(),
    }
}

impl HostFile {
    /// Whether the host opts out of the server's sandbox.
    pub fn sandbox_off(&self) -> anyhow::Result<bool> {
        match self.sandbox.as_deref() {
            None => Ok(false),
            Some("off") => Ok(true),
            Some(other) => anyhow::bail!(
                "hosts.*.sandbox: only \"off\" is accepted (a remote job cannot be confined by this server), not {other:?}"
            ),
        }
    }

    /// The executor's view of this host.
    pub fn resolve(&self, name: &str) -> anyhow::Result<executors::ssh::SshHost> {
        let secs = |v: Option<f64>, default: f64, what: &str| -> anyhow::Result<Duration> {
            let v = v.unwrap_or(default);
            anyhow::ensure!(
                v > 0.0 && v.is_finite(),
                "hosts.{name}.{what} must be a positive number of seconds"
            );
            Ok(Duration::from_secs_f64(v))
        };
        anyhow::ensure!(
            self.identity_file.is_some() || self.agent,
            "hosts.{name}: give identity_file, or agent = true"
        );
        let known_hosts = match &self.known_hosts {
            Some(k) => expand_home(k),
            None => expand_home(std::path::Path::new("~/.ssh/known_hosts")),
        };
        Ok(executors::ssh::SshHost {
            name: name.to_string(),
            address: self.address.clone(),
            port: self.port.unwrap_or(22),
            user: self.user.clone(),
            identity_file: if self.agent {
                None
            } else {
                self.identity_file.as_deref().map(expand_home)
            },
            passphrase: self
                .passphrase_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok()),
            known_hosts,
            connect_timeout: secs(self.connect_timeout, 10.0, "connect_timeout")?,
            keepalive: secs(self.keepalive, 5.0, "keepalive")?,
            io_timeout: Duration::from_secs(30),
        })
    }
}

impl ConfigFile {
    /// Reads and parses a config file; errors name the file and the line.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("bad config file {}: {e}", path.display()))
    }

    /// The config file in the user's config directory, if there is one.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        let p = base.join("mcp-jobs").join("config.toml");
        p.is_file().then_some(p)
    }
}

/// Resolved limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_concurrent: usize,
    pub default_timeout: Option<Duration>,
    pub max_timeout: Duration,
    pub log_cap: u64,
    pub ring_size: usize,
    pub max_retained: usize,
    pub kill_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent: defaults::MAX_CONCURRENT,
            default_timeout: None,
            max_timeout: defaults::MAX_TIMEOUT,
            log_cap: defaults::LOG_CAP,
            ring_size: defaults::RING_SIZE,
            max_retained: defaults::MAX_RETAINED,
            kill_grace: defaults::KILL_GRACE,
        }
    }
}

fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("{what} must be a non-negative number of seconds, not {v}"))
}

impl Limits {
    /// Applies `[limits]` over the defaults, refusing nonsense.
    pub fn from_file(f: &LimitsFile) -> anyhow::Result<Self> {
        let mut l = Limits::default();
        if let Some(v) = f.max_concurrent {
            anyhow::ensure!(v >= 1, "limits.max_concurrent must be at least 1");
            l.max_concurrent = v;
        }
        if let Some(v) = f.max_timeout {
            l.max_timeout = secs(v, "limits.max_timeout")?;
        }
        if let Some(v) = f.default_timeout {
            let d = secs(v, "limits.default_timeout")?;
            anyhow::ensure!(
                d <= l.max_timeout,
                "limits.default_timeout exceeds limits.max_timeout"
            );
            l.default_timeout = (!d.is_zero()).then_some(d);
        }
        if let Some(v) = f.log_cap_bytes {
            anyhow::ensure!(v >= 1024, "limits.log_cap_bytes must be at least 1024");
            l.log_cap = v;
        }
        if let Some(v) = f.ring_bytes {
            anyhow::ensure!(
                (1024..=(64 << 20)).contains(&v),
                "limits.ring_bytes must be between 1 KiB and 64 MiB"
            );
            l.ring_size = v;
        }
        if let Some(v) = f.max_retained {
            l.max_retained = v;
        }
        if let Some(v) = f.kill_grace_ms {
            l.kill_grace = Duration::from_millis(v.min(bounds::MAX_GRACE_MS));
        }
        Ok(l)
    }
}
