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
    /// Each hidden place, resolved, with the file it was at start (device, inode), if any.
    hidden: Vec<(PathBuf, Option<(u64, u64)>)>,
    /// Where the jobs' private temporary directories are made (mode 0700, this run's; removed
    /// at exit, or by the guardian).
    tmp_root: PathBuf,
}

/// The directory of this server run's job temporary directories (see [`Sandbox`]); the
/// guardian removes it when the server dies.
pub fn tmp_root(instance: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mcp-jobs-{instance}-tmp"))
}

fn identity(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Resolves symlinks where the path exists (the kernel enforces on what it resolves to).
fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| policies::paths::normalize(p))
}

impl Sandbox {
    /// The sandbox from the policy and the `--sandbox`/config mode, or `None` when neither
    /// asks for one.
    pub fn resolve(
        policy: &Policy,
        mode: Option<FilesystemMode>,
        instance: &str,
    ) -> anyhow::Result<Option<Self>> {
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
        let hidden = config
            .hide
            .iter()
            .map(|h| {
                let h = real(h);
                let id = identity(&h);
                (h, id)
            })
            .collect();
        Ok(Some(Self {
            config,
            workspace,
            writable,
            hidden,
            tmp_root: tmp_root(instance),
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

    /// Why a job cannot start now: a hidden place that existed when the server started was
    /// moved or replaced (a job with write access to its parent could do that, and the next
    /// job would then find it under another name, unhidden).
    pub fn refuse_start(&self) -> Option<String> {
        let moved: Vec<String> = self
            .hidden
            .iter()
            .filter(|(p, at_start)| at_start.is_some() && identity(p) != *at_start)
            .map(|(p, _)| p.display().to_string())
            .collect();
        (!moved.is_empty()).then(|| {
            format!(
                "the hidden place(s) {} moved or changed since the server started, so they cannot be hidden where they are now; nothing was run (restart the server once they are back in place)",
                moved.join(", ")
            )
        })
    }

    /// A private temporary directory for a job (mode 0700), inside this run's directory.
    pub fn make_tmpdir(&self, job: &str) -> std::io::Result<tempfile::TempDir> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.tmp_root)
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Ours only if a real directory of ours: someone else's (or a link) is refused.
                let m = std::fs::symlink_metadata(&self.tmp_root)?;
                use std::os::unix::fs::MetadataExt;
                let me = std::fs::metadata("/proc/self")?.uid();
                if !m.is_dir() || m.uid() != me || m.mode() & 0o077 != 0 {
                    return Err(std::io::Error::other(format!(
                        "{} exists and is not this server's private directory",
                        self.tmp_root.display()
                    )));
                }
            }
            Err(e) => return Err(e),
        }
        tempfile::Builder::new()
            .prefix(&format!("{job}-"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&self.tmp_root)
    }

    /// Removes this run's temporary directories (the server's exit).
    pub fn remove_tmp_root(&self) {
        let _ = std::fs::remove_dir_all(&self.tmp_root);
    }

    /// The hidden places for a job now: those that existed at the server's start (checked by
    /// [`Sandbox::refuse_start`]), and those that appeared since as real files or directories
    /// (one a job made a symlink is skipped: binding over it would hide its target instead).
    fn hidden_now(&self) -> Vec<PathBuf> {
        self.hidden
            .iter()
            .filter(|(p, at_start)| {
                at_start.is_some()
                    || std::fs::symlink_metadata(p).is_ok_and(|m| !m.file_type().is_symlink())
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// The kernel's instructions for one local job; `tmpdir` is its private temporary
    /// directory. `Err`: why the job cannot run (a protected place turned into a link to a
    /// writable root).
    pub fn spec(&self, policy: &Policy, tmpdir: Option<&Path>) -> Result<SandboxSpec, String> {
        let hide = self.hidden_now();
        let (writable, read_only, mut pinned) = match self.config.filesystem {
            FilesystemMode::Off => (None, Vec::new(), Vec::new()),
            FilesystemMode::ReadOnly => (
                Some(tmpdir.into_iter().map(Path::to_path_buf).collect()),
                Vec::new(),
                Vec::new(),
            ),
            FilesystemMode::WorkspaceWrite => {
                let roots: Vec<PathBuf> = self
                    .workspace
                    .iter()
                    .chain(&self.writable)
                    .cloned()
                    .collect();
                let protection = policy.sandbox_read_only(&roots);
                if !protection.refusals.is_empty() {
                    return Err(format!(
                        "{}; nothing was run",
                        protection.refusals.join("; ")
                    ));
                }
                for hooks in &protection.missing_hooks {
                    // Git makes it at `init`; made empty now, it can be kept read-only.
                    if let Err(e) = make_dir_no_follow(hooks) {
                        tracing::debug!(path = %hooks.display(), "cannot create: {e}");
                    }
                }
                let mut pinned = protection.pinned;
                // A hidden place inside a writable root: its parents there cannot be renamed
                // either (the place would be found under another name, unhidden).
                for h in &hide {
                    for root in &roots {
                        if h.starts_with(root) && h != root {
                            pinned.extend(
                                h.ancestors()
                                    .skip(1)
                                    .take_while(|a| *a != root.as_path())
                                    .map(Path::to_path_buf),
                            );
                        }
                    }
                }
                let mut roots = roots;
                roots.extend(tmpdir.map(Path::to_path_buf));
                (Some(roots), protection.read_only, pinned)
            }
        };
        pinned.sort();
        pinned.dedup();
        Ok(SandboxSpec {
            writable,
            read_only,
            pinned,
            hide,
            network: self.config.network,
        })
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
        let hidden: Vec<String> = self
            .hidden
            .iter()
            .map(|(p, at_start)| match at_start {
                Some(_) => p.display().to_string(),
                None => format!("{} (does not exist now)", p.display()),
            })
            .collect();
        s.push_str(&format!(
            "hidden: {}\n",
            if hidden.is_empty() {
                "none".to_string()
            } else {
                hidden.join(", ")
            }
        ));
        s
    }
}

/// Creates the directory `path` without following a symlink on the way: a job may have made
/// any component of it a link to somewhere else, and the server must not create directories
/// there.
fn make_dir_no_follow(path: &Path) -> std::io::Result<()> {
    use nix::fcntl::{OFlag, open, openat};
    use nix::sys::stat::{Mode, mkdirat};
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a plain absolute path",
        )
    };
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(bad());
    };
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_PATH;
    let mut dir = open("/", flags, Mode::empty())?;
    for component in parent.components() {
        match component {
            std::path::Component::RootDir => {}
            std::path::Component::Normal(c) => dir = openat(&dir, c, flags, Mode::empty())?,
            _ => return Err(bad()),
        }
    }
    mkdirat(&dir, name, Mode::from_bits_truncate(0o755))?;
    Ok(())
}
