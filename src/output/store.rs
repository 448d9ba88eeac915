//! One job's output: every byte spooled to a file as it arrives, with a cap that keeps the head
//! and the tail, and an in-memory ring of the most recent bytes for fast tails.
//!
//! All positions are offsets in the job's *combined* output (stdout and stderr in the order they
//! were read), so one cursor space serves every stream: a cursor from a stdout read is valid for a
//! stderr or combined read too. Which stream each byte came from is kept as a list of runs.
//!
//! File layout: bytes `[0, head_cap)` are stored at their own offset; later bytes go to a circular
//! region of `tail_cap` bytes after it. Bytes that fell out of that circle are *omitted*, and
//! reads that cross them report how many.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use executors::{OutputSink, Stream};
use ringbuf::HeapRb;
use ringbuf::traits::{Consumer, Observer, RingBuffer};
use tokio::sync::Notify;

use crate::state_dir::{RemoveError, Runs, open_regular};

/// Which stream a run of bytes came from. `Mixed` marks old runs merged to bound memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Stdout,
    Stderr,
    Mixed,
}

impl From<Stream> for Tag {
    fn from(s: Stream) -> Self {
        match s {
            Stream::Stdout => Tag::Stdout,
            Stream::Stderr => Tag::Stderr,
        }
    }
}

/// Which bytes a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Combined,
    Stdout,
    Stderr,
}

impl Select {
    /// Whether bytes of `tag` belong to this selection.
    pub fn wants(self, tag: Tag) -> bool {
        match self {
            Select::Combined => true,
            Select::Stdout => tag == Tag::Stdout,
            Select::Stderr => tag == Tag::Stderr,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Most stream runs kept per region before the oldest are merged into `Mixed` ones.
const MAX_RUNS: usize = 16 * 1024;
/// Distance between line-count checkpoints (for grep's line numbers).
const CHECKPOINT_EVERY: u64 = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    tag: Tag,
}

#[derive(Debug, Clone, Copy)]
struct Checkpoint {
    pos: u64,
    /// Newlines before `pos`: combined, stdout, stderr.
    lines: [u64; 3],
}

/// A contiguous piece of a requested range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Stored bytes `[start, end)` from one stream.
    Data { start: u64, end: u64, tag: Tag },
    /// Bytes `[start, end)` that were dropped by the cap.
    Omitted { start: u64, end: u64 },
}

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

/// How to read a range of stored bytes (see [`Inner::plan_read`]).
enum ReadPlan {
    /// Done: `len` bytes for position `start` were taken from the ring (or none were left).
    Done { start: u64, len: usize },
    /// Read `len` bytes for position `start` from the file: (offset, length) of the part up
    /// to the end of the file's circle, then from the circle's start.
    File {
        file: Arc<File>,
        start: u64,
        len: usize,
        parts: [(u64, usize); 2],
    },
}

struct Inner {
    /// Shared with readers, which read the file without the lock.
    file: Option<Arc<File>>,
    head_cap: u64,
    tail_cap: u64,
    total: u64,
    by_stream: [u64; 2],
    head_runs: Vec<Run>,
    tail_runs: VecDeque<Run>,
    lines: [u64; 3],
    head_checkpoints: Vec<Checkpoint>,
    tail_checkpoints: VecDeque<Checkpoint>,
    next_checkpoint: u64,
    /// Recent bytes, for fast tails: allocated at the first byte, freed when the job ends.
    ring: Option<HeapRb<u8>>,
    ring_size: usize,
    /// The spool file is closed when the job ends (a server may retain thousands of ended
    /// jobs) and reopened on demand (never through a symlink, see `open_regular`).
    path: PathBuf,
    /// Set when the file is deleted, or when a job taken over has no log to read.
    removed: bool,
    write_error: Option<String>,
    /// A log read back from an earlier run: its line checkpoints are built at the first need.
    unindexed: bool,
}

/// One job's output store. Shared between the executor's I/O tasks (writers) and any number of
/// readers; the lock is held only for one bounded append or one bounded read at a time.
pub struct OutputStore {
    inner: Mutex<Inner>,
    /// `None` for a job taken over without a log.
    path: Option<PathBuf>,
    total: AtomicU64,
    changed: Notify,
}

impl OutputStore {
    /// Creates the spool file at `path`. `cap` bounds the bytes kept on disk (half head, half
    /// tail); `ring` is the size of the in-memory tail.
    ///
    /// The file itself is created at the first byte: most short jobs print little or nothing,
    /// and a server may run thousands of them.
    pub fn create(path: &Path, cap: u64, ring: usize) -> io::Result<Self> {
        let head_cap = cap / 2;
        let tail_cap = (cap - head_cap).max(1);
        Ok(Self {
            inner: Mutex::new(Inner {
                file: None,
                head_cap,
                tail_cap,
                total: 0,
                by_stream: [0; 2],
                head_runs: Vec::new(),
                tail_runs: VecDeque::new(),
                lines: [0; 3],
                head_checkpoints: Vec::new(),
                tail_checkpoints: VecDeque::new(),
                next_checkpoint: 0,
                ring: None,
                ring_size: ring.max(1),
                path: path.to_owned(),
                removed: false,
                write_error: None,
                unindexed: false,
            }),
            path: Some(path.to_owned()),
            total: AtomicU64::new(0),
            changed: Notify::new(),
        })
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
        let lines_known = lines.is_some();
        let lines = lines.unwrap_or(0);
        let mut by_line = [lines, 0, 0];
        match tag {
            Tag::Stdout => by_line[1] = lines,
            Tag::Stderr => by_line[2] = lines,
            Tag::Mixed => {}
        }
        let store = Self {
            inner: Mutex::new(Inner {
                file: None,
                head_cap,
                tail_cap: tail_cap.max(1),
                total,
                by_stream: [stdout, stderr],
                head_runs: if total > 0 {
                    vec![Run { start: 0, tag }]
                } else {
                    Vec::new()
                },
                tail_runs: VecDeque::new(),
                lines: by_line,
                head_checkpoints: Vec::new(),
                tail_checkpoints: VecDeque::new(),
                next_checkpoint: u64::MAX,
                ring: None,
                ring_size: 1,
                path: path.map(Path::to_owned).unwrap_or_default(),
                removed: path.is_none(),
                write_error: None,
                unindexed: true,
            }),
            path: path.map(Path::to_owned),
            total: AtomicU64::new(total),
            changed: Notify::new(),
        };
        if !lines_known {
            // Unknown line count: counted from the start when the index is built.
            store.lock().lines = [u64::MAX; 3];
        }
        store
    }

