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
use super::reader::{Segment, Segments, read_after_gaps};
use super::runs::Select;
use super::store::OutputStore;
use super::text::render;
use super::view::{MAX_LINE, SCAN_LIMIT};

/// Bytes read per step of a sequential scan.
const WINDOW: u64 = 1 << 20;
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
struct Split {
    workers: usize,
    /// Bytes searched alone first.
    first: u64,
    /// Bytes per chunk after that.
    chunk: u64,
}

fn search(
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

fn finish(store: &OutputStore, mut g: Grep) -> Grep {
    g.remaining = store.len().saturating_sub(g.next);
    g
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    matches: usize,
    bytes: usize,
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

fn omitted_between(store: &OutputStore, start: u64, end: u64) -> u64 {
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

/// Positions of the bytes gathered in a buffer (a buffer of one stream's bytes is not one
/// contiguous range of positions).
#[derive(Default)]
struct PosMap {
    /// (offset in buffer, position) at the start of each contiguous segment.
    segs: Vec<(usize, u64)>,
}

impl PosMap {
    fn push(&mut self, off: usize, pos: u64) {
        self.segs.push((off, pos));
    }

    fn pos(&self, off: usize) -> u64 {
        let i = self.segs.partition_point(|(o, _)| *o <= off);
        match i.checked_sub(1).map(|i| self.segs[i]) {
            Some((o, p)) => p + (off - o) as u64,
            None => 0,
        }
    }

    /// The position just after buffer byte `off - 1` (a buffer's end is not a segment start).
    fn end_pos(&self, off: usize, len: usize) -> u64 {
        if off >= len && off > 0 {
            self.pos(off - 1) + 1
        } else {
            self.pos(off)
        }
    }

    /// Keeps the mapping for buffer bytes from `from` on, renumbered from 0.
    fn shift(&mut self, from: usize, end_pos: u64) -> PosMap {
        let mut out = PosMap::default();
        if from < usize::MAX {
            let start = self.pos(from);
            out.push(0, start);
            for (o, p) in &self.segs {
                if *o > from {
                    out.push(o - from, *p);
                }
            }
        } else {
            out.push(0, end_pos);
        }
        out
    }
}

/// One sequential scan of the lines that start in `[since, stop)`. `complete` says that
/// `stop` ends a line (the job's end, or a chunk's cut), so the last line is searched even
/// without its newline. `abandon` is asked between windows: when it says so, the scan stops
/// (its result is not wanted).
#[allow(clippy::too_many_arguments)]
fn scan(
    store: &OutputStore,
    since: u64,
    stop: u64,
    complete: bool,
    re: &Regex,
    limits: Limits,
    how: Reading,
    abandon: &dyn Fn() -> bool,
) -> io::Result<Grep> {
    let Reading { select, raw, .. } = how;
    let stop = stop.min(store.len());
    let mut pos = since.min(stop);
    let mut omitted = 0;
    // Start after any omitted bytes, where line numbers can be known.
    for piece in store.pieces(pos, stop) {
        match piece {
            Piece::Omitted { start, end } => {
                omitted += end - start;
                pos = end;
            }
            Piece::Data { .. } => break,
        }
    }
    let mut line_no = store.lines_before(pos, select)? + 1;
    // Whether `line_no` is the number of the line at the start of `buf`.
    let mut known = true;
    let mut matches = Vec::new();
    let mut text_bytes = 0usize;
    // The partial line carried over (at most MAX_LINE bytes) and one window: allocated once,
    // never cleared (reads overwrite it).
    let window = (stop - pos).min(WINDOW) as usize; // at most WINDOW: fits
    let mut buf = vec![0u8; window + MAX_LINE];
    let mut filled = 0usize;
    let mut map = PosMap::default();
    map.push(0, pos);
    let mut next = pos;
    while pos < stop {
        if abandon() {
            break;
        }
        let window_end = stop.min(pos + WINDOW);
        let mut segments = Segments::new(store, select, pos, window_end);
        loop {
            let at = filled;
            let Some(segment) = segments.next_to(&mut buf[at..])? else {
                break;
            };
            match segment {
                Segment::Omitted { start, end } => {
                    // Evicted while we read: line numbers after the gap restart from the store's
                    // count, and the partial line before it is dropped.
                    omitted += end - start;
                    filled = 0;
                    map = PosMap::default();
                    map.push(0, end);
                    line_no = store.lines_before(end, select)? + 1;
                    known = true;
                }
                Segment::Read {
                    start,
                    at: got,
                    len,
                    ..
                } => {
                    filled += len;
                    omitted += got - start;
                    map.push(at, got);
                }
                Segment::Unknown { start, end } => omitted += end - start,
                Segment::Other { .. } => {}
            }
        }
        pos = window_end;
        let all = complete && pos == stop;
        let searchable = if all {
            filled
        } else {
            memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1)
        };
        let region = &buf[..searchable];
        let mut at = 0usize;
        let mut counted = 0usize;
        let mut full = false;
        while at < region.len() {
            let Some(m) = re.find_at(region, at) else {
                break;
            };
            let line_start = memchr::memrchr(b'\n', &region[..m.start()]).map_or(0, |i| i + 1);
            let line_end = memchr::memchr(b'\n', &region[m.start()..])
                .map_or(region.len(), |i| m.start() + i + 1);
            if line_start < counted {
                // A match spanning lines: already reported with its first line.
                at = line_end;
                continue;
            }
            if known {
                line_no += memchr::memchr_iter(b'\n', &region[counted..line_start]).count() as u64;
            } else {
                // Lines were skipped uncounted: ask the store (it counts from a checkpoint).
                line_no = store.lines_before(map.pos(line_start), select)? + 1;
                known = true;
            }
            counted = line_start;
            let line = &region[line_start..line_end];
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = &line[..line.len().min(MAX_LINE)];
            let text = render(line, raw);
            text_bytes += text.len();
            matches.push(GrepMatch {
                line: line_no,
                text,
                end: map.end_pos(line_end, filled),
            });
            at = line_end;
            if matches.len() >= limits.matches || text_bytes >= limits.bytes {
                full = true;
                break;
            }
        }
        let done_to = if full { at } else { searchable };
        // Counting every newline would cost a pass over the log; lines after the last match
        // are only counted if another match needs their number (see above).
        if counted < done_to {
            known = false;
        }
        next = if done_to >= filled {
            if all {
                stop
            } else {
                map.end_pos(done_to, filled)
            }
        } else {
            map.pos(done_to)
        };
        if filled == 0 {
            next = pos;
        }
        if full {
            break;
        }
        // Keep the partial last line.
        buf.copy_within(done_to..filled, 0);
        filled -= done_to;
        map = map.shift(done_to, next);
        if filled > MAX_LINE {
            // A line too long to hold: skip its start.
            let drop = filled - MAX_LINE;
            buf.copy_within(drop..filled, 0);
            filled = MAX_LINE;
            map = map.shift(drop, next);
        }
    }
    Ok(Grep {
        matches,
        next,
        omitted,
        remaining: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::view::compile_pattern;
    use executors::Stream;

    const ALL: Reading = Reading {
        select: Select::Combined,
        max_bytes: 1 << 20,
        raw: false,
        ended: true,
    };

    fn store() -> (tempfile::TempDir, OutputStore) {
        super::super::store::temp_store(1 << 30, 1024)
    }

    #[test]
    fn grep_reports_line_numbers_and_continues_from_its_cursor() {
        let (_d, s) = store();
        for i in 1..=5000 {
            s.append(Stream::Stdout, format!("row {i}\n").as_bytes());
        }
        let re = compile_pattern("^row 4[0-9]{3}$").expect("re");
        let g = grep(&s, 0, &re, 3, ALL).expect("grep");
        assert_eq!(g.matches.len(), 3);
        assert_eq!(g.matches[0].line, 4000);
        assert_eq!(g.matches[0].text, "row 4000");
        let g2 = grep(&s, g.next, &re, 1000, ALL).expect("grep");
        assert_eq!(g2.matches[0].line, 4003);
        assert_eq!(g2.matches.len(), 997);
        assert_eq!(g2.next, s.len());
    }

    /// Lines of every length (some longer than MAX_LINE, so that some chunks are cut inside a
    /// line), on both streams.
    fn big_store(cap: u64) -> (tempfile::TempDir, OutputStore) {
        let (dir, s) = super::super::store::temp_store(cap, 1024);
        let mut seed = 7u64;
        let mut line = 0u64;
        while s.len() < 12 << 20 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            line += 1;
            let len = match seed >> 58 {
                0 => (seed >> 20) as usize % (3 * MAX_LINE),
                _ => (seed >> 20) as usize % 200,
            };
            let word = if seed.is_multiple_of(7) {
                "needle"
            } else {
                "hay"
            };
            // Lines longer than MAX_LINE lose their start (where the scan's windows fall
            // decides which part): they hold nothing to find.
            let text = if len > MAX_LINE - 64 {
                format!("{}\n", "x".repeat(len))
            } else {
                format!("{line} {word} {}\n", "x".repeat(len))
            };
            let stream = if seed.is_multiple_of(5) {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            s.append(stream, text.as_bytes());
        }
        (dir, s)
    }

    /// The chunked search finds exactly what one sequential scan finds, whatever the limits,
    /// with and without bytes omitted by the cap.
    #[test]
    fn chunked_search_equals_one_sequential_scan() {
        let re = compile_pattern("needle|^1234 ").expect("re");
        for cap in [1 << 30, 8 << 20] {
            let (_d, s) = big_store(cap);
            let limits = |matches, bytes| Limits { matches, bytes };
            for (max, bytes) in [
                (1, 1 << 20),
                (7, 1 << 20),
                (300, 1 << 20),
                (100_000, 1 << 30),
                (100_000, 4096),
                (100_000, 40_000),
            ] {
                for since in [0, 3 << 20] {
                    let how = Reading {
                        max_bytes: bytes,
                        ..ALL
                    };
                    let one = scan(
                        &s,
                        since,
                        s.len(),
                        true,
                        &re,
                        limits(max, bytes),
                        how,
                        &|| false,
                    )
                    .expect("scan");
                    let one = finish(&s, one);
                    let split = Split {
                        workers: 3,
                        first: 1 << 20,
                        chunk: 256 << 10,
                    };
                    let chunked = search(&s, since, &re, max, how, split).expect("search");
                    assert_eq!(
                        chunked.matches.len(),
                        one.matches.len(),
                        "cap {cap} max {max}"
                    );
                    assert_eq!(
                        chunked, one,
                        "cap {cap} max {max} bytes {bytes} since {since}"
                    );
                    if max > 1000 && bytes > 1 << 20 && since == 0 {
                        // Matches in many chunks, more than the limits above let through.
                        assert!(one.matches.len() > 600, "{}", one.matches.len());
                    }
                }
            }
        }
    }
}
