//! Reading a job's output for an agent: from a cursor, the last N lines, or the lines matching a
//! regex. Every function here bounds both the work it does and the size of what it returns, and
//! takes the store's lock only for one bounded read at a time (a job is never held up by a reader).

use std::io;

use regex::bytes::Regex;

use super::reader::{Segment, Segments, read_after_gaps};
use super::runs::Select;
use super::store::OutputStore;
use super::text::{complete_prefix_len, render};

/// Bytes read backwards per step by `tail`.
const TAIL_BLOCK: u64 = 64 * 1024;
/// Most bytes `tail` scans looking for matching lines before it gives up.
const TAIL_SCAN_LIMIT: u64 = 64 << 20;
/// Most bytes a filtered `read` or a `grep` scans in one call; the cursor says where to go on.
pub(super) const SCAN_LIMIT: u64 = 512 << 20;
/// A line longer than this is cut (its start dropped) by `tail` and `grep`.
pub(super) const MAX_LINE: usize = 64 * 1024;

/// Compiles an agent's `grep`/`until` pattern: `^` and `$` match at line boundaries, and the
/// compiled size is bounded so that a hostile pattern cannot exhaust memory.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    regex::bytes::RegexBuilder::new(pattern)
        .multi_line(true)
        .size_limit(8 << 20)
        .dfa_size_limit(8 << 20)
        .build()
        .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

/// Bytes from a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    /// Cursor to pass as `since` to continue after this chunk.
    pub next: u64,
    /// Bytes in the range read that the log cap dropped (or, for one stream, whose stream is
    /// no longer known).
    pub omitted: u64,
    /// Bytes (of all streams) after `next` that exist now.
    pub remaining: u64,
}

/// Reads from `since`, at most `max_bytes` of `select`'s bytes. `ended` says the job will write
/// no more, so a trailing partial character or escape sequence is final and is returned.
pub fn read(
    store: &OutputStore,
    since: u64,
    select: Select,
    max_bytes: usize,
    raw: bool,
    ended: bool,
) -> io::Result<Chunk> {
    read_until(store, since, u64::MAX, select, max_bytes, raw, ended)
}

/// Like [`read`], stopping at `until` (a line start: what comes before it is complete).
pub fn read_until(
    store: &OutputStore,
    since: u64,
    until: u64,
    select: Select,
    max_bytes: usize,
    raw: bool,
    ended: bool,
) -> io::Result<Chunk> {
    let len = store.len();
    let total = until.min(len);
    let complete = (ended && total == len) || total < len;
    let mut pos = since.min(total);
    let mut bytes: Vec<u8> = Vec::new();
    let mut omitted = 0;
    let mut scanned = 0;
    let mut last_len = 0usize;
    let mut segments = Segments::new(store, select, pos, total);
    loop {
        let room = max_bytes - bytes.len();
        let Some(segment) = segments.next_into(&mut bytes, room)? else {
            break;
        };
        match segment {
            Segment::Omitted { start, end } => {
                omitted += end - start;
                pos = end;
            }
            Segment::Other { start, end } | Segment::Unknown { start, end } => {
                if matches!(segment, Segment::Unknown { .. }) {
                    omitted += end - start;
                }
                pos = end;
                scanned += end - start;
                if scanned > SCAN_LIMIT {
                    break;
                }
            }
            Segment::Read {
                start,
                at,
                end,
                len,
            } => {
                omitted += at - start;
                last_len = len;
                pos = end;
                if bytes.len() >= max_bytes {
                    break;
                }
            }
        }
    }
    if !(complete && pos == total) {
        let keep = complete_prefix_len(&bytes);
        let cut = bytes.len() - keep;
        // Only within the last contiguous read (so that `pos` can step back), and never all of
        // it (so that a reader always makes progress).
        if cut > 0 && cut <= last_len && keep > 0 {
            bytes.truncate(keep);
            pos -= cut as u64;
        }
    }
    Ok(Chunk {
        text: render(&bytes, raw),
        next: pos,
        omitted,
        remaining: store.len().saturating_sub(pos),
    })
}

