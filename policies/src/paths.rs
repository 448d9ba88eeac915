//! Paths as the kernel will see them: working directories and redirection targets are
//! resolved on the real file system at check time (symlinks followed, `..` taken after them),
//! so that `/jail/link/..` or a symlink inside the workspace cannot lead a write elsewhere.
//! What happens between the check and the run (a symlink created meanwhile) is not seen: the
//! kernel sandbox (`[sandbox]`) is what enforces paths for the job's whole life.

use std::path::{Component, Path, PathBuf};

/// Most symlinks and components followed for one path.
const MAX_COMPONENTS: usize = 4096;

/// `a/./b/../c` → `a/c`, textually (as `cd` without `-P` does).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Why a path cannot be resolved with certainty.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolvable(pub String);

/// The physical path `path` (absolute) names, as `open` would resolve it: the longest existing
/// prefix with every symlink followed, then the components that do not exist yet. A `..` after
/// a missing component, a dangling symlink, or a loop is unresolvable.
pub fn resolve(path: &Path) -> Result<PathBuf, Unresolvable> {
    if !path.is_absolute() {
        return Err(Unresolvable(format!("{} is not absolute", path.display())));
    }
    let comps: Vec<Component> = path.components().collect();
    if comps.len() > MAX_COMPONENTS {
        return Err(Unresolvable("too many path components".into()));
    }
    // Find the longest prefix that exists (following symlinks).
    let mut split = comps.len();
    loop {
        let prefix: PathBuf = comps[..split].iter().collect();
        match std::fs::canonicalize(&prefix) {
            Ok(real) => {
                let mut out = real;
                for c in &comps[split..] {
                    match c {
                        Component::Normal(n) => {
                            let next = out.join(n);
                            // A dangling symlink: writing through it creates its target.
                            if std::fs::symlink_metadata(&next).is_ok() {
                                return Err(Unresolvable(format!(
                                    "{} is a symlink to a missing file",
                                    next.display()
                                )));
                            }
                            out = next;
                        }
                        Component::CurDir => {}
                        _ => {
                            return Err(Unresolvable(format!(
                                "{} has `..` after a directory that does not exist",
                                path.display()
                            )));
                        }
                    }
                }
                return Ok(out);
            }
            Err(_) if split > 1 => split -= 1,
            Err(e) => return Err(Unresolvable(format!("{}: {e}", path.display()))),
        }
    }
}

/// Whether `path` is `root` or inside it.
pub fn within(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}

/// Device files every command may redirect to or from.
pub fn harmless_device(path: &str) -> bool {
    matches!(
        path,
        "/dev/null" | "/dev/zero" | "/dev/full" | "/dev/tty" | "/dev/random" | "/dev/urandom"
    )
}

/// Descriptor files: `/dev/stdout` is descriptor 1, `/dev/fd/2` is 2. bash (and the kernel)
/// reopen what the descriptor refers to.
pub fn descriptor_file(path: &str) -> Option<i32> {
    match path {
        "/dev/stdin" => Some(0),
        "/dev/stdout" => Some(1),
        "/dev/stderr" => Some(2),
        p => p
            .strip_prefix("/dev/fd/")
            .filter(|n| !n.is_empty() && n.len() < 6 && n.chars().all(|c| c.is_ascii_digit()))
            .and_then(|n| n.parse().ok()),
    }
}

/// Places where allowed programs read code or configuration: writing there turns data into
/// code (`.git/config` sets `core.fsmonitor`, hooks run on commit, `.cargo/config.toml` sets a
/// rustc wrapper, `.npmrc` a script shell, shell start-up files run in every shell).
pub const DEFAULT_PROTECT: &[&str] = &[
    ".git",
    ".cargo/config",
    ".cargo/config.toml",
    ".cargo/bin",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".pnpmrc",
    ".envrc",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".inputrc",
    ".gitconfig",
    ".config/git",
    ".config/pip",
    ".pip",
    ".pypirc",
    ".netrc",
    ".ssh",
    ".gnupg",
    ".aws",
    ".kube",
    ".docker",
    ".local/bin",
    ".config/mcp-jobs",
    ".bash_aliases",
    ".cargo/env",
    ".rustup",
    ".config/fish",
    ".vimrc",
    ".config/nvim",
    ".hgrc",
    ".config/systemd",
    ".config/autostart",
    ".pnpmfile.cjs",
    ".pythonrc",
    ".Rprofile",
    "/etc/profile.d",
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/environment",
    "/etc/cron.d",
    "/etc/sudoers.d",
];

/// A protected place: relative entries match anywhere (as a run of whole components),
/// absolute ones by prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum Protected {
    Anywhere(Vec<String>),
    Under(PathBuf),
}

