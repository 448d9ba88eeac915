//! Configuration: the TOML file, overridden by flags, resolved into [`Settings`]. Every default
//! and every hard bound lives in [`defaults`] and [`bounds`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use executors::ssh::ssh_config::SshConfigFile;
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
    /// HTTP connections open at once; more are closed at once.
    pub const HTTP_MAX_CONNECTIONS: usize = 64;
    /// MCP sessions open at once over HTTP; more `initialize` calls get 503.
    pub const HTTP_MAX_SESSIONS: usize = 16;
    /// How long a new HTTP connection may take to send its first request head.
    pub const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a kept-alive HTTP connection may wait for its next request.
    pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// How long an MCP session may go without a message before it is closed.
    pub const HTTP_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
    /// Largest request body (rmcp's own default).
    pub const HTTP_MAX_BODY: usize = 4 << 20;
    /// How long a request body may take to arrive.
    pub const HTTP_BODY_TIMEOUT: Duration = Duration::from_secs(30);
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
    pub const MAX_INTERACT_MS: u64 = 120_000;
    pub const DEFAULT_INTERACT_MS: u64 = 2_000;
    /// Silence after which `interact` returns, in milliseconds.
    pub const DEFAULT_QUIET_MS: u64 = 300;
    /// Longest kill grace, in milliseconds.
    pub const MAX_GRACE_MS: u64 = 60_000;
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
    #[serde(default)]
    pub http: HttpFile,
    /// Every alias that a `Host` line of the user's ssh config names literally becomes a host
    /// (unless a `[hosts.NAME]` of that name says otherwise).
    #[serde(default)]
    pub import_ssh_config: bool,
    /// The OpenSSH client config to read aliases from (default `$HOME/.ssh/config`).
    pub ssh_config_file: Option<PathBuf>,
}

/// `[http]` in the config file: limits of the HTTP transport (flags override them).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    pub max_connections: Option<usize>,
    pub max_sessions: Option<usize>,
    /// Seconds.
    pub header_timeout: Option<f64>,
    pub idle_timeout: Option<f64>,
    pub session_idle_timeout: Option<f64>,
    /// Browser origins allowed besides the loopback ones (`scheme://host[:port]`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Host names clients may use (with `--allow-remote`).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    /// Required unless `ssh_config` names an alias that gives it (`HostName`).
    pub address: Option<String>,
    pub port: Option<u16>,
    /// Required unless `ssh_config` names an alias that gives it (`User`).
    pub user: Option<String>,
    /// An alias of the user's ssh config: its `HostName`, `Port`, `User`, `IdentityFile` and
    /// `ProxyJump`, under what this section does not say itself.
    pub ssh_config: Option<String>,
    /// Channels the host's sshd allows per connection (its `MaxSessions`; default 10).
    pub max_sessions: Option<usize>,
    /// Connections to open to the host at most (default 4).
    pub max_connections: Option<usize>,
    /// Made by `import_ssh_config`, not written in the file: one that cannot be used is left
    /// out with a warning rather than stopping the server.
    #[serde(skip)]
    pub imported: bool,
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
    /// Names that pick this host out of many: `execute {tag}` runs on every host with it.
    #[serde(default)]
    pub tags: Vec<String>,
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

/// Tags a host may have at most.
const MAX_TAGS: usize = 32;

