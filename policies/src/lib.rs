//! The mcp-jobs policy engine: decides whether a shell command may run.
//!
//! A command string is parsed with a real bash grammar ([`shell`]) and accepted only when every
//! construct in it is one the engine models completely (a positive grammar); every simple
//! command in it — in pipelines, lists, subshells, substitutions, `sh -c` strings, and behind
//! wrappers such as `sudo`, `env`, `xargs` or `find -exec` ([`commands`], read with each
//! program's real option syntax) — must pass the policy's rules ([`rules`]); the files it
//! writes are resolved on the real file system ([`paths`]). Anything else is refused with a
//! reason that names it. Work is bounded ([`bounds`]). The crate is pure and synchronous: it
//! runs nothing.
//!
//! ```
//! let policy = policies::Policy::from_toml(r#"
//!     default = "deny"
//!     allow = ["cargo", "git status", "ls", "echo"]
//!     deny  = ["rm", "curl"]
//! "#, "example.toml").unwrap();
//! assert!(policy.check(&policies::CheckRequest::new("cargo test && git status")).allowed);
//! assert!(!policy.check(&policies::CheckRequest::new("echo $(rm -rf ~)")).allowed);
//! ```

pub mod bounds;
mod check;
pub mod commands;
pub mod danger;
mod error;
mod file;
pub mod paths;
pub mod rules;
pub mod sandbox;
pub mod shell;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use check::{CheckRequest, CommandCheck, Decision, Verdict};
pub use error::PolicyError;
pub use rules::{Action, Rule};

/// The variables jobs may set under `default = "deny"` when the policy has no `[env] allow`:
/// logging, colour, locale and time zone, which no program reads as code or a path to write.
pub const DEFAULT_ENV_ALLOW: &[&str] = &[
    "RUST_LOG",
    "RUST_BACKTRACE",
    "RUST_TEST_THREADS",
    "CARGO_TERM_COLOR",
    "CI",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "TERM",
    "COLUMNS",
    "LINES",
    "LANG",
    "LC_*",
    "TZ",
    "DEBUG",
    "VERBOSE",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "NODE_ENV",
];

/// Limits a policy puts on the jobs it allows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub max_timeout: Option<Duration>,
    pub default_timeout: Option<Duration>,
    pub log_cap_bytes: Option<u64>,
    pub max_concurrent: Option<usize>,
}

/// A `[hosts.NAME]` section.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    pub default: Option<Action>,
    pub rules: Vec<Rule>,
    /// The section has its own `allow` list, which replaces the global one for this host.
    pub replaces_allow: bool,
    pub stdin: Option<bool>,
    pub cwd: Option<Vec<PathBuf>>,
}

/// A compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub source: String,
    pub default: Action,
    pub rules: Vec<Rule>,
    /// Whether allowed jobs may receive stdin, unless their rule says otherwise.
    pub stdin: bool,
    /// Allow rules naming a bare program also match it called by a path (`/usr/bin/ls`).
    pub match_basename: bool,
    /// Directories jobs may run in and redirect to.
    pub cwd: Option<Vec<PathBuf>>,
    /// Whether commands may redirect output into files (`> file`); device files such as
    /// `/dev/null` are always allowed.
    pub redirect_writes: bool,
    /// Environment variables (glob patterns) the agent may set; `None`: any but dangerous ones.
    pub env_allow: Option<Vec<String>>,
    /// Server environment variables (glob patterns) jobs inherit; `None`: all.
    pub env_pass: Option<Vec<String>>,
    pub limits: Limits,
    pub hosts: BTreeMap<String, HostPolicy>,
    /// Places commands may not write (besides [`paths::DEFAULT_PROTECT`]): the policy's
    /// `protect` list and what the server adds (its own state).
    pub protect: Vec<String>,
    /// The `[sandbox]` section: what the kernel confines for jobs under this policy.
    pub sandbox: Option<sandbox::SandboxConfig>,
    /// All protected places, compiled once (resolving them touches the file system).
    protected: std::sync::OnceLock<Vec<paths::Protected>>,
}

impl Policy {
    /// Reads and compiles a policy file. Errors name the file and line.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            path: path.display().to_string(),
            line: None,
            message: format!("cannot read the policy file: {e}"),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Compiles a policy from TOML text; `name` is used in messages.
    pub fn from_toml(text: &str, name: &str) -> Result<Self, PolicyError> {
        file::compile(text, name)
    }

    /// A policy that allows everything (what runs with no policy file).
    pub fn allow_all() -> Self {
        Policy {
            source: "no policy".into(),
            default: Action::Allow,
            rules: Vec::new(),
            stdin: true,
            match_basename: false,
            cwd: None,
            redirect_writes: true,
            env_allow: None,
            env_pass: None,
            limits: Limits::default(),
            hosts: BTreeMap::new(),
            protect: Vec::new(),
            sandbox: None,
            protected: std::sync::OnceLock::new(),
        }
    }

