//! Line numbers: newline counts per stream, and checkpoints every [`CHECKPOINT_EVERY`] bytes so
//! that the number of the line at any stored position is counted from a near checkpoint, not
//! from the start (which the cap may have dropped).

use std::collections::VecDeque;
use std::io;

use super::reader::{Segment, Segments};
use super::runs::{Select, Tag};
use super::store::OutputStore;

/// Where a line starts, by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineAt {
    /// The cursor of the line's first byte.
    Start(u64),
    /// The log cap dropped the line; lines from `first_kept` on are stored.
    Dropped { first_kept: u64 },
    /// The output has no such line (yet): it has `lines` lines.
    Past { lines: u64 },
}

/// Distance between line-count checkpoints.
const CHECKPOINT_EVERY: u64 = 1 << 20;

#[derive(Debug, Clone, Copy)]
pub(super) struct Checkpoint {
    pos: u64,
    /// Newlines before `pos`: combined, stdout, stderr.
    lines: [u64; 3],
}

/// The newline counts and checkpoints of one store.
pub(super) struct LineIndex {
    /// Newlines so far: combined, stdout, stderr (`u64::MAX`: not known yet, see
    /// [`OutputStore::import`]).
    counts: [u64; 3],
    head: Vec<Checkpoint>,
    tail: VecDeque<Checkpoint>,
    next: u64,
    /// A log read back from an earlier run: its checkpoints are built at the first need.
    unindexed: bool,
}

/// Counts of `lines` newlines, all of one stream's (or of no known stream's).
fn of_one_stream(lines: u64, tag: Tag) -> [u64; 3] {
    match tag {
        Tag::Stdout => [lines, lines, 0],
        Tag::Stderr => [lines, 0, lines],
        Tag::Mixed => [lines, 0, 0],
    }
}

impl LineIndex {
    pub(super) fn new() -> Self {
        Self {
            counts: [0; 3],
            head: Vec::new(),
            tail: VecDeque::new(),
            next: 0,
            unindexed: false,
        }
    }

    /// The index of a log read back from an earlier run, all of `tag`, with `lines` newlines
    /// (`None`: unknown, counted when the index is built).
    pub(super) fn imported(lines: Option<u64>, tag: Tag) -> Self {
        Self {
            counts: lines.map_or([u64::MAX; 3], |n| of_one_stream(n, tag)),
            head: Vec::new(),
            tail: VecDeque::new(),
            next: u64::MAX,
            unindexed: true,
        }
    }

    /// Newlines in the whole output so far, if known.
    pub(super) fn newlines(&self) -> Option<u64> {
        Some(self.counts[0]).filter(|n| *n != u64::MAX)
    }

    /// Called before bytes are appended at position `total`: sets a checkpoint when one is due.
    pub(super) fn before_append(&mut self, total: u64, head_cap: u64) {
        if total < self.next {
            return;
        }
        let cp = Checkpoint {
            pos: total,
            lines: self.counts,
        };
        if total < head_cap {
            self.head.push(cp);
        } else {
            self.tail.push_back(cp);
        }
        self.next = total + CHECKPOINT_EVERY;
    }

    /// Counts the newlines of appended bytes of `tag`.
    pub(super) fn count(&mut self, tag: Tag, data: &[u8]) {
        let newlines = memchr::memchr_iter(b'\n', data).count() as u64;
        self.counts[0] += newlines;
        self.counts[1 + usize::from(tag == Tag::Stderr)] += newlines;
    }

    /// Drops the checkpoints before `tail_start`, which fell out of the stored tail. Readers
    /// count backwards from the first checkpoint inside the stored tail.
    pub(super) fn prune(&mut self, tail_start: u64) {
        while self.tail.front().is_some_and(|c| c.pos < tail_start) {
            self.tail.pop_front();
        }
    }

