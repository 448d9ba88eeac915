//! One job's output store: every byte spooled to a file as it arrives ([`super::spool`]), with a
//! cap that keeps the head and the tail, and an in-memory ring of the most recent bytes for fast
//! tails ([`super::ring`]).
//!
//! All positions are offsets in the job's *combined* output (stdout and stderr in the order they
//! were read), so one cursor space serves every stream: a cursor from a stdout read is valid for a
//! stderr or combined read too. Which stream each byte came from is kept as a list of runs
//! ([`super::runs`]); line numbers come from checkpoints ([`super::lines`]); reads by position
//! are in [`super::fetch`], and the gap-aware walk over a range in [`super::reader`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use executors::{OutputSink, Stream};
use tokio::sync::Notify;

use super::lines::LineIndex;
use super::ring::Ring;
use super::runs::{StreamRuns, Tag};
use super::spool::{Layout, Spool};
use crate::state_dir::{RemoveError, Runs, open_regular};

/// Sizes of a job's output at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Bytes produced so far (the position where new output will start).
    pub total: u64,
    /// Bytes dropped by the cap so far.
    pub omitted: u64,
    /// Bytes produced per stream (stdout, stderr).
    pub stdout: u64,
    pub stderr: u64,
}

/// What the lock guards: every part of the store, consistent with `total`.
pub(super) struct Inner {
    pub(super) spool: Spool,
    pub(super) runs: StreamRuns,
    pub(super) lines: LineIndex,
    pub(super) ring: Ring,
    pub(super) total: u64,
    by_stream: [u64; 2],
}

/// One job's output store. Shared between the executor's I/O tasks (writers) and any number of
/// readers; the lock is held only for one bounded append or one bounded read at a time.
pub struct OutputStore {
    inner: Mutex<Inner>,
    /// `None` for a job taken over without a log.
    path: Option<PathBuf>,
    total: AtomicU64,
    changed: Notify,
    /// When bytes were last appended, in microseconds after `born` (0: never): what a job's
    /// wait for input is dated from (it starts waiting right after printing its prompt).
    last_append: AtomicU64,
    born: Instant,
}

impl OutputStore {
    /// Creates the spool file at `path`. `cap` bounds the bytes kept on disk (half head, half
    /// tail); `ring` is the size of the in-memory tail.
    ///
    /// The file itself is created at the first byte: most short jobs print little or nothing,
    /// and a server may run thousands of them.
    pub fn create(path: &Path, cap: u64, ring: usize) -> io::Result<Self> {
        let head_cap = cap / 2;
        Ok(Self::with(
            Inner {
                spool: Spool::new(Some(path), Layout::new(head_cap, cap - head_cap)),
                runs: StreamRuns::default(),
                lines: LineIndex::new(),
                ring: Ring::new(ring),
                total: 0,
                by_stream: [0; 2],
            },
            Some(path),
        ))
    }

    /// The store of an earlier run's job, read back from its log at `path` (stored with
    /// `head_cap` and `tail_cap`; no path: the job has no log to read). `sizes` are (total,
    /// stdout, stderr, newlines) as recorded when the job ended; without them (the job never
    /// recorded its end) the store holds what the file's head region holds, as a wrapped tail
    /// cannot be put back in order. Which stream each byte came from is not kept across runs
    /// (one stream's reads see only a one-stream job).
    pub fn import(
        path: Option<&Path>,
        head_cap: u64,
        tail_cap: u64,
        sizes: Option<(u64, u64, u64, u64)>,
    ) -> Self {
        // A symlink or anything but a regular file in the log's place counts as no log.
        let file_len = path
            .and_then(|p| open_regular(p, std::fs::File::options().read(true)).ok())
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        let (total, stdout, stderr, lines) = match sizes {
            // A log deleted or cut short since: only what is there.
            Some((total, ..)) if file_len < total.min(head_cap + tail_cap.max(1)) => {
                (file_len.min(head_cap), 0, 0, None)
            }
            Some((total, stdout, stderr, lines)) => (total, stdout, stderr, Some(lines)),
            None => (file_len.min(head_cap.max(1)), 0, 0, None),
        };
        let tag = if stdout == total {
            Tag::Stdout
        } else if stderr == total {
            Tag::Stderr
        } else {
            Tag::Mixed
        };
        Self::with(
            Inner {
                spool: Spool::new(path, Layout::new(head_cap, tail_cap)),
                runs: StreamRuns::single(tag, total),
                lines: LineIndex::imported(lines, tag),
                ring: Ring::new(1),
                total,
                by_stream: [stdout, stderr],
            },
            path,
        )
    }

