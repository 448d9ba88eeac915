//! The policy's `[sandbox]` section: what the kernel confines for every job under the policy,
//! and which places inside the writable roots stay read-only.
//!
//! The engine only describes the sandbox; the server has the kernel enforce it.

use std::path::{Path, PathBuf};

use crate::paths::{DEFAULT_PROTECT, Protected};

/// What jobs may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FilesystemMode {
    /// Not confined.
    Off,
    /// The workspace, the `writable` roots and the job's temporary directory.
    WorkspaceWrite,
    /// Only the job's temporary directory (and `/dev/null`, its terminal).
    ReadOnly,
}

impl FilesystemMode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "off" => FilesystemMode::Off,
            "workspace-write" => FilesystemMode::WorkspaceWrite,
            "read-only" => FilesystemMode::ReadOnly,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FilesystemMode::Off => "off",
            FilesystemMode::WorkspaceWrite => "workspace-write",
            FilesystemMode::ReadOnly => "read-only",
        }
    }

    /// The accepted spellings, for messages.
    pub const NAMES: &'static str = "\"off\", \"read-only\" or \"workspace-write\"";
}

/// The `[sandbox]` section, with `~` expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub filesystem: FilesystemMode,
    /// More writable roots, besides the workspace and the job's temporary directory.
    pub writable: Vec<PathBuf>,
    /// Neither readable nor writable by jobs.
    pub hide: Vec<PathBuf>,
    /// Whether jobs may use IP networking.
    pub network: bool,
}

impl SandboxConfig {
    /// `--sandbox MODE`: that filesystem mode, no network.
    pub fn mode(filesystem: FilesystemMode) -> Self {
        Self {
            filesystem,
            writable: Vec::new(),
            hide: Vec::new(),
            network: false,
        }
    }

    /// The stricter of two sandboxes: one source of sandbox settings may not weaken another.
    pub fn strictest(self, other: SandboxConfig) -> SandboxConfig {
        let mut hide = self.hide;
        hide.extend(other.hide);
        hide.dedup();
        let filesystem = self.filesystem.max(other.filesystem);
        // A writable root counts only where both allow writes at all; the workspace-write one
        // brings its roots when the other is off.
        let writable = match (self.filesystem, other.filesystem) {
            (FilesystemMode::Off, _) => other.writable,
            (_, FilesystemMode::Off) => self.writable,
            _ => self
                .writable
                .into_iter()
                .filter(|w| other.writable.contains(w))
                .collect(),
        };
        SandboxConfig {
            filesystem,
            writable,
            hide,
            network: self.network && other.network,
        }
    }
}

/// `~/x` → `$HOME/x`; other paths as given.
pub fn expand_home(p: &str) -> PathBuf {
    match p
        .strip_prefix("~/")
        .or(if p == "~" { Some("") } else { None })
    {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => PathBuf::from(p),
    }
}

/// Most directory entries looked at under one writable root when searching for repositories.
const MAX_SCAN: usize = 4096;

/// The existing places inside `roots` that a sandboxed job must not write although its roots
/// are writable: `.git/config` and `.git/hooks` of every repository at the top of a root or
/// one level down (and of their submodules), every protected place (built-in and
/// `protected`) at the top of a root and of `$HOME` when it lies inside one, and absolute
/// protected places inside a root (or the root itself, when a protected place holds it).
///
/// Also returns the `.git` directories that have no `hooks`: a job could create one with a
/// hook in it, so the server creates it empty first.
pub fn read_only_places(
    roots: &[PathBuf],
    protected: &[Protected],
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut places = Vec::new();
    let mut missing_hooks = Vec::new();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for root in roots {
        let mut tops = vec![root.clone()];
        if let Some(h) = &home
            && h.starts_with(root)
            && h != root
        {
            tops.push(h.clone());
        }
        for top in &tops {
            for entry in DEFAULT_PROTECT
                .iter()
                .filter(|e| !e.starts_with('/') && **e != ".git")
            {
                push_existing(&mut places, top.join(entry));
            }
        }
        for p in protected {
            match p {
                Protected::Under(place) if place.starts_with(root) => {
                    push_existing(&mut places, place.clone());
                }
                Protected::Under(place) if root.starts_with(place) => places.push(root.clone()),
                Protected::Under(_) => {}
                Protected::Anywhere(seq) if seq.len() == 1 && seq[0] == ".git" => {}
                Protected::Anywhere(seq) => {
                    for top in &tops {
                        push_existing(&mut places, top.join(seq.join("/")));
                    }
                }
            }
        }
        for repo in repositories(root) {
            for name in ["config", "hooks"] {
                push_existing(&mut places, repo.join(name));
            }
            if !repo.join("hooks").exists() {
                missing_hooks.push(repo.join("hooks"));
            }
            places.push(repo.join("hooks"));
        }
    }
    places.sort();
    places.dedup();
    (places, missing_hooks)
}

fn push_existing(places: &mut Vec<PathBuf>, p: PathBuf) {
    if p.symlink_metadata().is_ok() {
        places.push(p);
    }
}

/// Git directories at the top of `root` and one level down (`X/.git` and bare `X.git`), and
/// their submodules' (`.git/modules/NAME`).
fn repositories(root: &Path) -> Vec<PathBuf> {
    let mut repos = Vec::new();
    let mut candidates = vec![root.to_path_buf()];
    if let Ok(dir) = std::fs::read_dir(root) {
        for entry in dir.flatten().take(MAX_SCAN) {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                candidates.push(entry.path());
            }
        }
    }
    for c in candidates {
        let dot_git = c.join(".git");
        if dot_git.is_dir() {
            repos.push(dot_git);
        } else if c
            .file_name()
            .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(".git"))
            && c.join("config").is_file()
        {
            repos.push(c);
        }
    }
    let mut modules = Vec::new();
    for repo in &repos {
        if let Ok(dir) = std::fs::read_dir(repo.join("modules")) {
            for entry in dir.flatten().take(MAX_SCAN) {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    modules.push(entry.path());
                }
            }
        }
    }
    repos.extend(modules);
    repos
}