/// The last lines of a job's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub text: String,
    /// Lines returned.
    pub lines: usize,
    /// Where new output will start: pass it to `output` as `since`.
    pub cursor: u64,
    /// Whether older lines were dropped to fit the size bound, or the scan stopped at omitted
    /// bytes or at its limit before finding `lines` lines.
    pub truncated: bool,
}

/// The last `lines` lines of `select` (only those matching `grep`, when given), at most
/// `max_bytes` of text.
pub fn tail(
    store: &OutputStore,
    lines: usize,
    select: Select,
    grep: Option<&Regex>,
    max_bytes: usize,
    raw: bool,
) -> io::Result<Tail> {
    let cursor = store.len();
    let mut found: Vec<Vec<u8>> = Vec::new(); // newest first
    let mut carry: Vec<u8> = Vec::new();
    let mut hi = cursor;
    let mut stopped_early = false;
    let mut found_bytes = 0usize;
    while found.len() < lines && hi > 0 {
        if cursor - hi > TAIL_SCAN_LIMIT || found_bytes > max_bytes {
            stopped_early = true;
            break;
        }
        let lo = hi.saturating_sub(TAIL_BLOCK);
        let mut block = Vec::new();
        let hit_gap = read_after_gaps(store, select, lo, hi, &mut block)?.is_some();
        block.extend_from_slice(&carry);
        let last_block = lo == 0 || hit_gap;
        let split = if last_block {
            0
        } else {
            memchr::memchr(b'\n', &block).map_or(block.len(), |i| i + 1)
        };
        for line in block[split..].split_inclusive(|b| *b == b'\n').rev() {
            if grep.is_none_or(|re| re.is_match(line)) {
                let line = &line[line.len().saturating_sub(MAX_LINE)..];
                found_bytes += line.len();
                found.push(line.to_vec());
                if found.len() == lines {
                    break;
                }
            }
        }
        carry = block[..split].to_vec();
        if carry.len() > MAX_LINE {
            carry.drain(..carry.len() - MAX_LINE);
        }
        if hit_gap {
            stopped_early = found.len() < lines;
            break;
        }
        hi = lo;
    }
    let mut truncated = stopped_early;
    let mut size = 0usize;
    let mut keep = 0usize;
    for line in &found {
        if size + line.len() > max_bytes && keep > 0 {
            truncated = true;
            break;
        }
        size += line.len();
        keep += 1;
    }
    found.truncate(keep);
    found.reverse();
    let mut joined: Vec<u8> = found.concat();
    if joined.len() > max_bytes {
        joined.drain(..joined.len() - max_bytes);
        truncated = true;
    }
    Ok(Tail {
        text: render(&joined, raw),
        lines: found.len(),
        cursor,
        truncated,
    })
}

/// Bytes `last_line` reads back from the end.
const LAST_LINE_BLOCK: u64 = 4096;

