//! The most recent bytes of a running job, in memory: tails and the reads of a job being
//! followed come from here without touching the file.

use ringbuf::HeapRb;
use ringbuf::traits::{Consumer, Observer, RingBuffer};

/// Allocated at the first byte (most jobs print little or nothing), freed when the job ends.
pub(super) struct Ring {
    bytes: Option<HeapRb<u8>>,
    size: usize,
}

impl Ring {
    pub(super) fn new(size: usize) -> Self {
        Self {
            bytes: None,
            size: size.max(1),
        }
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        let size = self.size;
        self.bytes
            .get_or_insert_with(|| HeapRb::new(size))
            .push_slice_overwrite(data);
    }

    pub(super) fn free(&mut self) {
        self.bytes = None;
    }

    /// Copies bytes from position `start` into `dest[..len]` if the ring still holds `start`
    /// (`total` bytes were produced); returns how many it copied (the ring holds no byte at or
    /// after `total`).
    pub(super) fn read(&self, total: u64, start: u64, dest: &mut [u8]) -> Option<usize> {
        let ring = self.bytes.as_ref()?;
        let first = total - ring.occupied_len() as u64;
        if start < first {
            return None;
        }
        let len = dest.len();
        let (a, b) = ring.as_slices();
        // Less than the ring's length, a usize: the conversion cannot fail.
        let skip = usize::try_from(start - first).ok()?;
        let from_a = a.get(skip..).unwrap_or_default();
        let from_a = &from_a[..from_a.len().min(len)];
        dest[..from_a.len()].copy_from_slice(from_a);
        let from_b = skip.saturating_sub(a.len());
        let from_b = &b[from_b..(from_b + len - from_a.len()).min(b.len())];
        dest[from_a.len()..from_a.len() + from_b.len()].copy_from_slice(from_b);
        Some(from_a.len() + from_b.len())
    }
}
