//! The lines around each match (`grep -C`), read with the shared gap-aware reader: never past a
//! gap (bytes the cap dropped), never repeating a line that another match or its context shows.

use std::io;

use super::super::reader::{Segment, Segments, read_after_gaps};
use super::super::runs::Select;
use super::super::store::OutputStore;
use super::super::text::render;
use super::super::view::MAX_LINE;
use super::{Grep, GrepMatch, Reading, omitted_between};

/// Bytes read per step when looking for context lines.
const STEP: u64 = 16 * 1024;
/// Most bytes scanned for one match's context on either side (a stream whose lines are far
/// apart in the combined output, or very long lines, end the context there).
const CONTEXT_SCAN_LIMIT: u64 = 4 << 20;

/// A match with the lines around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub found: GrepMatch,
    /// The lines just before it, oldest first (the first is numbered `line - before.len()`).
    pub before: Vec<String>,
    /// The lines just after it.
    pub after: Vec<String>,
}

/// Adds up to `lines` lines of context before and after each match of `g`, keeping all the
/// text within `max_bytes`: matches whose context would not fit are left for the next call
/// (`next` then points at the first of them).
pub fn with_context(
    store: &OutputStore,
    g: Grep,
    since: u64,
    lines: usize,
    how: Reading,
) -> io::Result<(Vec<Context>, Grep)> {
    let Reading {
        select,
        max_bytes,
        raw,
        ended,
    } = how;
    let Grep {
        matches,
        next,
        omitted,
        remaining,
    } = g;
    let mut out: Vec<Context> = Vec::with_capacity(matches.len());
    let mut size = 0usize;
    let mut cut_at = None;
    for (i, m) in matches.iter().enumerate() {
        // Lines already shown (the previous match and its context) are not shown again.
        let shown = out
            .last()
            .map_or(0, |c: &Context| c.found.line + c.after.len() as u64);
        let room_before = usize::try_from(m.line.saturating_sub(shown + 1)).unwrap_or(usize::MAX);
        let room_after = matches.get(i + 1).map_or(usize::MAX, |n| {
            usize::try_from(n.line.saturating_sub(m.line + 1)).unwrap_or(usize::MAX)
        });
        let before = lines_before(store, select, m.at, lines.min(room_before), raw)?;
        let after = lines_after(store, select, m.end, lines.min(room_after), raw, ended)?;
        let add = m.text.len() + before.iter().chain(&after).map(String::len).sum::<usize>();
        if size + add > max_bytes && !out.is_empty() {
            cut_at = Some(m.at);
            break;
        }
        size += add;
        out.push(Context {
            found: m.clone(),
            before,
            after,
        });
    }
    let g = match cut_at {
        Some(at) => Grep {
            matches: Vec::new(),
            next: at,
            omitted: omitted_between(store, since, at),
            remaining: store.len().saturating_sub(at),
        },
        None => Grep {
            matches: Vec::new(),
            next,
            omitted,
            remaining,
        },
    };
    Ok((out, g))
}

/// One line of text, cut to [`MAX_LINE`] bytes, without its newline.
fn line_text(line: &[u8], raw: bool) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    render(&line[..line.len().min(MAX_LINE)], raw)
}

/// Up to `n` whole lines of `select` that end at `pos` (a line start), oldest first; fewer at
/// the start of the output or at a gap.
fn lines_before(
    store: &OutputStore,
    select: Select,
    pos: u64,
    n: usize,
    raw: bool,
) -> io::Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut bytes: Vec<u8> = Vec::new();
    let mut hi = pos;
    // Whether the first line in `bytes` may have lost its start (a gap, or the scan's limit).
    let mut partial_first = false;
    loop {
        let lo = hi.saturating_sub(STEP);
        let mut block = Vec::new();
        let gap = read_after_gaps(store, select, lo, hi, &mut block)?;
        block.extend_from_slice(&bytes);
        bytes = block;
        let newlines = memchr::memchr_iter(b'\n', &bytes).count();
        if gap.is_some() || pos - lo > CONTEXT_SCAN_LIMIT {
            partial_first = true;
            break;
        }
        // n lines end at n newlines; one more marks the start of the first of them.
        if newlines > n || lo == 0 {
            break;
        }
        hi = lo;
    }
    let mut found: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let whole = found.len() - usize::from(partial_first && !found.is_empty());
    let skip = found.len() - whole.min(n);
    found.drain(..skip);
    Ok(found.into_iter().map(|l| line_text(l, raw)).collect())
}

/// Up to `n` lines of `select` from `pos` (just after a match); fewer at the end of the output
/// or at a gap. A last line without its newline counts only once the job has ended.
fn lines_after(
    store: &OutputStore,
    select: Select,
    pos: u64,
    n: usize,
    raw: bool,
    ended: bool,
) -> io::Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let total = store.len();
    let stop = total.min(pos.saturating_add(CONTEXT_SCAN_LIMIT));
    let mut segments = Segments::new(store, select, pos, stop);
    let mut bytes: Vec<u8> = Vec::new();
    let limit = usize::try_from(STEP).unwrap_or(usize::MAX);
    let mut reached_end = true;
    loop {
        match segments.next_into(&mut bytes, limit)? {
            None => break,
            Some(Segment::Omitted { .. }) => {
                reached_end = false;
                break;
            }
            Some(Segment::Read { start, at, .. }) if at > start => {
                // Overwritten while read: what was read is not next to the match.
                bytes.clear();
                reached_end = false;
                break;
            }
            Some(_) => {}
        }
        if memchr::memchr_iter(b'\n', &bytes).count() >= n {
            reached_end = false;
            break;
        }
    }
    let last_complete = ended && reached_end && stop == total;
    let mut found: Vec<&[u8]> = bytes
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| l.ends_with(b"\n") || last_complete)
        .collect();
    found.truncate(n);
    Ok(found.into_iter().map(|l| line_text(l, raw)).collect())
}