/// The last line of the combined output that has any text (the line being written counts: a
/// prompt has no newline), cleaned and trimmed; a longer line is cut to `max` characters with
/// its end kept, where a prompt's question is. `None` when there is none in the last few KiB.
pub fn last_line(store: &OutputStore, max: usize) -> Option<String> {
    let total = store.len();
    let mut bytes = Vec::new();
    // Across gaps, and past a failed read: this is a hint, not a read an agent pages through.
    let mut segments = Segments::new(
        store,
        Select::Combined,
        total.saturating_sub(LAST_LINE_BLOCK),
        total,
    );
    while !matches!(segments.next_into(&mut bytes, usize::MAX), Ok(None)) {}
    let text = render(&bytes, false);
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    let chars = line.chars().count();
    if chars <= max {
        return Some(line.to_owned());
    }
    let mut cut = String::from("…");
    cut.extend(line.chars().skip(chars - max.saturating_sub(1)));
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use executors::Stream;

    fn store() -> (tempfile::TempDir, OutputStore) {
        super::super::store::temp_store(1 << 30, 1024)
    }

    #[test]
    fn read_pages_through_with_cursors() {
        let (_d, s) = store();
        s.append(Stream::Stdout, b"hello world\n");
        let a = read(&s, 0, Select::Combined, 5, false, false).expect("read");
        assert_eq!((a.text.as_str(), a.next, a.remaining), ("hello", 5, 7));
        let b = read(&s, a.next, Select::Combined, 100, false, false).expect("read");
        assert_eq!((b.text.as_str(), b.next), (" world\n", 12));
    }

    #[test]
    fn read_one_stream_with_the_shared_cursor() {
        let (_d, s) = store();
        s.append(Stream::Stdout, b"o1\n");
        s.append(Stream::Stderr, b"e1\n");
        s.append(Stream::Stdout, b"o2\n");
        let e = read(&s, 0, Select::Stderr, 100, false, false).expect("read");
        assert_eq!((e.text.as_str(), e.next), ("e1\n", 9));
        let o = read(&s, 3, Select::Stdout, 100, false, false).expect("read");
        assert_eq!(o.text, "o2\n");
    }

    #[test]
    fn utf8_split_across_chunks_is_not_mangled() {
        let (_d, s) = store();
        let euro = "€".as_bytes();
        s.append(Stream::Stdout, b"a");
        s.append(Stream::Stdout, &euro[..1]);
        let first = read(&s, 0, Select::Combined, 100, false, false).expect("read");
        assert_eq!((first.text.as_str(), first.next), ("a", 1));
        s.append(Stream::Stdout, &euro[1..]);
        let second = read(&s, first.next, Select::Combined, 100, false, false).expect("read");
        assert_eq!(second.text, "€");
    }

    #[test]
    fn tail_counts_lines_and_handles_a_partial_last_line() {
        let (_d, s) = store();
        for i in 0..100_000 {
            s.append(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        s.append(Stream::Stdout, b"partial");
        let t = tail(&s, 3, Select::Combined, None, 1 << 20, false).expect("tail");
        assert_eq!(t.text, "line 99998\nline 99999\npartial");
        assert_eq!(t.lines, 3);
        assert_eq!(t.cursor, s.len());
    }

    #[test]
    fn tail_filters_by_stream_and_regex() {
        let (_d, s) = store();
        for i in 0..1000 {
            s.append(Stream::Stdout, format!("out {i}\n").as_bytes());
            if i % 100 == 0 {
                s.append(Stream::Stderr, format!("error {i}\n").as_bytes());
            }
        }
        let t = tail(&s, 2, Select::Stderr, None, 1 << 20, false).expect("tail");
        assert_eq!(t.text, "error 800\nerror 900\n");
        let re = compile_pattern("out 1[0-9]$").expect("re");
        let t = tail(&s, 100, Select::Combined, Some(&re), 1 << 20, false).expect("tail");
        assert_eq!(t.lines, 10);
        assert!(t.text.starts_with("out 10\n"));
    }

    #[test]
    fn last_line_is_the_prompt_cleaned_with_its_end_kept() {
        let (_d, s) = store();
        assert_eq!(last_line(&s, 20), None);
        s.append(Stream::Stdout, b"Reading lists... Done\n");
        s.append(
            Stream::Stderr,
            b"\x1b[1mDo you want to continue? [Y/n] \x1b[0m",
        );
        assert_eq!(
            last_line(&s, 200).as_deref(),
            Some("Do you want to continue? [Y/n]")
        );
        assert_eq!(last_line(&s, 8).as_deref(), Some("…? [Y/n]"));
        s.append(Stream::Stdout, b"\n\n");
        assert_eq!(
            last_line(&s, 200).as_deref(),
            Some("Do you want to continue? [Y/n]")
        );
    }
}