impl HostFile {
    /// The host's tags, checked: short words (letters, digits, `-`, `_`, `.`), no repeats.
    pub fn checked_tags(&self, name: &str) -> anyhow::Result<Vec<String>> {
        anyhow::ensure!(
            self.tags.len() <= MAX_TAGS,
            "hosts.{name}.tags: at most {MAX_TAGS} tags"
        );
        let mut tags: Vec<String> = Vec::with_capacity(self.tags.len());
        for t in &self.tags {
            anyhow::ensure!(
                !t.is_empty()
                    && t.len() <= 64
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
                "hosts.{name}.tags: {t:?} is not a tag (letters, digits, '-', '_', '.'; at most 64)"
            );
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        Ok(tags)
    }

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

    /// The executor's view of this host; `ssh` is the user's ssh config, for `ssh_config`.
    pub fn resolve(
        &self,
        name: &str,
        ssh: Option<&SshConfigFile>,
    ) -> anyhow::Result<executors::ssh::SshHost> {
        use executors::ssh::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_SESSIONS};
        let secs = |v: Option<f64>, default: f64, what: &str| -> anyhow::Result<Duration> {
            let v = v.unwrap_or(default);
            anyhow::ensure!(
                v > 0.0 && v.is_finite(),
                "hosts.{name}.{what} must be a positive number of seconds"
            );
            Ok(Duration::from_secs_f64(v))
        };
        let from_ssh = match &self.ssh_config {
            Some(alias) => {
                let ssh = ssh.ok_or_else(|| {
                    anyhow::anyhow!("hosts.{name}.ssh_config: no ssh config file was read")
                })?;
                Some(
                    ssh.resolve(alias)
                        .map_err(|e| anyhow::anyhow!("hosts.{name}: {e}"))?,
                )
            }
            None => None,
        };
        let target = from_ssh.as_ref().map(|r| &r.target);
        let address = self
            .address
            .clone()
            .or_else(|| target.map(|t| t.address.clone()))
            .ok_or_else(|| anyhow::anyhow!("hosts.{name}: give address (or ssh_config)"))?;
        let user = self
            .user
            .clone()
            .or_else(|| target.and_then(|t| t.user.clone()))
            .ok_or_else(|| {
                anyhow::anyhow!("hosts.{name}: give user (or an ssh_config alias with User)")
            })?;
        let identity_file = match (&self.identity_file, target) {
            (Some(k), _) => Some(expand_home(k)),
            (None, Some(t)) => t.identity_file.clone(),
            (None, None) => None,
        };
        // An ssh config alias without IdentityFile uses the agent, as ssh would try it first.
        anyhow::ensure!(
            identity_file.is_some() || self.agent || from_ssh.is_some(),
            "hosts.{name}: give identity_file, or agent = true"
        );
        let identity_file = if self.agent { None } else { identity_file };
        let known_hosts = match &self.known_hosts {
            Some(k) => expand_home(k),
            None => expand_home(std::path::Path::new("~/.ssh/known_hosts")),
        };
        let max_sessions = self.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS);
        anyhow::ensure!(
            max_sessions >= 3,
            "hosts.{name}.max_sessions must be at least 3 (the watchdog and kills take two channels)"
        );
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        anyhow::ensure!(
            (1..=64).contains(&max_connections),
            "hosts.{name}.max_connections must be between 1 and 64"
        );
        let mut host = executors::ssh::SshHost {
            name: name.to_string(),
            address,
            port: self.port.or(target.and_then(|t| t.port)).unwrap_or(22),
            user,
            identity_file,
            passphrase: self
                .passphrase_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok()),
            known_hosts,
            connect_timeout: secs(self.connect_timeout, 10.0, "connect_timeout")?,
            keepalive: secs(self.keepalive, 5.0, "keepalive")?,
            io_timeout: Duration::from_secs(30),
            max_sessions,
            max_connections,
            jump: None,
        };
        if let Some(j) = from_ssh.and_then(|r| r.jump) {
            // The bastion: its own entry's user and key, else the target's; its host key is
            // checked against the same known_hosts.
            host.jump = Some(Box::new(executors::ssh::SshHost {
                name: format!("{name} (bastion {})", j.address),
                address: j.address,
                port: j.port.unwrap_or(22),
                user: j.user.unwrap_or_else(|| host.user.clone()),
                identity_file: j.identity_file.or_else(|| host.identity_file.clone()),
                passphrase: None,
                max_sessions: 1,
                max_connections: 1,
                jump: None,
                ..host.clone()
            }));
        }
        Ok(host)
    }
}

