//! Paths for working-directory limits: lexical normalisation and containment.

use std::path::{Component, Path, PathBuf};

/// `a/./b/../c` → `a/c`, without touching the file system (a path that does not exist yet, such
/// as a redirection target, must still be judged).
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

/// Whether `path` is `root` or inside it.
pub fn within(path: &Path, roots: &[PathBuf]) -> bool {
    let p = normalize(path);
    roots.iter().any(|r| p.starts_with(r))
}

/// Device files every command may redirect to.
pub fn harmless_device(path: &str) -> bool {
    matches!(
        path,
        "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/stdin" | "/dev/tty" | "/dev/zero"
    ) || path.starts_with("/dev/fd/")
}