impl Protected {
    pub fn parse(entry: &str) -> Protected {
        let expanded = match entry.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME").map(|h| Path::new(&h).join(rest)),
            None => None,
        };
        match expanded {
            Some(p) => Protected::Under(resolve(&p).unwrap_or_else(|_| normalize(&p))),
            None if entry.starts_with('/') => {
                let p = Path::new(entry);
                Protected::Under(resolve(p).unwrap_or_else(|_| normalize(p)))
            }
            None => Protected::Anywhere(
                entry
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .map(str::to_string)
                    .collect(),
            ),
        }
    }

    pub fn covers(&self, path: &Path) -> bool {
        match self {
            Protected::Under(root) => path.starts_with(root),
            // Any `NAME.git` directory is a repository too (bare ones are named so).
            Protected::Anywhere(seq) if seq.len() == 1 && seq[0] == ".git" => {
                path.components().any(|c| match c {
                    Component::Normal(n) => {
                        n.to_string_lossy().to_ascii_lowercase().ends_with(".git")
                    }
                    _ => false,
                })
            }
            Protected::Anywhere(seq) => {
                let comps: Vec<String> = path
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                        _ => None,
                    })
                    .collect();
                // Case-insensitively: `.GIT` is `.git` on a case-insensitive file system.
                !seq.is_empty()
                    && comps
                        .windows(seq.len())
                        .any(|w| w.iter().zip(seq).all(|(a, b)| a.eq_ignore_ascii_case(b)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_symlinks_and_dotdot() {
        let dir = std::env::temp_dir().join(format!("policies-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("jail")).unwrap();
        std::fs::create_dir_all(dir.join("outside/deep")).unwrap();
        std::os::unix::fs::symlink(dir.join("outside/deep"), dir.join("jail/link")).unwrap();
        std::os::unix::fs::symlink(dir.join("outside/missing"), dir.join("jail/dangling")).unwrap();
        let real = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(
            resolve(&dir.join("jail/link/..")).unwrap(),
            real.join("outside")
        );
        assert_eq!(
            resolve(&dir.join("jail/link/new.txt")).unwrap(),
            real.join("outside/deep/new.txt")
        );
        assert_eq!(
            resolve(&dir.join("jail/x/y")).unwrap(),
            real.join("jail/x/y")
        );
        assert!(resolve(&dir.join("jail/dangling")).is_err());
        assert!(resolve(&dir.join("jail/nope/../x")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn protection_matches_whole_components() {
        let p = Protected::parse(".git");
        assert!(p.covers(Path::new("/w/repo/.git/config")));
        assert!(p.covers(Path::new("/w/repo/.git")));
        assert!(!p.covers(Path::new("/w/repo/.gitignore")));
        let c = Protected::parse(".cargo/config.toml");
        assert!(c.covers(Path::new("/w/.cargo/config.toml")));
        assert!(!c.covers(Path::new("/w/cargo/config.toml")));
    }
}

/// Most files a glob in a write target may name before the command is refused.
pub const MAX_GLOB_MATCHES: usize = 4096;

/// Whether `word` is a plain glob pattern: literal characters and `*`, `?`, `[...]`, no
/// quoting or expansion (so its text is the pattern bash matches).
pub fn plain_glob(word: &str) -> bool {
    word.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./*?[]!-+=,:@%^".contains(c))
}

/// The existing paths `pattern` (relative to `dir`, or absolute) matches, as bash expands it
/// (wildcards do not match a leading `.`); `Err` beyond `MAX_GLOB_MATCHES`.
pub fn glob_expand(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let (mut found, rest) = if let Some(abs) = pattern.strip_prefix('/') {
        (vec![PathBuf::from("/")], abs)
    } else {
        (vec![dir.to_path_buf()], pattern)
    };
    for comp in rest.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for base in &found {
            if !comp.contains(['*', '?', '[']) {
                let p = base.join(comp);
                if std::fs::symlink_metadata(&p).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(base) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && !comp.starts_with('.') {
                    continue;
                }
                if fnmatch(comp.as_bytes(), name.as_bytes()) {
                    next.push(base.join(&*name));
                    if next.len() > MAX_GLOB_MATCHES {
                        return Err(format!(
                            "{pattern} matches more than {MAX_GLOB_MATCHES} files"
                        ));
                    }
                }
            }
        }
        found = next;
    }
    Ok(found)
}

/// Shell pattern matching of one path component: `*`, `?`, `[...]` (`!` or `^` negates).
fn fnmatch(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None::<usize>, 0);
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some(pi);
                    mark = si;
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, len)) = bracket(&p[pi..], s[si])
                        && ok
                    {
                        pi += len;
                        si += 1;
                        continue;
                    }
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some(st) => {
                pi = st + 1;
                mark += 1;
                si = mark;
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// A bracket expression at the start of `p`: whether `c` matches, and its length.
fn bracket(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod glob_tests {
    use super::fnmatch;

    #[test]
    fn matches_like_the_shell() {
        assert!(fnmatch(b"*.rs", b"main.rs"));
        assert!(!fnmatch(b"*.rs", b"main.rc"));
        assert!(fnmatch(b"a?c", b"abc"));
        assert!(fnmatch(b"[a-c]x", b"bx"));
        assert!(!fnmatch(b"[!a-c]x", b"bx"));
        assert!(fnmatch(b"*", b"anything"));
    }
}
