//! The spool file of one job's output, with a cap that keeps the head and the tail.
//!
//! Bytes `[0, head_cap)` are stored at their own offset; later bytes go to a circular region of
//! `tail_cap` bytes after it. Bytes that fell out of that circle are *omitted*.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::state_dir::open_regular;

/// Where positions are kept in the spool file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub(super) head_cap: u64,
    /// Never 0, so that offsets in the circle are defined.
    pub(super) tail_cap: u64,
}

impl Layout {
    pub(super) fn new(head_cap: u64, tail_cap: u64) -> Self {
        Self {
            head_cap,
            tail_cap: tail_cap.max(1),
        }
    }

    /// End of the stored head when `total` bytes were produced.
    pub(super) fn head_end(self, total: u64) -> u64 {
        total.min(self.head_cap)
    }

    /// First position of the stored tail (equal to `head_end` while nothing was omitted).
    pub(super) fn tail_start(self, total: u64) -> u64 {
        self.head_end(total)
            .max(total.saturating_sub(self.tail_cap))
    }

    /// The file offset of stored position `pos`.
    pub(super) fn offset(self, pos: u64) -> u64 {
        if pos < self.head_cap {
            pos
        } else {
            self.head_cap + (pos - self.head_cap) % self.tail_cap
        }
    }

    /// The (offset, length) of the file reads for `len` stored bytes from `start`: up to the end
    /// of the circle, then from its start.
    pub(super) fn parts(self, start: u64, len: usize) -> [(u64, usize); 2] {
        let off = self.offset(start);
        let first = if start < self.head_cap {
            len
        } else {
            len.min(usize::try_from(self.head_cap + self.tail_cap - off).unwrap_or(usize::MAX))
        };
        [(off, first), (self.head_cap, len - first)]
    }
}

/// The spool file: created at the first byte, closed when the job ends (a server may retain
/// thousands of ended jobs) and reopened on demand (never through a symlink, see
/// `open_regular`).
pub(super) struct Spool {
    pub(super) layout: Layout,
    /// Shared with readers, which read the file without the store's lock.
    file: Option<Arc<File>>,
    path: PathBuf,
    /// Set when the file is deleted, or when a job taken over has no log to read.
    removed: bool,
    write_error: Option<String>,
}

impl Spool {
    /// The spool at `path` (none: a job taken over without a log).
    pub(super) fn new(path: Option<&Path>, layout: Layout) -> Self {
        Self {
            layout,
            file: None,
            path: path.map(Path::to_owned).unwrap_or_default(),
            removed: path.is_none(),
            write_error: None,
        }
    }

    /// The first write error, if the disk refused a write (output after it is lost).
    pub(super) fn write_error(&self) -> Option<String> {
        self.write_error.clone()
    }

    /// Stores `data`, produced from position `total` on. A failed write is remembered, not
    /// returned: the job goes on, and reads report the bytes they cannot find.
    pub(super) fn write(&mut self, total: u64, data: &[u8]) {
        if let Err(e) = self.write_at(total, data) {
            self.write_error.get_or_insert_with(|| e.to_string());
        }
    }

    fn write_at(&mut self, total: u64, mut data: &[u8]) -> io::Result<()> {
        let layout = self.layout;
        let Layout { head_cap, tail_cap } = layout;
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
        let off = layout.offset(pos);
        let room = usize::try_from(head_cap + tail_cap - off).unwrap_or(usize::MAX);
        let first = data.len().min(room);
        file.write_all_at(&data[..first], off)?;
        if first < data.len() {
            file.write_all_at(&data[first..], head_cap)?;
        }
        Ok(())
    }

    /// The file for writing, reopened if it was closed; `None` once deleted.
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
                    .truncate(false)
                    .mode(crate::state_dir::FILE_MODE),
            )?));
        }
        Ok(self.file.as_deref())
    }

    /// The file for a read outside the lock: the open one, or else opened for reading only.
    pub(super) fn for_reading(&self) -> io::Result<Arc<File>> {
        if self.removed {
            return Err(io::Error::other("the job's log was deleted"));
        }
        match &self.file {
            Some(f) => Ok(Arc::clone(f)),
            None => Ok(Arc::new(open_regular(
                &self.path,
                File::options().read(true),
            )?)),
        }
    }

    /// Closes the file; a later write or read reopens it.
    pub(super) fn close(&mut self) {
        self.file = None;
    }

    /// Closes the file for good: it is being deleted.
    pub(super) fn remove(&mut self) {
        self.file = None;
        self.removed = true;
    }
}

#[cfg(test)]
mod tests {
    use executors::Stream;

    use super::super::store::{read_all, temp_store};
    use super::super::{Piece, Select};

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
}
