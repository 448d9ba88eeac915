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

/// What a sandbox keeps from change inside its writable roots.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Protection {
    /// Existing places that stay read-only.
    pub read_only: Vec<PathBuf>,
    /// Existing places that cannot be renamed or replaced (repositories and their `.git`), so
    /// that a job cannot move a repository aside and put one with its own hooks in its place.
    pub pinned: Vec<PathBuf>,
    /// `.git` directories without `hooks`: a job could create one with a hook in it, so the
    /// server creates it empty first (then it is read-only).
    pub missing_hooks: Vec<PathBuf>,
    /// Why no job can run now: a protected place was made a symbolic link to a writable root
    /// (keeping its target read-only would take the whole root).
    pub refusals: Vec<String>,
}

/// Files in a git directory that change where git reads its configuration and hooks from.
const GIT_CONTROL: &[&str] = &[
    "config",
    "hooks",
    "commondir",
    "config.worktree",
    "info",
    "worktrees",
];

/// What a sandboxed job may not change inside `roots` although they are writable:
/// - of every repository at the top of a root or one level down (and of its submodules in
///   `.git/modules`): `config`, `hooks`, `commondir`, `config.worktree` and `info` stay
///   read-only, and the repository and its `.git` cannot be renamed or replaced;
/// - every protected place (built-in and `protected`) at the top of a root, and of `$HOME`
///   when it lies inside one, stays read-only;
/// - absolute protected places inside a root stay read-only (the root itself, when a
///   protected place holds it).
///
/// Only places that exist are listed: the kernel can bind a mount only over something.
pub fn read_only_places(roots: &[PathBuf], protected: &[Protected]) -> Protection {
    let mut out = Protection::default();
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
                push_existing(&mut out, roots, top.join(entry));
            }
        }
        for p in protected {
            match p {
                Protected::Under(place) if place.starts_with(root) => {
                    push_existing(&mut out, roots, place.clone());
                }
                Protected::Under(place) if root.starts_with(place) => {
                    out.read_only.push(root.clone());
                }
                Protected::Under(_) => {}
                Protected::Anywhere(seq) if seq.len() == 1 && seq[0] == ".git" => {}
                Protected::Anywhere(seq) => {
                    for top in &tops {
                        push_existing(&mut out, roots, top.join(seq.join("/")));
                    }
                }
            }
        }
        let dirs = top_dirs(root);
        for gitfile in gitfiles(&dirs) {
            // `gitdir: PATH` of a submodule or a linked worktree: rewritten, it would send git
            // to a repository of the job's making.
            push_existing(&mut out, roots, gitfile);
        }
        for repo in repositories(&dirs) {
            for name in GIT_CONTROL {
                push_existing(&mut out, roots, repo.git_dir.join(name));
            }
            if repo.git_dir.join("hooks").symlink_metadata().is_err() {
                out.missing_hooks.push(repo.git_dir.join("hooks"));
                out.read_only.push(repo.git_dir.join("hooks"));
            }
            if &repo.work_tree != root {
                out.pinned.push(repo.work_tree.clone());
            }
            out.pinned.push(repo.git_dir);
        }
    }
    for list in [&mut out.read_only, &mut out.pinned, &mut out.missing_hooks] {
        // Each place once; and a read-only place is not also pinned (its bind pins it).
        list.sort();
        list.dedup();
    }
    out
}

/// Adds `p` if it exists. A symbolic link is not bound over (that would bind its target, which
/// a job chose): its target is kept read-only if it lies in a writable root — unless it is
/// such a root or holds one, which is refused rather than making the whole root read-only.
fn push_existing(out: &mut Protection, roots: &[PathBuf], p: PathBuf) {
    let Ok(meta) = p.symlink_metadata() else {
        return;
    };
    if !meta.file_type().is_symlink() {
        out.read_only.push(p);
        return;
    }
    let Ok(target) = std::fs::canonicalize(&p) else {
        return;
    };
    if roots.iter().any(|r| r.starts_with(&target)) {
        out.refusals.push(format!(
            "{} is a symbolic link to {}, which holds a writable root: remove the link",
            p.display(),
            target.display()
        ));
    } else if roots.iter().any(|r| target.starts_with(r)) {
        out.read_only.push(target);
    }
}

/// `root` and the directories directly in it (not through symlinks), bounded: where
/// repositories and `.git` files are looked for.
fn top_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    if let Ok(dir) = std::fs::read_dir(root) {
        for entry in dir.flatten().take(MAX_SCAN) {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
    }
    dirs
}

/// `.git` files (not directories) in `dirs`.
fn gitfiles(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .map(|c| c.join(".git"))
        .filter(|g| g.symlink_metadata().is_ok_and(|m| m.is_file()))
        .collect()
}

struct Repository {
    /// The directory holding `.git` (for a bare repository, the repository itself).
    work_tree: PathBuf,
    git_dir: PathBuf,
}

/// A real directory (not a symlink to one).
fn is_real_dir(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.is_dir())
}

/// Git directories in `dirs` (`X/.git` and bare `X.git`), and
/// their submodules' (`.git/modules/NAME`). Symlinks are not followed: a job could point one
/// anywhere.
fn repositories(dirs: &[PathBuf]) -> Vec<Repository> {
    let mut repos = Vec::new();
    for c in dirs.iter().cloned() {
        let dot_git = c.join(".git");
        if is_real_dir(&dot_git) {
            repos.push(Repository {
                work_tree: c,
                git_dir: dot_git,
            });
        } else if c
            .file_name()
            .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(".git"))
            && c.join("config").is_file()
        {
            repos.push(Repository {
                work_tree: c.clone(),
                git_dir: c,
            });
        }
    }
    let mut modules = Vec::new();
    for repo in &repos {
        if let Ok(dir) = std::fs::read_dir(repo.git_dir.join("modules")) {
            for entry in dir.flatten().take(MAX_SCAN) {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    modules.push(Repository {
                        work_tree: entry.path(),
                        git_dir: entry.path(),
                    });
                }
            }
        }
    }
    repos.extend(modules);
    repos
}
