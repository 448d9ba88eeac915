//! The server's sandbox: the policy's `[sandbox]` section and `--sandbox`/`sandbox = ...`
//! combined (the stricter wins), resolved once into roots, and turned into each local job's
//! [`SandboxSpec`] for the kernel to enforce.

use std::path::{Path, PathBuf};

use executors::SandboxSpec;
use policies::Policy;
use policies::sandbox::{FilesystemMode, SandboxConfig};
use schemars::JsonSchema;
use serde::Serialize;

/// What a job's replies and the audit log say about its sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SandboxSummary {
    /// `read-only`, `workspace-write` or `off`.
    pub filesystem: &'static str,
    /// Whether the job may use IP networking.
    pub network: bool,
}

impl SandboxSummary {
    pub fn text(&self) -> String {
        format!(
            "{} filesystem, {}",
            self.filesystem,
            if self.network {
                "network allowed"
            } else {
                "no network"
            }
        )
    }
}

/// The sandbox every local job runs in.
#[derive(Debug)]
pub struct Sandbox {
    pub config: SandboxConfig,
    /// Where jobs may run (and, with `workspace-write`, write): the policy's `cwd` roots or the
    /// server's starting directory, resolved.
    pub workspace: Vec<PathBuf>,
    /// The `writable` roots that exist, resolved.
    writable: Vec<PathBuf>,
}

/// Resolves symlinks where the path exists (the kernel enforces on what it resolves to).
fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| policies::paths::normalize(p))
}

impl Sandbox {
    /// The sandbox from the policy and the `--sandbox`/config mode, or `None` when neither
    /// asks for one.
    pub fn resolve(policy: &Policy, mode: Option<FilesystemMode>) -> anyhow::Result<Option<Self>> {
        let config = match (policy.sandbox.clone(), mode.map(SandboxConfig::mode)) {
            (None, None) => return Ok(None),
            (Some(p), None) => p,
            (None, Some(m)) => m,
            (Some(p), Some(m)) => p.strictest(m),
        };
        let workspace: Vec<PathBuf> = match &policy.cwd {
            Some(roots) => roots.iter().map(|r| real(r)).collect(),
            None => vec![real(&std::env::current_dir()?)],
        };
        let mut writable = Vec::new();
        for w in &config.writable {
            if w.exists() {
                writable.push(real(w));
            } else {
                tracing::warn!(path = %w.display(), "sandbox.writable: does not exist, skipped");
            }
        }
        Ok(Some(Self {
            config,
            workspace,
            writable,
        }))
    }

    pub fn summary(&self) -> SandboxSummary {
        SandboxSummary {
            filesystem: self.config.filesystem.as_str(),
            network: self.config.network,
        }
    }

    /// Whether the filesystem is confined (then jobs run inside the workspace, with a private
    /// temporary directory).
    pub fn confines_files(&self) -> bool {
        self.config.filesystem != FilesystemMode::Off
    }

    /// Why a job may not run in `cwd`: with the filesystem confined it must be inside the
    /// workspace.
    pub fn refuse_cwd(&self, cwd: &Path) -> Option<String> {
        if !self.confines_files() {
            return None;
        }
        let cwd = real(cwd);
        if self.workspace.iter().any(|w| cwd.starts_with(w)) {
            return None;
        }
        Some(format!(
            "the sandbox lets jobs run only inside the workspace ({}); `cwd` {} is outside it",
            self.workspace
                .iter()
                .map(|w| w.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            cwd.display()
        ))
    }

    /// The kernel's instructions for one local job; `tmpdir` is its private temporary
    /// directory.
    pub fn spec(&self, policy: &Policy, tmpdir: Option<&Path>) -> SandboxSpec {
        let (writable, read_only) = match self.config.filesystem {
            FilesystemMode::Off => (None, Vec::new()),
            FilesystemMode::ReadOnly => (
                Some(tmpdir.into_iter().map(Path::to_path_buf).collect()),
                Vec::new(),
            ),
            FilesystemMode::WorkspaceWrite => {
                let roots: Vec<PathBuf> = self
                    .workspace
                    .iter()
                    .chain(&self.writable)
                    .cloned()
                    .collect();
                let (read_only, missing_hooks) = policy.sandbox_read_only(&roots);
                for hooks in missing_hooks {
                    // Git makes it at `init`; made empty now, it can be kept read-only.
                    if let Err(e) = std::fs::create_dir(&hooks) {
                        tracing::debug!(path = %hooks.display(), "cannot create: {e}");
                    }
                }
                let mut roots = roots;
                roots.extend(tmpdir.map(Path::to_path_buf));
                (Some(roots), read_only)
            }
        };
        SandboxSpec {
            writable,
            read_only,
            hide: self.config.hide.iter().map(|h| real(h)).collect(),
            network: self.config.network,
        }
    }

    /// What `mcp-jobs sandbox` and the start-up log say about this sandbox.
    pub fn describe(&self) -> String {
        let list = |v: &[PathBuf]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut s = format!(
            "filesystem: {}\nnetwork: {}\n",
            self.config.filesystem.as_str(),
            if self.config.network {
                "allowed"
            } else {
                "blocked (no IP sockets)"
            }
        );
        if self.confines_files() {
            s.push_str(&format!("workspace: {}\n", list(&self.workspace)));
        }
        if self.config.filesystem == FilesystemMode::WorkspaceWrite {
            s.push_str(&format!("writable roots: {}\n", list(&self.writable)));
        }
        s.push_str(&format!("hidden: {}\n", list(&self.config.hide)));
        s
    }
}