    fn with(inner: Inner, path: Option<&Path>) -> Self {
        Self {
            total: AtomicU64::new(inner.total),
            inner: Mutex::new(inner),
            path: path.map(Path::to_owned),
            changed: Notify::new(),
            last_append: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the store consistent before anything that could panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes produced so far, without taking the lock.
    pub fn len(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    /// Whether nothing was produced yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes up everyone waiting in [`OutputStore::changed`] (used when the job ends).
    pub fn wake(&self) {
        self.changed.notify_waiters();
    }

    /// A future that completes at the next append or [`OutputStore::wake`]. Create it *before*
    /// checking the condition you wait for, so that no wake-up is missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Sizes so far.
    pub fn extent(&self) -> Extent {
        let inner = self.lock();
        Extent {
            total: inner.total,
            omitted: inner.tail_start() - inner.head_end(),
            stdout: inner.by_stream[0],
            stderr: inner.by_stream[1],
        }
    }

    /// Newlines in the whole output so far (for line numbers); `None` for a log taken over
    /// from an earlier run without its count, until it is indexed.
    pub fn newlines(&self) -> Option<u64> {
        self.lock().lines.newlines()
    }

    /// How the log file is laid out: (head region, circular tail region) sizes.
    pub fn layout(&self) -> (u64, u64) {
        let Layout { head_cap, tail_cap } = self.lock().spool.layout;
        (head_cap, tail_cap)
    }

    /// The first spool write error, if the disk refused a write (output after it is lost).
    pub fn write_error(&self) -> Option<String> {
        self.lock().spool.write_error()
    }

    /// Appends bytes from `stream`.
    pub fn append(&self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.append(Tag::from(stream), data);
        self.total.store(inner.total, Ordering::Release);
        drop(inner);
        let micros = u64::try_from(self.born.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_append.store(micros.max(1), Ordering::Release);
        self.changed.notify_waiters();
    }

    /// When bytes were last appended in this run of the server, if ever.
    pub fn last_append(&self) -> Option<Instant> {
        match self.last_append.load(Ordering::Acquire) {
            0 => None,
            micros => Some(self.born + Duration::from_micros(micros)),
        }
    }

    /// Closes the spool file for good and deletes it through `runs`, which deletes only
    /// regular files in run directories: a job may have put a symlink in the log's place.
    pub fn remove(&self, runs: &Runs) -> Result<(), RemoveError> {
        self.lock().spool.remove();
        match &self.path {
            Some(path) => runs.remove_file(path),
            None => Ok(()),
        }
    }

    /// Frees what only a running job needs: the in-memory ring and the open spool file. Reads
    /// then come from the file, reopened on demand; late output (from a background process
    /// still holding the pipe) reopens it too.
    pub fn release(&self) {
        let mut inner = self.lock();
        inner.ring.free();
        inner.spool.close();
        inner.runs.shrink_to_fit();
    }

    /// Where the spool file is (`None` for a job taken over without a log).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl OutputSink for OutputStore {
    fn append(&self, stream: Stream, data: &[u8]) {
        OutputStore::append(self, stream, data);
    }
}

impl Inner {
    pub(super) fn head_end(&self) -> u64 {
        self.spool.layout.head_end(self.total)
    }

    /// First position of the stored tail (equal to `head_end` while nothing was omitted).
    pub(super) fn tail_start(&self) -> u64 {
        self.spool.layout.tail_start(self.total)
    }

    fn append(&mut self, tag: Tag, data: &[u8]) {
        let head_cap = self.spool.layout.head_cap;
        self.lines.before_append(self.total, head_cap);
        self.runs.push(tag, self.total, head_cap);
        self.spool.write(self.total, data);
        self.ring.push(data);
        self.lines.count(tag, data);
        let len = data.len() as u64;
        self.by_stream[usize::from(tag == Tag::Stderr)] += len;
        self.total += len;
        // Drops the bookkeeping of positions that fell out of the tail.
        let tail_start = self.tail_start();
        self.runs.prune(tail_start);
        self.lines.prune(tail_start);
    }
}

/// A store in a temporary directory, for the output module's tests; the directory goes with
/// the first value.
#[cfg(test)]
pub(crate) fn temp_store(cap: u64, ring: usize) -> (tempfile::TempDir, OutputStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = OutputStore::create(&dir.path().join("log"), cap, ring).expect("create");
    (dir, s)
}

/// All stored bytes of `select`, and the number of bytes omitted, for tests.
#[cfg(test)]
pub(crate) fn read_all(s: &OutputStore, select: super::Select) -> (Vec<u8>, u64) {
    use super::Piece;
    let mut out = Vec::new();
    let mut omitted = 0;
    for p in s.pieces(0, u64::MAX) {
        match p {
            Piece::Data { start, end, tag } if select.wants(tag) => {
                out.extend(s.read(start, end).expect("read").1)
            }
            Piece::Data { .. } => {}
            Piece::Omitted { start, end } => omitted += end - start,
        }
    }
    (out, omitted)
}
