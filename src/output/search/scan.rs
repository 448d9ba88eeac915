//! One sequential scan of a range of a job's output for the lines that match a regex.

use std::io;

use regex::bytes::Regex;

use super::super::fetch::Piece;
use super::super::reader::{Segment, Segments};
use super::super::store::OutputStore;
use super::super::text::render;
use super::super::view::MAX_LINE;
use super::{Grep, GrepMatch, Limits, Reading};

/// Bytes read per step of a sequential scan.
const WINDOW: u64 = 1 << 20;

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
pub(super) fn scan(
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
                at: map.pos(line_start),
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