    /// A checkpoint to count lines from: the last one at or before `pos` whose distance to `pos`
    /// is fully stored (`forward`), or else the first one after `pos` (or the end, `total`).
    fn anchor(&self, pos: u64, total: u64, head_end: u64) -> (Checkpoint, bool) {
        let end = Checkpoint {
            pos: total,
            lines: self.counts,
        };
        if pos < head_end {
            let i = self.head.partition_point(|c| c.pos <= pos);
            if let Some(cp) = i.checked_sub(1).map(|i| self.head[i]) {
                return (cp, true);
            }
        }
        let later = self
            .tail
            .iter()
            .find(|c| c.pos >= pos)
            .copied()
            .unwrap_or(end);
        (later, false)
    }

    /// Sets the checkpoints of an imported log of `tag`, from the newlines counted in steps of
    /// its head and of its stored tail: (step start, newlines in the step).
    fn build(&mut self, head: &[(u64, u64)], tail: &[(u64, u64)], tag: Tag) {
        let mut seen = 0;
        for (pos, n) in head {
            self.head.push(Checkpoint {
                pos: *pos,
                lines: of_one_stream(seen, tag),
            });
            seen += n;
        }
        if self.counts[0] == u64::MAX {
            // Only the head is known (see `OutputStore::import`): its count is the whole count.
            self.counts = of_one_stream(seen, tag);
        }
        let mut after: u64 = tail.iter().map(|(_, n)| n).sum();
        for (pos, n) in tail {
            let at = self.counts[0].saturating_sub(after);
            self.tail.push_back(Checkpoint {
                pos: *pos,
                lines: of_one_stream(at, tag),
            });
            after -= n;
        }
        self.unindexed = false;
    }
}

