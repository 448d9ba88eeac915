//! Reading a journal line by line within a budget: a line too long, or bytes past what a start
//! reads, never reach memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

use super::FILE_NAME;
use super::entry::Entry;
use super::limits;
use crate::state_dir::{Runs, open_regular};

/// What is left to read at this start.
pub(super) struct Budget {
    pub(super) bytes: u64,
    pub(super) lines: u64,
}

/// What reading a journal gave next.
pub(super) enum Next {
    Entry(Entry),
    Skipped(&'static str),
    End,
    OverBudget,
}

/// One journal being read, line by line.
pub(super) struct Reader {
    pub(super) path: PathBuf,
    lines: BufReader<File>,
    line: Vec<u8>,
}

impl Reader {
    /// Run `name`'s journal, if it is a regular file.
    pub(super) fn open(runs: &Runs, name: &str) -> Option<Self> {
        let path = runs.path().join(name).join(FILE_NAME);
        match open_regular(&path, File::options().read(true)) {
            Ok(file) => Some(Self {
                path,
                lines: BufReader::new(file),
                line: Vec::new(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(journal = %path.display(), "journal not read: {e}");
                None
            }
        }
    }

    pub(super) fn next(&mut self, budget: &mut Budget) -> Next {
        if budget.lines == 0 {
            return Next::OverBudget;
        }
        let line = match read_line(&mut self.lines, &mut self.line, &mut budget.bytes) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(journal = %self.path.display(), "journal not read: {e}");
                return Next::OverBudget;
            }
        };
        budget.lines -= 1;
        match line {
            Line::End => Next::End,
            Line::OverBudget => Next::OverBudget,
            Line::TooLong => Next::Skipped("line too long"),
            Line::Kept => match serde_json::from_slice(&self.line) {
                Ok(entry) => Next::Entry(entry),
                Err(_) => Next::Skipped("not a journal entry"),
            },
        }
    }
}

/// What [`read_line`] read.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line, in the buffer (a torn last line too: it does not parse).
    Kept,
    /// A line longer than `MAX_LINE`, read to its end but not kept.
    TooLong,
    End,
    /// The byte budget ran out.
    OverBudget,
}

/// Reads the next line into `line` (without its newline), charging `budget` for every byte read.
fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>, budget: &mut u64) -> io::Result<Line> {
    line.clear();
    let (mut any, mut too_long) = (false, false);
    loop {
        if *budget == 0 {
            return Ok(Line::OverBudget);
        }
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::End,
                (true, false) => Line::Kept,
                (true, true) => Line::TooLong,
            });
        }
        any = true;
        let avail = &chunk[..chunk
            .len()
            .min(usize::try_from(*budget).unwrap_or(usize::MAX))];
        let (part, used, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if !too_long && line.len() + part.len() > limits::MAX_LINE {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(part);
        }
        r.consume(used);
        *budget -= used as u64;
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Kept });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = io::Cursor::new(b"short\nand a longer line\nend".to_vec());
        let mut line = Vec::new();
        let mut budget = 10;
        assert_eq!(
            read_line(&mut r, &mut line, &mut budget).ok(),
            Some(Line::Kept)
        );
        assert_eq!(line, b"short");
        assert_eq!(
            read_line(&mut r, &mut line, &mut budget).ok(),
            Some(Line::OverBudget)
        );
        let mut budget = u64::MAX;
        let long = vec![b'z'; limits::MAX_LINE * 3];
        let mut r = io::Cursor::new([long.as_slice(), b"\nok\n"].concat());
        assert_eq!(
            read_line(&mut r, &mut line, &mut budget).ok(),
            Some(Line::TooLong)
        );
        assert!(line.capacity() <= 2 * limits::MAX_LINE, "not kept");
        assert_eq!(
            read_line(&mut r, &mut line, &mut budget).ok(),
            Some(Line::Kept)
        );
        assert_eq!(line, b"ok");
        assert_eq!(
            read_line(&mut r, &mut line, &mut budget).ok(),
            Some(Line::End)
        );
    }
}
