//! `grep` over a job's output: the lines that match a regex, from a cursor, with their line
//! numbers.
//!
//! A big log is searched on every core: the range is cut at line starts into chunks, and each
//! chunk is an independent sequential scan (line numbers come from the store's checkpoints, not
//! from the chunks before). Reading from the page cache is bounded by one core's copy speed, so
//! a second core doubles a scan's speed (BENCHMARKS.md). The first few MiB are searched alone
//! first: a search that fills its limits there (the usual case with common words) starts no
//! thread and does no work past its answer.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use regex::bytes::Regex;

use super::fetch::Piece;
use super::reader::read_after_gaps;
use super::runs::Select;
use super::store::OutputStore;
use super::view::{MAX_LINE, SCAN_LIMIT};
use scan::scan;

mod context;
mod scan;
#[cfg(test)]
mod tests;

pub use context::{Context, with_context};

/// Bytes searched alone, before any other thread is started.
const FIRST_STRETCH: u64 = 4 << 20;
/// Bytes per chunk searched by one thread.
const CHUNK: u64 = 32 << 20;

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrepMatch {
    /// 1-based line number within the stream read.
    pub line: u64,
    pub text: String,
    /// Position of the line's start: a cursor that reads from this line on.
    pub at: u64,
    /// Position just after the line (a cursor that continues after this match).
    pub end: u64,
}

/// Matching lines from a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grep {
    pub matches: Vec<GrepMatch>,
    /// Cursor to continue from (the start of the first line not yet searched).
    pub next: u64,
    pub omitted: u64,
    pub remaining: u64,
}

/// How to read: which stream, how much text at most, cleaned or raw, and whether the job has
/// ended (then a trailing partial line or character is final).
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub select: Select,
    pub max_bytes: usize,
    pub raw: bool,
    pub ended: bool,
}

/// Lines of `how.select` from `since` that match `re`, at most `max_matches` and about
/// `how.max_bytes` of text, scanning at most [`SCAN_LIMIT`] bytes (`next` says where to go on).
pub fn grep(
    store: &OutputStore,
    since: u64,
    re: &Regex,
    max_matches: usize,
    how: Reading,
) -> io::Result<Grep> {
    let split = Split {
        workers: workers(),
        first: FIRST_STRETCH,
        chunk: CHUNK,
    };
    search(store, since, re, max_matches, how, split)
}

/// How a search is shared among threads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Split {
    pub(super) workers: usize,
    /// Bytes searched alone first.
    pub(super) first: u64,
    /// Bytes per chunk after that.
    pub(super) chunk: u64,
}