impl ConfigFile {
    /// Reads and parses a config file; errors name the file and the line.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        let mut file: Self = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("bad config file {}: {e}", path.display()))?;
        if file.import_ssh_config
            && let Some(ssh) = file.ssh_config()?
        {
            for alias in ssh.aliases() {
                if alias != "local" {
                    file.hosts.entry(alias.clone()).or_insert_with(|| HostFile {
                        ssh_config: Some(alias),
                        imported: true,
                        ..HostFile::default()
                    });
                }
            }
        }
        Ok(file)
    }

    /// The user's ssh config, if this config uses it (`import_ssh_config`, or a host's
    /// `ssh_config`): `ssh_config_file`, or `$HOME/.ssh/config`.
    pub fn ssh_config(&self) -> anyhow::Result<Option<SshConfigFile>> {
        let used = self.import_ssh_config || self.hosts.values().any(|h| h.ssh_config.is_some());
        if !used {
            return Ok(None);
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("HOME is not set: cannot find ~/.ssh/config"))?;
        let path = match &self.ssh_config_file {
            Some(p) => expand_home(p),
            None => home.join(".ssh").join("config"),
        };
        Ok(Some(SshConfigFile::load(&path, &home)?))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ssh(text: &str) -> SshConfigFile {
        SshConfigFile::parse(Path::new("/t/config"), text, Path::new("/home/u")).unwrap()
    }

    fn host(toml_text: &str) -> HostFile {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn an_alias_fills_in_what_the_section_does_not_say() {
        let f = ssh(
            "Host b\n  HostName 10.1.1.1\n  Port 2200\n  User ci\n  IdentityFile ~/.ssh/k\n  ProxyJump gate\n\
Host gate\n  HostName 10.0.0.1\n",
        );
        let h = host("ssh_config = \"b\"\nport = 22\n")
            .resolve("b1", Some(&f))
            .unwrap();
        assert_eq!(h.address, "10.1.1.1");
        assert_eq!(h.port, 22, "the section's own port wins");
        assert_eq!(h.user, "ci");
        assert_eq!(h.identity_file, Some(PathBuf::from("/home/u/.ssh/k")));
        assert_eq!((h.max_sessions, h.max_connections), (10, 4));
        let j = h.jump.unwrap();
        assert_eq!((j.address.as_str(), j.port), ("10.0.0.1", 22));
        assert_eq!(
            j.user, "ci",
            "the bastion falls back to the target's user and key"
        );
        assert_eq!(j.identity_file, Some(PathBuf::from("/home/u/.ssh/k")));
        assert_eq!(j.known_hosts, h.known_hosts);
    }

    #[test]
    fn bad_host_sections_are_refused() {
        let e = host("user = \"x\"\nagent = true\n").resolve("h", None);
        assert!(e.unwrap_err().to_string().contains("address"));
        let e = host("ssh_config = \"b\"\n").resolve("h", None);
        assert!(e.unwrap_err().to_string().contains("ssh config"));
        let base = "address = \"a\"\nuser = \"u\"\nagent = true\n";
        let e = host(&format!("{base}max_sessions = 2\n")).resolve("h", None);
        assert!(e.unwrap_err().to_string().contains("max_sessions"));
        let e = host(&format!("{base}max_connections = 0\n")).resolve("h", None);
        assert!(e.unwrap_err().to_string().contains("max_connections"));
        assert!(toml::from_str::<HostFile>("imported = true\n").is_err());
    }

    #[test]
    fn tags_are_short_words_without_repeats() {
        let tags = |t: &str| host(&format!("tags = {t}\n")).checked_tags("h");
        assert_eq!(
            tags(r#"["gpu", "build.x86", "gpu", "a_b-c"]"#).unwrap(),
            ["gpu", "build.x86", "a_b-c"]
        );
        for bad in [r#"[""]"#, r#"["a b"]"#, r#"["g,pu"]"#, r#"["é"]"#] {
            let e = tags(bad).unwrap_err().to_string();
            assert!(e.contains("hosts.h.tags"), "{bad}: {e}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("\"t{i}\"")).collect();
        assert!(tags(&format!("[{}]", many.join(","))).is_err());
    }
}
