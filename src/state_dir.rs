//! The state directory's run directories (`DIR/runs/<run>`, one per server run): where job logs
//! and journals live, the only places the server reads an earlier run's files from, and the
//! only places where it deletes files.
//!
//! Jobs run as the server's user, so they can write anything in the state directory: append a
//! forged line to a journal, or put a symlink in place of a log or of a run directory. Nothing
//! here therefore takes a path from a file's content: a path is always the runs directory, the
//! name of a run checked to be a plain name, and a file name the server makes up itself
//! (`journal.jsonl`, `j<id>.log`). Opens refuse symlinks and anything but regular files (a FIFO
//! would block the server). Deletes walk down from `DIR/runs` with directory descriptors opened
//! without following symlinks, so no symlink below `DIR/runs` can send them elsewhere, however
//! it is swapped in.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::UnlinkatFlags;

/// Why a file or directory was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("{0} is not a file directly in a run directory of the state directory")]
    Outside(PathBuf),
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The runs directory of a state directory (`DIR/runs`).
#[derive(Debug, Clone)]
pub struct Runs {
    dir: PathBuf,
}

impl Runs {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The runs directory that holds the run directory `run_dir`.
    pub fn of_run(run_dir: &Path) -> Self {
        // Without a parent nothing can be in a run directory of it: every delete is refused.
        Self::new(run_dir.parent().unwrap_or(run_dir).to_owned())
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The names of the run directories, as the runs directory lists them: real directories
    /// with plain names only (a symlink is not followed, whatever it points to).
    pub fn names(&self) -> impl Iterator<Item = String> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_plain_name(n))
    }

    /// Run `name`'s directory, if `name` is a plain name and names a real directory here (not a
    /// symlink).
    pub fn run_dir(&self, name: &str) -> Option<PathBuf> {
        if !is_plain_name(name) {
            return None;
        }
        let dir = self.dir.join(name);
        std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir())
            .then_some(dir)
    }

    /// Deletes `path`, which must be a regular file directly in a run directory here
    /// (`DIR/runs/<run>/<file>`, spelled so, without `..`).
    pub fn remove_file(&self, path: &Path) -> Result<(), RemoveError> {
        let (run, file) = self
            .locate(path)
            .ok_or_else(|| RemoveError::Outside(path.to_owned()))?;
        let io_err = |e: nix::Error| RemoveError::Io {
            path: path.to_owned(),
            source: e.into(),
        };
        let run_fd = self.open_run(run).map_err(io_err)?;
        let stat =
            nix::sys::stat::fstatat(&run_fd, file, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io_err)?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(RemoveError::NotRegular(path.to_owned()));
        }
        // Relative to the run directory's descriptor: a swap of any directory above cannot
        // redirect it, and a swap of the file itself for a symlink deletes only the symlink.
        nix::unistd::unlinkat(&run_fd, file, UnlinkatFlags::NoRemoveDir).map_err(io_err)
    }

    /// Deletes run `name`'s directory if it is empty (fails with ENOTEMPTY otherwise).
    pub fn remove_run_if_empty(&self, name: &str) -> Result<(), RemoveError> {
        let path = self.dir.join(name);
        if !is_plain_name(name) {
            return Err(RemoveError::Outside(path));
        }
        let io_err = |e: nix::Error| RemoveError::Io {
            path: path.clone(),
            source: e.into(),
        };
        let runs_fd = nix::fcntl::open(&self.dir, dir_flags(), Mode::empty()).map_err(io_err)?;
        // rmdir of a symlink fails (ENOTDIR): it never removes what the link points to.
        nix::unistd::unlinkat(&runs_fd, name, UnlinkatFlags::RemoveDir).map_err(io_err)
    }

    /// `(run, file)` if `path` is `<runs>/<run>/<file>` with plain names.
    fn locate<'a>(&self, path: &'a Path) -> Option<(&'a str, &'a OsStr)> {
        let file = path.file_name()?;
        let run_dir = path.parent()?;
        if run_dir.parent()? != self.dir {
            return None;
        }
        let run = run_dir.file_name()?.to_str()?;
        (is_plain_name(run) && file.to_str().is_some_and(is_plain_name)).then_some((run, file))
    }

    /// A descriptor of run `run`'s directory, reached without following symlinks.
    fn open_run(&self, run: &str) -> nix::Result<OwnedFd> {
        let runs_fd = nix::fcntl::open(&self.dir, dir_flags(), Mode::empty())?;
        nix::fcntl::openat(&runs_fd, run, dir_flags(), Mode::empty())
    }
}