pub(super) fn search(
    store: &OutputStore,
    since: u64,
    re: &Regex,
    max_matches: usize,
    how: Reading,
    split: Split,
) -> io::Result<Grep> {
    let total = store.len();
    let pos = since.min(total);
    let stop = total.min(pos.saturating_add(SCAN_LIMIT));
    let ends_log = how.ended && stop == total;
    let limits = Limits {
        matches: max_matches,
        bytes: how.max_bytes,
    };
    // Chunks are cut at line starts of the combined output: one stream's lines do not start
    // there, so a one-stream search stays sequential.
    let parallel = split.workers > 1
        && how.select == Select::Combined
        && stop - pos > split.first + split.chunk;
    if !parallel {
        let out = scan(store, pos, stop, ends_log, re, limits, how, &|| false)?;
        return Ok(finish(store, out));
    }
    let mut bounds = vec![pos];
    let mut cut = pos + split.first;
    while cut < stop {
        let at = line_start(store, cut)?.max(*bounds.last().unwrap_or(&pos));
        if at > *bounds.last().unwrap_or(&pos) {
            bounds.push(at);
        }
        cut += split.chunk;
    }
    bounds.push(stop);
    let ranges: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let last = ranges.len() - 1;
    let chunk = |k: usize, abandon: &dyn Fn() -> bool| {
        let (lo, hi) = ranges[k];
        // Inner cuts are line starts (or a forced cut in a line longer than MAX_LINE): what
        // is before them is complete.
        let complete = k < last || ends_log;
        scan(store, lo, hi, complete, re, limits, how, abandon)
    };

    let first = chunk(0, &|| false)?;
    let mut merged = Merged::new(pos, limits);
    if merged.take(store, ranges[0].0, first) {
        return Ok(finish(store, merged.out));
    }

    // The rest in parallel. `full_at` is the first chunk that filled the limits on its own:
    // chunks after it are not needed.
    let results: Vec<Mutex<Option<io::Result<Grep>>>> =
        (0..ranges.len()).map(|_| Mutex::new(None)).collect();
    let next_chunk = AtomicUsize::new(1);
    let full_at = AtomicUsize::new(usize::MAX);
    let work = || {
        loop {
            let k = next_chunk.fetch_add(1, Ordering::Relaxed);
            if k >= ranges.len() || k > full_at.load(Ordering::Relaxed) {
                return;
            }
            let r = chunk(k, &|| full_at.load(Ordering::Relaxed) < k);
            if let Ok(g) = &r
                && limits.reached(&g.matches)
            {
                full_at.fetch_min(k, Ordering::Relaxed);
            }
            *results[k].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..split.workers {
            s.spawn(work);
        }
        work();
    });
    for (k, slot) in results.into_iter().enumerate().skip(1) {
        let Some(r) = slot.into_inner().unwrap_or_else(PoisonError::into_inner) else {
            break;
        };
        if merged.take(store, ranges[k].0, r?) {
            break;
        }
    }
    Ok(finish(store, merged.out))
}

/// Threads a search may use: the machine's cores.
fn workers() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

pub(super) fn finish(store: &OutputStore, mut g: Grep) -> Grep {
    g.remaining = store.len().saturating_sub(g.next);
    g
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) matches: usize,
    pub(super) bytes: usize,
}

impl Limits {
    fn reached(&self, matches: &[GrepMatch]) -> bool {
        matches.len() >= self.matches
            || matches.iter().map(|m| m.text.len()).sum::<usize>() >= self.bytes
    }
}

/// The chunks' results joined in order, up to the limits.
struct Merged {
    out: Grep,
    text_bytes: usize,
    limits: Limits,
}

impl Merged {
    fn new(pos: u64, limits: Limits) -> Self {
        Self {
            out: Grep {
                matches: Vec::new(),
                next: pos,
                omitted: 0,
                remaining: 0,
            },
            text_bytes: 0,
            limits,
        }
    }

    /// Adds the next chunk's result (which started at `start`); true when the limits are
    /// reached (the cursor then continues after the last match taken).
    fn take(&mut self, store: &OutputStore, start: u64, g: Grep) -> bool {
        for m in g.matches {
            self.text_bytes += m.text.len();
            let end = m.end;
            self.out.matches.push(m);
            if self.out.matches.len() >= self.limits.matches || self.text_bytes >= self.limits.bytes
            {
                self.out.next = end;
                self.out.omitted += omitted_between(store, start, end);
                return true;
            }
        }
        self.out.next = g.next;
        self.out.omitted += g.omitted;
        false
    }
}

pub(super) fn omitted_between(store: &OutputStore, start: u64, end: u64) -> u64 {
    store
        .pieces(start, end)
        .iter()
        .map(|p| match p {
            Piece::Omitted { start, end } => end - start,
            Piece::Data { .. } => 0,
        })
        .sum()
}

/// The start of the line that holds `pos` (of the combined output), looking back at most
/// [`MAX_LINE`] stored bytes; `pos` itself when no line start is that close.
fn line_start(store: &OutputStore, pos: u64) -> io::Result<u64> {
    let lo = pos.saturating_sub(MAX_LINE as u64);
    let mut buf = Vec::new();
    let base = read_after_gaps(store, Select::Combined, lo, pos, &mut buf)?.unwrap_or(lo);
    Ok(match memchr::memrchr(b'\n', &buf) {
        Some(i) => base + i as u64 + 1,
        None if base > lo => base,
        None => pos,
    })
}
