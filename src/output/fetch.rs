//! Stored bytes by position: the pieces (stored or omitted, and from which stream) that make up
//! a range, and reads of stored bytes from the ring or the file that race the writer safely.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::runs::Tag;
use super::store::{Inner, OutputStore};

/// A contiguous piece of a requested range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Stored bytes `[start, end)` from one stream.
    Data { start: u64, end: u64, tag: Tag },
    /// Bytes `[start, end)` that were dropped by the cap.
    Omitted { start: u64, end: u64 },
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

impl OutputStore {
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
}

impl Inner {
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
            let (tag, run_end) = self.runs.tag_at(pos);
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
        if let Some(len) = self.ring.read(self.total, start, &mut dest[..len]) {
            return Ok(ReadPlan::Done { start, len });
        }
        Ok(ReadPlan::File {
            file: self.spool.for_reading()?,
            start,
            len,
            parts: self.spool.layout.parts(start, len),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use executors::Stream;

    use super::super::store::temp_store;

    /// Reads run without the lock while the job writes over the circular tail: every byte a
    /// read returns must be the byte of the position it is reported at.
    #[test]
    fn reads_racing_the_writer_return_only_intact_bytes() {
        let (_d, s) = temp_store(64 << 10, 512);
        let byte = |pos: u64| (pos % 251) as u8;
        let done = AtomicBool::new(false);
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
    fn reads_come_from_ring_or_file_alike() {
        let (_d, s) = temp_store(1 << 20, 8);
        s.append(Stream::Stdout, b"abcdefghijklmnop");
        assert_eq!(s.read(12, 16).expect("ring").1, b"mnop");
        assert_eq!(s.read(2, 6).expect("file").1, b"cdef");
        assert_eq!(s.read(6, 12).expect("both").1, b"ghijkl");
    }
}