    /// What a sandboxed job may not change inside `roots` although they are writable (see
    /// [`sandbox::read_only_places`]).
    pub fn sandbox_read_only(&self, roots: &[PathBuf]) -> sandbox::Protection {
        sandbox::read_only_places(roots, self.protected())
    }

    /// Protects `path` (and what is under it) from writes by commands: the server adds its
    /// state directory, audit log and configuration.
    pub fn add_protected(&mut self, path: &Path) {
        self.protect.push(path.display().to_string());
        self.protected = std::sync::OnceLock::new();
    }

    /// Every protected place.
    pub(crate) fn protected(&self) -> &[paths::Protected] {
        self.protected.get_or_init(|| {
            paths::DEFAULT_PROTECT
                .iter()
                .copied()
                .chain(self.protect.iter().map(String::as_str))
                .map(paths::Protected::parse)
                // The policy file itself, wherever it was named from.
                .chain(
                    std::fs::canonicalize(&self.source)
                        .ok()
                        .map(paths::Protected::Under),
                )
                .collect()
        })
    }

    /// Whether a variable from the server's environment is passed to jobs.
    pub fn passes_env(&self, name: &str) -> bool {
        self.env_pass
            .as_ref()
            .is_none_or(|pats| pats.iter().any(|p| glob_match(p, name)))
    }

    /// The rules in force on `host`: global denies, host denies, the host's allow list (or the
    /// global one), and rules scoped to the host.
    pub(crate) fn rules_for(&self, host: &str) -> Vec<&Rule> {
        let section = self.hosts.get(host);
        let replaces_allow = section.is_some_and(|h| h.replaces_allow);
        let mut out: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.applies_to(host))
            .filter(|r| !(replaces_allow && r.action == Action::Allow && r.hosts.is_none()))
            .collect();
        if let Some(h) = section {
            out.extend(h.rules.iter());
        }
        out
    }

    pub(crate) fn default_for(&self, host: &str) -> Action {
        self.hosts
            .get(host)
            .and_then(|h| h.default)
            .unwrap_or(self.default)
    }

    /// The directories jobs on `host` must run in, if the policy limits them.
    pub fn cwd_for(&self, host: &str) -> Option<&[PathBuf]> {
        self.hosts
            .get(host)
            .and_then(|h| h.cwd.as_deref())
            .or(self.cwd.as_deref())
    }

    pub(crate) fn stdin_for(&self, host: &str) -> bool {
        self.hosts
            .get(host)
            .and_then(|h| h.stdin)
            .unwrap_or(self.stdin)
    }

    /// Variables every job of a policy with rules gets: git then refuses to treat a directory
    /// it happens to be in as a bare repository (`safe.bareRepository=explicit`), so a
    /// repository made of files a command wrote (its `config` can run programs) is never used
    /// unless named, and naming one (`--git-dir`, `GIT_DIR`) is refused.
    pub fn hardening_env(&self) -> Vec<(String, String)> {
        if self.is_permissive() {
            return Vec::new();
        }
        // Appended after the server's own GIT_CONFIG_* entries, if it has any.
        let n: usize = std::env::var("GIT_CONFIG_COUNT")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        vec![
            ("GIT_CONFIG_COUNT".into(), (n + 1).to_string()),
            (format!("GIT_CONFIG_KEY_{n}"), "safe.bareRepository".into()),
            (format!("GIT_CONFIG_VALUE_{n}"), "explicit".into()),
        ]
    }

    /// Whether the policy has anything to enforce: with no rules and `default = "allow"` every
    /// command runs unanalysed.
    pub fn is_permissive(&self) -> bool {
        self.default == Action::Allow
            && self.rules.is_empty()
            && self.cwd.is_none()
            && self.redirect_writes
            && self.env_allow.is_none()
            && self
                .hosts
                .values()
                .all(|h| h.rules.is_empty() && h.default != Some(Action::Deny))
    }
}

/// Longest refusal reason kept: reasons quote the command, which may be large.
const MAX_REASON: usize = 400;

/// `reason`, with the middle cut out when it is too long to show.
pub(crate) fn clip(reason: String) -> String {
    if reason.len() <= MAX_REASON {
        return reason;
    }
    let mut head = 300;
    while !reason.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = reason.len() - 80;
    while !reason.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{} […] {}", &reason[..head], &reason[tail..])
}

/// `*` matches any run of characters; everything else matches itself.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && name.len() >= head.len()
                && (0..=name.len() - head.len()).any(|i| {
                    name.is_char_boundary(head.len() + i)
                        && glob_match(tail, &name[head.len() + i..])
                })
        }
    }
}