/// Mode of every file the server creates in its state directory (and of the audit log): job
/// output and commands are the user's business only.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode 0700 (directories that exist are left as
/// they are).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// A name the server could have given to a run or to a file in one: not empty, not hidden (so
/// never `.` or `..`), of letters, digits, `-`, `_` and `.` only.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The name of job `id`'s log in its run directory.
pub fn log_name(id: u64) -> String {
    format!("j{id}.log")
}

/// Opens `path` with `options`, refusing a symlink as its last component and anything but a
/// regular file: a job may have put a symlink to another file, or a FIFO, in place of a log.
pub fn open_regular(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just after); it
    // changes nothing for a regular file.
    let file = options
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A state directory with run `a`, and a directory outside it with a file `j1.log`.
    fn setup() -> (tempfile::TempDir, Runs, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = dir.path().join("state").join("runs");
        std::fs::create_dir_all(runs.join("a")).expect("mkdir");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("j1.log"), "precious").expect("write");
        (dir, Runs::new(runs), outside)
    }

    #[test]
    fn deletes_a_regular_file_in_a_run_directory() {
        let (_dir, runs, _) = setup();
        let log = runs.path().join("a").join("j1.log");
        std::fs::write(&log, "x").expect("write");
        runs.remove_file(&log).expect("removed");
        assert!(!log.exists());
    }

    #[test]
    fn refuses_paths_outside_the_run_directories() {
        let (_dir, runs, outside) = setup();
        let target = outside.join("j1.log");
        let dotdot = runs.path().join("a").join("..").join("..").join("..");
        for path in [
            target.clone(),
            dotdot.join("outside").join("j1.log"),
            runs.path().join("..").join("j1.log"),
            runs.path().join("j1.log"),
            runs.path().join("a").join("b").join("j1.log"),
        ] {
            let r = runs.remove_file(&path);
            assert!(matches!(r, Err(RemoveError::Outside(_))), "{path:?}: {r:?}");
        }
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
    }

    #[test]
    fn refuses_symlinks_as_the_file_or_as_the_run_directory() {
        let (_dir, runs, outside) = setup();
        let target = outside.join("j1.log");
        let link = runs.path().join("a").join("j1.log");
        symlink(&target, &link).expect("symlink");
        assert!(matches!(
            runs.remove_file(&link),
            Err(RemoveError::NotRegular(_))
        ));
        symlink(&outside, runs.path().join("evil")).expect("symlink");
        let through = runs.path().join("evil").join("j1.log");
        assert!(matches!(
            runs.remove_file(&through),
            Err(RemoveError::Io { .. })
        ));
        assert!(runs.remove_run_if_empty("evil").is_err());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
        assert!(runs.run_dir("evil").is_none());
        assert_eq!(runs.names().collect::<Vec<_>>(), ["a"]);
        // Opening through a symlinked log is refused as well.
        assert!(open_regular(&link, File::options().read(true)).is_err());
    }

    #[test]
    fn refuses_to_open_a_fifo_without_waiting() {
        let (_dir, runs, _) = setup();
        let fifo = runs.path().join("a").join("j2.log");
        nix::unistd::mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR).expect("mkfifo");
        assert!(open_regular(&fifo, File::options().read(true)).is_err());
        assert!(matches!(
            runs.remove_file(&fifo),
            Err(RemoveError::NotRegular(_))
        ));
    }

    #[test]
    fn plain_names() {
        for good in ["a", "123-456", "j7.log", "journal.jsonl"] {
            assert!(is_plain_name(good), "{good}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "/etc", "a\0b", "é"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
