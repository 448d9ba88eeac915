//! Which stream each byte came from: the output is one sequence of positions (stdout and stderr
//! in the order they were read), and a list of runs says where each stream's stretches start.
//! The list is bounded: past [`MAX_RUNS`] runs per region, the oldest are merged into `Mixed`
//! ones, so that a job interleaving single bytes cannot exhaust memory.

use std::collections::VecDeque;

use executors::Stream;

/// Which stream a run of bytes came from. `Mixed` marks old runs merged to bound memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Stdout,
    Stderr,
    Mixed,
}

impl From<Stream> for Tag {
    fn from(s: Stream) -> Self {
        match s {
            Stream::Stdout => Tag::Stdout,
            Stream::Stderr => Tag::Stderr,
        }
    }
}

/// Which bytes a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Combined,
    Stdout,
    Stderr,
}

impl Select {
    /// Whether bytes of `tag` belong to this selection.
    pub fn wants(self, tag: Tag) -> bool {
        match self {
            Select::Combined => true,
            Select::Stdout => tag == Tag::Stdout,
            Select::Stderr => tag == Tag::Stderr,
        }
    }

    /// This selection's slot in per-selection counters (combined, stdout, stderr).
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Most stream runs kept per region before the oldest are merged into `Mixed` ones.
pub(super) const MAX_RUNS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    tag: Tag,
}

/// The runs of the stored head (kept, up to [`MAX_RUNS`]) and of the circular tail (pruned as
/// the tail moves on).
#[derive(Debug, Default)]
pub(super) struct StreamRuns {
    head: Vec<Run>,
    tail: VecDeque<Run>,
}

impl StreamRuns {
    /// One run of `tag` from position 0 (a log read back from an earlier run), or none when
    /// there is no byte.
    pub(super) fn single(tag: Tag, total: u64) -> Self {
        let head = if total > 0 {
            vec![Run { start: 0, tag }]
        } else {
            Vec::new()
        };
        Self {
            head,
            tail: VecDeque::new(),
        }
    }

    /// The tag of the first run (`Mixed` when there is none).
    pub(super) fn first_tag(&self) -> Tag {
        self.head.first().map_or(Tag::Mixed, |r| r.tag)
    }

    /// Notes that bytes of `tag` follow at position `total` (the head ends at `head_cap`).
    pub(super) fn push(&mut self, tag: Tag, total: u64, head_cap: u64) {
        let last = self.tail.back().or(self.head.last());
        if last.is_some_and(|r| r.tag == tag) {
            return;
        }
        let run = Run { start: total, tag };
        if total < head_cap {
            if self.head.len() < MAX_RUNS {
                self.head.push(run);
            } else if let Some(last) = self.head.last_mut() {
                // Out of room: the rest of the head is attributed to no single stream.
                last.tag = Tag::Mixed;
            }
        } else {
            self.tail.push_back(run);
            if self.tail.len() > MAX_RUNS
                && let Some(first) = self.tail.pop_front()
                && let Some(second) = self.tail.front_mut()
            {
                second.start = first.start;
                second.tag = Tag::Mixed;
            }
        }
    }

    /// Drops the runs that ended before `tail_start` (they fell out of the stored tail).
    pub(super) fn prune(&mut self, tail_start: u64) {
        while self.tail.len() >= 2 && self.tail[1].start <= tail_start {
            self.tail.pop_front();
        }
    }

    /// The tag of the run containing `pos` and where that run ends.
    pub(super) fn tag_at(&self, pos: u64) -> (Tag, u64) {
        let find = |runs: &[Run]| -> Option<usize> {
            let i = runs.partition_point(|r| r.start <= pos);
            i.checked_sub(1)
        };
        let (tail_a, tail_b) = self.tail.as_slices();
        let next_start = |after: Option<u64>| after.unwrap_or(u64::MAX);
        if let Some(i) = find(tail_b) {
            let end = next_start(tail_b.get(i + 1).map(|r| r.start));
            return (tail_b[i].tag, end);
        }
        if let Some(i) = find(tail_a) {
            let end = tail_a.get(i + 1).or(tail_b.first()).map(|r| r.start);
            return (tail_a[i].tag, next_start(end));
        }
        if let Some(i) = find(&self.head) {
            let end = self
                .head
                .get(i + 1)
                .or(tail_a.first())
                .or(tail_b.first())
                .map(|r| r.start);
            return (self.head[i].tag, next_start(end));
        }
        let end = self.head.first().or(tail_a.first()).map(|r| r.start);
        (Tag::Mixed, next_start(end))
    }

    /// Frees the room kept for runs to come (the job has ended).
    pub(super) fn shrink_to_fit(&mut self) {
        self.head.shrink_to_fit();
        self.tail.shrink_to_fit();
    }

    /// Runs kept, in both regions.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::{read_all, temp_store};
    use super::*;

    #[test]
    fn keeps_order_and_streams_apart() {
        let (_d, s) = temp_store(1 << 20, 16);
        s.append(Stream::Stdout, b"out1\n");
        s.append(Stream::Stderr, b"err1\n");
        s.append(Stream::Stdout, b"out2\n");
        assert_eq!(read_all(&s, Select::Combined).0, b"out1\nerr1\nout2\n");
        assert_eq!(read_all(&s, Select::Stdout).0, b"out1\nout2\n");
        assert_eq!(read_all(&s, Select::Stderr).0, b"err1\n");
        let e = s.extent();
        assert_eq!((e.total, e.stdout, e.stderr, e.omitted), (15, 10, 5, 0));
    }

    #[test]
    fn pathological_interleaving_stays_bounded() {
        let (_d, s) = temp_store(1 << 30, 8);
        for _ in 0..(MAX_RUNS * 3) {
            s.append(Stream::Stdout, b"o");
            s.append(Stream::Stderr, b"e");
        }
        let inner = s.lock();
        assert!(inner.runs.len() <= 2 * MAX_RUNS + 1);
        drop(inner);
        let (out, _) = read_all(&s, Select::Combined);
        assert_eq!(out.len(), MAX_RUNS * 6);
    }
}
