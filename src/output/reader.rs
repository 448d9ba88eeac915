//! The one walk over a range of a job's output that every reader shares: the stored bytes of
//! one selection of streams, read straight into the caller's buffer, and the gaps between
//! them said as such — bytes the cap dropped, bytes the circular tail overwrote while they
//! were being read, bytes of the other stream, bytes whose stream is no longer known.
//!
//! What to do at a gap is the caller's: a page of output counts it, a search restarts its line
//! numbers after it, a tail stops at it.

use std::io;

use super::fetch::Piece;
use super::runs::{Select, Tag};
use super::store::OutputStore;

/// One step of a walk through [`Segments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Positions `[start, end)` of the selection were read: `len` bytes, from position `at`.
    /// `at` is past `start` when the circular tail overwrote the first bytes while they were
    /// being read (those count as omitted).
    Read {
        start: u64,
        at: u64,
        end: u64,
        len: usize,
    },
    /// Bytes `[start, end)` that the cap dropped.
    Omitted { start: u64, end: u64 },
    /// Bytes `[start, end)` of the stream not selected.
    Other { start: u64, end: u64 },
    /// Bytes `[start, end)` whose stream is no longer known (merged runs, a log of an earlier
    /// run), in a one-stream walk.
    Unknown { start: u64, end: u64 },
}

/// A walk over `[start, end)` of a store, one segment at a time. The range's layout is taken
/// once, at the start (the lock is held only for that and for each read).
pub struct Segments<'s> {
    store: &'s OutputStore,
    select: Select,
    pieces: Vec<Piece>,
    /// The next piece (its start moves on when a read takes only part of it).
    next: usize,
}

impl<'s> Segments<'s> {
    pub fn new(store: &'s OutputStore, select: Select, start: u64, end: u64) -> Self {
        Self {
            store,
            select,
            pieces: store.pieces(start, end),
            next: 0,
        }
    }

    /// The next segment; bytes of the selection are read into the front of `dest`, at most
    /// `dest.len()` of them (the rest of a longer piece comes next). A failed read is skipped:
    /// the walk goes on after it.
    pub fn next_to(&mut self, dest: &mut [u8]) -> io::Result<Option<Segment>> {
        let Some(piece) = self.pieces.get_mut(self.next) else {
            return Ok(None);
        };
        let (start, end, tag) = match *piece {
            Piece::Omitted { start, end } => {
                self.next += 1;
                return Ok(Some(Segment::Omitted { start, end }));
            }
            Piece::Data { start, end, tag } => (start, end, tag),
        };
        if !self.select.wants(tag) {
            self.next += 1;
            return Ok(Some(if tag == Tag::Mixed {
                Segment::Unknown { start, end }
            } else {
                Segment::Other { start, end }
            }));
        }
        let until = end.min(start.saturating_add(dest.len() as u64));
        if until < end {
            *piece = Piece::Data {
                start: until,
                end,
                tag,
            };
        } else {
            self.next += 1;
        }
        let (at, len) = self.store.read_to(start, until, dest)?;
        Ok(Some(Segment::Read {
            start,
            at,
            end: until,
            len,
        }))
    }

    /// Like [`Segments::next_to`], appending at most `limit` bytes to `out`.
    pub fn next_into(&mut self, out: &mut Vec<u8>, limit: usize) -> io::Result<Option<Segment>> {
        let want = match self.pieces.get(self.next) {
            Some(Piece::Data { start, end, tag }) if self.select.wants(*tag) => {
                usize::try_from(end - start)
                    .map_err(io::Error::other)?
                    .min(limit)
            }
            _ => 0,
        };
        let base = out.len();
        out.resize(base + want, 0);
        let segment = self.next_to(&mut out[base..]);
        let kept = match segment {
            Ok(Some(Segment::Read { len, .. })) => len,
            _ => 0,
        };
        out.truncate(base + kept);
        segment
    }
}

/// Appends the bytes of `select` in `[start, end)` to `out`, keeping only those after the last
/// gap (bytes the cap dropped before or while they were read): what `out` holds then runs
/// without a hole up to `end`. Returns where the bytes kept after the last gap start, if there
/// was a gap (then the earlier contents of `out` are gone too).
pub fn read_after_gaps(
    store: &OutputStore,
    select: Select,
    start: u64,
    end: u64,
    out: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    let mut segments = Segments::new(store, select, start, end);
    let mut gap = None;
    loop {
        let base = out.len();
        match segments.next_into(out, usize::MAX)? {
            None => return Ok(gap),
            Some(Segment::Omitted { end, .. }) => {
                out.clear();
                gap = Some(end);
            }
            Some(Segment::Read { start, at, .. }) if at > start => {
                out.drain(..base);
                gap = Some(at);
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use executors::Stream;

    use super::super::store::temp_store;
    use super::*;

    fn walk(s: &OutputStore, select: Select, limit: usize) -> (Vec<Segment>, Vec<u8>) {
        let mut segments = Segments::new(s, select, 0, u64::MAX);
        let (mut seen, mut bytes) = (Vec::new(), Vec::new());
        while let Some(segment) = segments.next_into(&mut bytes, limit).expect("read") {
            seen.push(segment);
        }
        (seen, bytes)
    }

    #[test]
    fn a_walk_says_every_gap_and_reads_the_rest() {
        let (_d, s) = temp_store(16, 4);
        s.append(Stream::Stdout, b"0123456789");
        s.append(Stream::Stderr, b"abcdefghij");
        let (seen, bytes) = walk(&s, Select::Stdout, usize::MAX);
        assert_eq!(
            seen,
            [
                Segment::Read {
                    start: 0,
                    at: 0,
                    end: 8,
                    len: 8
                },
                Segment::Omitted { start: 8, end: 12 },
                Segment::Other { start: 12, end: 20 },
            ]
        );
        assert_eq!(bytes, b"01234567");
        let (_, bytes) = walk(&s, Select::Combined, 3);
        assert_eq!(bytes, b"01234567cdefghij");
    }

    #[test]
    fn only_the_bytes_after_the_last_gap_are_kept() {
        let (_d, s) = temp_store(16, 4);
        s.append(Stream::Stdout, b"0123456789abcdefghij");
        let mut out = b"before".to_vec();
        let gap = read_after_gaps(&s, Select::Combined, 0, 20, &mut out).expect("read");
        assert_eq!((gap, out.as_slice()), (Some(12), &b"cdefghij"[..]));
        let mut out = b"before".to_vec();
        let gap = read_after_gaps(&s, Select::Combined, 0, 5, &mut out).expect("read");
        assert_eq!((gap, out.as_slice()), (None, &b"before01234"[..]));
    }
}