    /// Builds the line checkpoints of an imported log: one pass over it, at the first read
    /// that needs line numbers.
    fn ensure_indexed(&self) -> io::Result<()> {
        let (head_end, tail_start, total, lines) = {
            let inner = self.lock();
            if !inner.unindexed {
                return Ok(());
            }
            (
                inner.head_end(),
                inner.tail_start(),
                inner.total,
                inner.lines,
            )
        };
        let mut buf = vec![0u8; CHECKPOINT_EVERY as usize];
        let mut count_steps = |lo: u64, hi: u64| -> io::Result<Vec<(u64, u64)>> {
            let mut steps = Vec::new();
            let mut pos = lo;
            while pos < hi {
                let end = hi.min(pos + CHECKPOINT_EVERY);
                let (_, n) = self.read_to(pos, end, &mut buf)?;
                steps.push((pos, memchr::memchr_iter(b'\n', &buf[..n]).count() as u64));
                pos = end;
            }
            Ok(steps)
        };
        let head = count_steps(0, head_end)?;
        let tail = count_steps(tail_start, total)?;
        let single = |lines: u64, tag: Tag| match tag {
            Tag::Stdout => [lines, lines, 0],
            Tag::Stderr => [lines, 0, lines],
            Tag::Mixed => [lines, 0, 0],
        };
        let mut inner = self.lock();
        let tag = inner.head_runs.first().map_or(Tag::Mixed, |r| r.tag);
        let mut seen = 0;
        for (pos, n) in &head {
            inner.head_checkpoints.push(Checkpoint {
                pos: *pos,
                lines: single(seen, tag),
            });
            seen += n;
        }
        if lines[0] == u64::MAX {
            // Only the head is known (see `import`): its count is the whole count.
            inner.lines = single(seen, tag);
        }
        let mut after: u64 = tail.iter().map(|(_, n)| n).sum();
        for (pos, n) in &tail {
            let at = inner.lines[0].saturating_sub(after);
            inner.tail_checkpoints.push_back(Checkpoint {
                pos: *pos,
                lines: single(at, tag),
            });
            after -= n;
        }
        inner.unindexed = false;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
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
        Some(self.lock().lines[0]).filter(|n| *n != u64::MAX)
    }