impl OutputStore {
    /// Number of newlines of `select` before position `pos` (for line numbers).
    pub fn lines_before(&self, pos: u64, select: Select) -> io::Result<u64> {
        self.ensure_indexed()?;
        let (anchor, forward) = {
            let inner = self.lock();
            inner.lines.anchor(pos, inner.total, inner.head_end())
        };
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

    /// Where line `n` (1-based) of `select` starts: a cursor that reads from that line on.
    pub fn line_start(&self, n: u64, select: Select) -> io::Result<LineAt> {
        self.ensure_indexed()?;
        // The line starts after the (n-1)th newline of the selection.
        let want = n.saturating_sub(1);
        let (from, mut seen, total, tail_start, last) = {
            let inner = self.lock();
            let idx = select.index();
            let have = inner.lines.counts[idx];
            // The line after the last newline: there only if bytes of the selection follow.
            let last = have == want && n > 1;
            if have < want {
                return Ok(LineAt::Past { lines: have });
            }
            let (head_end, tail_start) = (inner.head_end(), inner.tail_start());
            // The last checkpoint at or before the line, in a stored region: from there on
            // every byte up to the line is stored (or the walk meets the cap's gap).
            let tail = inner.lines.tail.iter().rev().find(|c| c.pos >= tail_start);
            let tail = tail.filter(|c| c.lines[idx] <= want);
            let mut head = inner.lines.head.iter().rev();
            let head = head.find(|c| c.pos < head_end && c.lines[idx] <= want);
            match tail.or(head) {
                Some(c) => (c.pos, c.lines[idx], inner.total, tail_start, last),
                None => (0, 0, inner.total, tail_start, last),
            }
        };
        let found = |pos: u64| {
            if !last {
                return LineAt::Start(pos);
            }
            let mut rest = Segments::new(self, select, pos, total);
            let mut probe = [0u8; 1];
            let more = loop {
                match rest.next_to(&mut probe) {
                    Ok(Some(Segment::Read { len, .. })) if len > 0 => break true,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break false,
                }
            };
            if !more {
                LineAt::Past { lines: want }
            } else {
                LineAt::Start(pos)
            }
        };
        if want == seen {
            return Ok(found(from));
        }
        let mut segments = Segments::new(self, select, from, total);
        let mut buf = Vec::new();
        let mut restarted = false;
        loop {
            buf.clear();
            let Some(segment) = segments.next_into(&mut buf, CHECKPOINT_EVERY as usize)? else {
                return Ok(LineAt::Past { lines: seen });
            };
            match segment {
                Segment::Read { start, at, .. } if at == start => {
                    let left = usize::try_from(want - seen).unwrap_or(usize::MAX);
                    match memchr::memchr_iter(b'\n', &buf).nth(left - 1) {
                        Some(i) => return Ok(found(at + i as u64 + 1)),
                        None => seen += memchr::memchr_iter(b'\n', &buf).count() as u64,
                    }
                }
                // The cap dropped the bytes where the line starts, or they were overwritten
                // while read: count again from the stored tail, if the line is there.
                Segment::Omitted { .. } | Segment::Read { .. } => {
                    let before_tail = self.lines_before(tail_start, select)?;
                    if want <= before_tail || restarted {
                        return Ok(LineAt::Dropped {
                            first_kept: before_tail + 2,
                        });
                    }
                    restarted = true;
                    seen = before_tail;
                    segments = Segments::new(self, select, tail_start, total);
                }
                Segment::Other { .. } | Segment::Unknown { .. } => {}
            }
        }
    }

    fn count_newlines(&self, lo: u64, hi: u64, select: Select) -> io::Result<u64> {
        let mut count = 0u64;
        let mut pos = lo;
        let mut buf = Vec::new();
        while pos < hi {
            let step_end = hi.min(pos + CHECKPOINT_EVERY);
            let mut segments = Segments::new(self, select, pos, step_end);
            while segments.next_into(&mut buf, usize::MAX)?.is_some() {
                count += memchr::memchr_iter(b'\n', &buf).count() as u64;
                buf.clear();
            }
            pos = step_end;
        }
        Ok(count)
    }

    /// Builds the line checkpoints of an imported log: one pass over it, at the first read
    /// that needs line numbers.
    fn ensure_indexed(&self) -> io::Result<()> {
        let (head_end, tail_start, total) = {
            let inner = self.lock();
            if !inner.lines.unindexed {
                return Ok(());
            }
            (inner.head_end(), inner.tail_start(), inner.total)
        };
        // At most CHECKPOINT_EVERY bytes per step: fits.
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
        let mut inner = self.lock();
        // Another reader may have built them while this one counted: building twice would
        // double the checkpoints (and the line numbers read from them).
        if inner.lines.unindexed {
            let tag = inner.runs.first_tag();
            inner.lines.build(&head, &tail, tag);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use executors::Stream;

    use super::super::store::temp_store;
    use super::*;

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
    fn lines_are_found_by_number_in_each_stream_and_past_the_cap() {
        let (_d, s) = temp_store(1 << 20, 8);
        s.append(Stream::Stdout, b"o1\no2\n");
        s.append(Stream::Stderr, b"e1\n");
        s.append(Stream::Stdout, b"o3\n");
        let at = |n, select| s.line_start(n, select).expect("line");
        assert_eq!(at(1, Select::Combined), LineAt::Start(0));
        assert_eq!(at(3, Select::Combined), LineAt::Start(6));
        // Just after stdout's second newline: a stdout read from there skips stderr's line.
        assert_eq!(at(3, Select::Stdout), LineAt::Start(6));
        assert_eq!(at(2, Select::Stderr), LineAt::Past { lines: 1 });
        assert_eq!(at(9, Select::Combined), LineAt::Past { lines: 4 });

        let (_d, s) = temp_store(64, 8);
        for i in 0..1000 {
            s.append(Stream::Stdout, format!("{i:03}\n").as_bytes());
        }
        // Kept: the first 32 bytes (lines 1-8) and the last 32 (lines 993-1000).
        assert_eq!(
            s.line_start(8, Select::Combined).expect("line"),
            LineAt::Start(28)
        );
        assert_eq!(
            s.line_start(995, Select::Combined).expect("line"),
            LineAt::Start(3976)
        );
        assert!(matches!(
            s.line_start(500, Select::Combined).expect("line"),
            LineAt::Dropped { .. }
        ));
    }
}