    /// How the log file is laid out: (head region, circular tail region) sizes.
    pub fn layout(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.head_cap, inner.tail_cap)
    }

    /// The first spool write error, if the disk refused a write (output after it is lost).
    pub fn write_error(&self) -> Option<String> {
        self.lock().write_error.clone()
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
        self.changed.notify_waiters();
    }

    /// The pieces (stored or omitted) that make up `[start, end)`, clamped to what exists.
    pub fn pieces(&self, start: u64, end: u64) -> Vec<Piece> {
        self.lock().pieces(start, end)
    }

    /// Reads stored bytes `[start, end)`, which must lie within one stored region (as a
    /// [`Piece::Data`] does). Bytes that were evicted meanwhile are cut from the front; the
    /// returned position says where the returned bytes start.
    pub fn read(&self, start: u64, end: u64) -> io::Result<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let got = self.read_into(start, end, &mut out)?;
        Ok((got, out))
    }

    /// Like [`OutputStore::read`], appending to `out`; returns where the appended bytes start.
    pub fn read_into(&self, start: u64, end: u64, out: &mut Vec<u8>) -> io::Result<u64> {
        let base = out.len();
        let len = usize::try_from(end.saturating_sub(start)).map_err(io::Error::other)?;
        out.resize(base + len, 0);
        match self.read_to(start, end, &mut out[base..]) {
            Ok((got, n)) => {
                out.truncate(base + n);
                Ok(got)
            }
            Err(e) => {
                out.truncate(base);
                Err(e)
            }
        }
    }

    /// Like [`OutputStore::read`], into `dest` (at least `end - start` bytes): returns where
    /// the bytes read start and how many there are. A long scan reuses one buffer this way,
    /// without clearing it for every read.
    ///
    /// The file is read without the lock, so that the job's writes and other readers (a search
    /// runs on several threads) are not held up by it; the lock is taken again afterwards to
    /// drop what the cap evicted meanwhile.
    pub fn read_to(&self, start: u64, end: u64, dest: &mut [u8]) -> io::Result<(u64, usize)> {
        let plan = self.lock().plan_read(start, end, dest)?;
        let (file, start, len, parts) = match plan {
            ReadPlan::Done { start, len } => return Ok((start, len)),
            ReadPlan::File {
                file,
                start,
                len,
                parts,
            } => (file, start, len, parts),
        };
        let [(first_off, first_len), (second_off, _)] = parts;
        let (first, second) = dest[..len].split_at_mut(first_len);
        file.read_exact_at(first, first_off)?;
        file.read_exact_at(second, second_off)?;
        // Bytes of the circular tail whose place was written over during the read: the writer
        // writes the file before it moves `total`, so anything still stored now was intact.
        let evicted = {
            let inner = self.lock();
            if start >= inner.head_end() {
                inner.tail_start().saturating_sub(start)
            } else {
                0
            }
        };
        let cut = usize::try_from(evicted).unwrap_or(usize::MAX).min(len);
        dest.copy_within(cut..len, 0);
        Ok((start + cut as u64, len - cut))
    }

    /// Number of newlines of `select` before position `pos` (for line numbers).
    pub fn lines_before(&self, pos: u64, select: Select) -> io::Result<u64> {
        self.ensure_indexed()?;
        let (anchor, forward) = self.lock().line_anchor(pos);
        let (lo, hi) = if forward {
            (anchor.pos, pos)
        } else {
            (pos, anchor.pos)
        };
        let between = self.count_newlines(lo, hi, select)?;
        let base = anchor.lines[select.index()];
        Ok(if forward {
            base + between
        } else {
            base.saturating_sub(between)
        })
    }

    fn count_newlines(&self, lo: u64, hi: u64, select: Select) -> io::Result<u64> {
        let mut count = 0u64;
        let mut pos = lo;
        while pos < hi {
            let step_end = hi.min(pos + CHECKPOINT_EVERY);
            for piece in self.pieces(pos, step_end) {
                if let Piece::Data { start, end, tag } = piece
                    && select.wants(tag)
                {
                    let (_, bytes) = self.read(start, end)?;
                    count += memchr::memchr_iter(b'\n', &bytes).count() as u64;
                }
            }
            pos = step_end;
        }
        Ok(count)
    }

    /// Closes the spool file for good and deletes it through `runs`, which deletes only
    /// regular files in run directories: a job may have put a symlink in the log's place.
    pub fn remove(&self, runs: &Runs) -> Result<(), RemoveError> {
        let mut inner = self.lock();
        inner.file = None;
        inner.removed = true;
        drop(inner);
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
        inner.ring = None;
        inner.file = None;
        inner.head_runs.shrink_to_fit();
        inner.tail_runs.shrink_to_fit();
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
    fn head_end(&self) -> u64 {
        self.total.min(self.head_cap)
    }

    /// First position of the stored tail (equal to `head_end` while nothing was omitted).
    fn tail_start(&self) -> u64 {
        self.head_end()
            .max(self.total.saturating_sub(self.tail_cap))
    }

    fn append(&mut self, tag: Tag, data: &[u8]) {
        let len = data.len() as u64;
        if self.total >= self.next_checkpoint {
            let cp = Checkpoint {
                pos: self.total,
                lines: self.lines,
            };
            if self.total < self.head_cap {
                self.head_checkpoints.push(cp);
            } else {
                self.tail_checkpoints.push_back(cp);
            }
            self.next_checkpoint = self.total + CHECKPOINT_EVERY;
        }
        self.push_run(tag);
        if let Err(e) = self.spool(data) {
            self.write_error.get_or_insert_with(|| e.to_string());
        }
        let size = self.ring_size;
        self.ring
            .get_or_insert_with(|| HeapRb::new(size))
            .push_slice_overwrite(data);

        let newlines = memchr::memchr_iter(b'\n', data).count() as u64;
        self.lines[0] += newlines;
        let s = usize::from(tag == Tag::Stderr);
        self.lines[1 + s] += newlines;
        self.by_stream[s] += len;
        self.total += len;
        self.prune();
    }

    fn push_run(&mut self, tag: Tag) {
        let last = self.tail_runs.back().or(self.head_runs.last());
        if last.is_some_and(|r| r.tag == tag) {
            return;
        }
        let run = Run {
            start: self.total,
            tag,
        };
        if self.total < self.head_cap {
            if self.head_runs.len() < MAX_RUNS {
                self.head_runs.push(run);
            } else if let Some(last) = self.head_runs.last_mut() {
                // Out of room: the rest of the head is attributed to no single stream.
                last.tag = Tag::Mixed;
            }
        } else {
            self.tail_runs.push_back(run);
            if self.tail_runs.len() > MAX_RUNS
                && let Some(first) = self.tail_runs.pop_front()
                && let Some(second) = self.tail_runs.front_mut()
            {
                second.start = first.start;
                second.tag = Tag::Mixed;
            }
        }
    }

    /// Drops bookkeeping for positions that fell out of the tail.
    fn prune(&mut self) {
        let tail_start = self.tail_start();
        while self.tail_runs.len() >= 2 && self.tail_runs[1].start <= tail_start {
            self.tail_runs.pop_front();
        }
        // Keep one checkpoint at or before the tail start's next checkpoint: readers count
        // backwards from the first checkpoint inside the stored tail.
        while self
            .tail_checkpoints
            .front()
            .is_some_and(|c| c.pos < tail_start)
        {
            self.tail_checkpoints.pop_front();
        }
    }

    fn file_offset(&self, pos: u64) -> u64 {
        if pos < self.head_cap {
            pos
        } else {
            self.head_cap + (pos - self.head_cap) % self.tail_cap
        }
    }

    /// The spool file, reopened if it was closed; `None` once deleted.
    fn file(&mut self) -> io::Result<Option<&File>> {
        if self.removed {
            return Ok(None);
        }
        if self.file.is_none() {
            self.file = Some(Arc::new(open_regular(
                &self.path,
                File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false),
            )?));
        }
        Ok(self.file.as_deref())
    }

    fn spool(&mut self, mut data: &[u8]) -> io::Result<()> {
        let (head_cap, tail_cap, total) = (self.head_cap, self.tail_cap, self.total);
        let offset = |pos: u64| {
            if pos < head_cap {
                pos
            } else {
                head_cap + (pos - head_cap) % tail_cap
            }
        };
        let Some(file) = self.file()? else {
            return Ok(());
        };
        let mut pos = total;
        if pos < head_cap {
            let n = data
                .len()
                .min(usize::try_from(head_cap - pos).unwrap_or(usize::MAX));
            file.write_all_at(&data[..n], pos)?;
            pos += n as u64;
            data = &data[n..];
        }
        if data.is_empty() {
            return Ok(());
        }
        let cap = usize::try_from(tail_cap).unwrap_or(usize::MAX);
        if data.len() > cap {
            pos += (data.len() - cap) as u64;
            data = &data[data.len() - cap..];
        }
        let off = offset(pos);
        let room = usize::try_from(head_cap + tail_cap - off).unwrap_or(usize::MAX);
        let first = data.len().min(room);
        file.write_all_at(&data[..first], off)?;
        if first < data.len() {
            file.write_all_at(&data[first..], head_cap)?;
        }
        Ok(())
    }

    fn tag_at(&self, pos: u64) -> (Tag, u64) {
        // Returns the tag of the run containing `pos` and where that run ends.
        let find = |runs: &[Run]| -> Option<usize> {
            let i = runs.partition_point(|r| r.start <= pos);
            i.checked_sub(1)
        };
        let (tail_a, tail_b) = self.tail_runs.as_slices();
        let next_start = |after: Option<u64>| after.unwrap_or(u64::MAX);
        if let Some(i) = find(tail_b) {
            let end = next_start(tail_b.get(i + 1).map(|r| r.start));
            return (tail_b[i].tag, end);
        }
        if let Some(i) = find(tail_a) {
            let end = tail_a.get(i + 1).or(tail_b.first()).map(|r| r.start);
            return (tail_a[i].tag, next_start(end));
        }
        if let Some(i) = find(&self.head_runs) {
            let end = self
                .head_runs
                .get(i + 1)
                .or(tail_a.first())
                .or(tail_b.first())
                .map(|r| r.start);
            return (self.head_runs[i].tag, next_start(end));
        }
        let end = self.head_runs.first().or(tail_a.first()).map(|r| r.start);
        (Tag::Mixed, next_start(end))
    }

    fn pieces(&self, start: u64, end: u64) -> Vec<Piece> {
        let end = end.min(self.total);
        let mut out = Vec::new();
        let mut pos = start;
        let head_end = self.head_end();
        let tail_start = self.tail_start();
        while pos < end {
            if pos >= head_end && pos < tail_start {
                let stop = tail_start.min(end);
                out.push(Piece::Omitted {
                    start: pos,
                    end: stop,
                });
                pos = stop;
                continue;
            }
            let region_end = if pos < head_end { head_end } else { end };
            let (tag, run_end) = self.tag_at(pos);
            let stop = run_end.min(region_end).min(end);
            out.push(Piece::Data {
                start: pos,
                end: stop,
                tag,
            });
            pos = stop;
        }
        out
    }

    /// What reading stored bytes `[start, end)` into `dest` takes: bytes still in the ring are
    /// copied at once (they are few, and the ring is only reachable under the lock); others are
    /// to be read from the file at the returned offsets. Evicted bytes are cut from the front.
    fn plan_read(&self, start: u64, end: u64, dest: &mut [u8]) -> io::Result<ReadPlan> {
        let end = end.min(self.total);
        let start = if start >= self.head_end() {
            start.max(self.tail_start())
        } else {
            start
        };
        if start >= end {
            return Ok(ReadPlan::Done { start, len: 0 });
        }
        let len = usize::try_from(end - start).map_err(io::Error::other)?;
        if dest.len() < len {
            return Err(io::Error::other("read buffer too small"));
        }
        let ring_len = self.ring.as_ref().map_or(0, |r| r.occupied_len() as u64);
        if let Some(ring) = &self.ring
            && start >= self.total - ring_len
        {
            let (a, b) = ring.as_slices();
            let skip =
                usize::try_from(start - (self.total - ring_len)).map_err(io::Error::other)?;
            let from_a = a.get(skip..).unwrap_or_default();
            let from_a = &from_a[..from_a.len().min(len)];
            dest[..from_a.len()].copy_from_slice(from_a);
            let from_b = skip.saturating_sub(a.len());
            let from_b = &b[from_b..(from_b + len - from_a.len()).min(b.len())];
            dest[from_a.len()..from_a.len() + from_b.len()].copy_from_slice(from_b);
            return Ok(ReadPlan::Done {
                start,
                len: from_a.len() + from_b.len(),
            });
        }
        if self.removed {
            return Err(io::Error::other("the job's log was deleted"));
        }
        let file = match &self.file {
            Some(f) => Arc::clone(f),
            None => Arc::new(open_regular(&self.path, File::options().read(true))?),
        };
        let off = self.file_offset(start);
        let first = if start < self.head_cap {
            len
        } else {
            len.min(usize::try_from(self.head_cap + self.tail_cap - off).unwrap_or(usize::MAX))
        };
        Ok(ReadPlan::File {
            file,
            start,
            len,
            parts: [(off, first), (self.head_cap, len - first)],
        })
    }

    /// A checkpoint to count lines from: the last one at or before `pos` whose distance to `pos`
    /// is fully stored (`forward`), or else the first one after `pos` (or the end).
    fn line_anchor(&self, pos: u64) -> (Checkpoint, bool) {
        let end = Checkpoint {
            pos: self.total,
            lines: self.lines,
        };
        if pos < self.head_end() {
            let i = self.head_checkpoints.partition_point(|c| c.pos <= pos);
            if let Some(cp) = i.checked_sub(1).map(|i| self.head_checkpoints[i]) {
                return (cp, true);
            }
        }
        let later = self
            .tail_checkpoints
            .iter()
            .find(|c| c.pos >= pos)
            .copied()
            .unwrap_or(end);
        (later, false)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(s: &OutputStore, select: Select) -> (Vec<u8>, u64) {
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

    #[test]
    fn keeps_order_and_streams_apart() {
        let (_d, s) = temp_store(1 << 20, 16);
        s.append(Stream::Stdout, b"out1\n");
        s.append(Stream::Stderr, b"err1\n");
        s.append(Stream::Stdout, b"out2\n");
        assert_eq!(read_all(&s, Select::Combined).0, b"out1\nerr1\nout2\n");
        assert_eq!(read_all(&s, Select::Stdout).0, b"out1\nout2\n");
        assert_eq!(read_all(&s, Select::Stderr).0, b"err1\n");
        let e = s.extent();
        assert_eq!((e.total, e.stdout, e.stderr, e.omitted), (15, 10, 5, 0));
    }

    #[test]
    fn cap_keeps_head_and_tail_and_counts_the_rest() {
        let (_d, s) = temp_store(20, 4);
        for i in 0..100u8 {
            s.append(Stream::Stdout, &[b'a' + i % 26]);
        }
        let (bytes, omitted) = read_all(&s, Select::Combined);
        assert_eq!(bytes.len(), 20);
        assert_eq!(omitted, 80);
        let expect_head: Vec<u8> = (0..10u8).map(|i| b'a' + i % 26).collect();
        let expect_tail: Vec<u8> = (90..100u8).map(|i| b'a' + i % 26).collect();
        assert_eq!(&bytes[..10], &expect_head[..]);
        assert_eq!(&bytes[10..], &expect_tail[..]);
        assert!(
            std::fs::metadata(s.path().expect("path"))
                .expect("meta")
                .len()
                <= 20
        );
    }

    #[test]
    fn big_chunk_larger_than_the_tail() {
        let (_d, s) = temp_store(10, 4);
        let data: Vec<u8> = (0..50u8).collect();
        s.append(Stream::Stdout, &data);
        let (bytes, omitted) = read_all(&s, Select::Combined);
        assert_eq!(omitted, 40);
        assert_eq!(&bytes[..5], &data[..5]);
        assert_eq!(&bytes[5..], &data[45..]);
    }

    /// Reads run without the lock while the job writes over the circular tail: every byte a
    /// read returns must be the byte of the position it is reported at.
    #[test]
    fn reads_racing_the_writer_return_only_intact_bytes() {
        let (_d, s) = temp_store(64 << 10, 512);
        let byte = |pos: u64| (pos % 251) as u8;
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut chunk = vec![0u8; 1000];
                while s.len() < 16 << 20 {
                    let at = s.len();
                    for (i, b) in chunk.iter_mut().enumerate() {
                        *b = byte(at + i as u64);
                    }
                    s.append(Stream::Stdout, &chunk);
                }
                done.store(true, Ordering::Release);
            });
            let mut reads = 0u64;
            let mut cut = 0u64;
            let mut buf = vec![0u8; 16 << 10];
            while !done.load(Ordering::Acquire) || reads < 100 {
                let total = s.len();
                // From inside the tail, somewhat behind the writer.
                let start = total.saturating_sub(40 << 10).max(32 << 10);
                let (got, n) = s
                    .read_to(start, start + (16 << 10), &mut buf)
                    .expect("read");
                assert!(got >= start);
                cut += u64::from(got > start);
                for (i, b) in buf[..n].iter().enumerate() {
                    assert_eq!(*b, byte(got + i as u64), "read at {start}: byte {i}");
                }
                reads += 1;
            }
            assert!(reads >= 100);
            eprintln!("{reads} reads, {cut} cut by eviction");
        });
    }

    #[test]
    fn cursors_stay_valid_across_eviction() {
        let (_d, s) = temp_store(16, 4);
        s.append(Stream::Stdout, b"0123456789");
        let cursor = 9; // inside the tail region
        for _ in 0..10 {
            s.append(Stream::Stdout, b"xyz");
        }
        // The cursor now points into the omitted middle: a read from it reports the gap and
        // continues with the stored tail.
        let pieces = s.pieces(cursor, u64::MAX);
        assert!(matches!(pieces[0], Piece::Omitted { start: 9, .. }));
        let Piece::Data { start, end, .. } = pieces[1] else {
            panic!("expected data after the gap: {pieces:?}");
        };
        assert_eq!(end, 40);
        assert_eq!(start, 32);
        assert_eq!(s.read(start, end).expect("read").1, b"yzxyzxyz");
    }

    #[test]
    fn reads_come_from_ring_or_file_alike() {
        let (_d, s) = temp_store(1 << 20, 8);
        s.append(Stream::Stdout, b"abcdefghijklmnop");
        assert_eq!(s.read(12, 16).expect("ring").1, b"mnop");
        assert_eq!(s.read(2, 6).expect("file").1, b"cdef");
        assert_eq!(s.read(6, 12).expect("both").1, b"ghijkl");
    }

    #[test]
    fn line_numbers_survive_eviction() {
        let (_d, s) = temp_store(64, 8);
        for i in 0..1000 {
            s.append(Stream::Stdout, format!("{i:03}\n").as_bytes());
        }
        // 4 bytes per line: position 3996 starts line 1000 (0-based 999).
        assert_eq!(s.lines_before(3996, Select::Combined).expect("count"), 999);
        assert_eq!(s.lines_before(8, Select::Combined).expect("count"), 2);
    }

    #[test]
    fn pathological_interleaving_stays_bounded() {
        let (_d, s) = temp_store(1 << 30, 8);
        for _ in 0..(MAX_RUNS * 3) {
            s.append(Stream::Stdout, b"o");
            s.append(Stream::Stderr, b"e");
        }
        let inner = s.lock();
        assert!(inner.head_runs.len() + inner.tail_runs.len() <= 2 * MAX_RUNS + 1);
        drop(inner);
        let (out, _) = read_all(&s, Select::Combined);
        assert_eq!(out.len(), MAX_RUNS * 6);
    }
}
