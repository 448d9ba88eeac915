//! Bounds on what a start reads from earlier journals (any job can write to them).

use crate::config::bounds;

/// Longest line kept: a `created` line holds a command of up to `MAX_COMMAND` bytes, which
/// JSON may escape to six times as many. Longer lines are skipped.
pub const MAX_LINE: usize = 8 * bounds::MAX_COMMAND;
/// Most bytes read from all journals at one start. A journal holds about 1 KiB per job, and
/// after a start only the jobs kept plus one run's new ones.
pub const MAX_BYTES: u64 = 256 << 20;
/// Most lines read from all journals at one start (tiny lines cost time, not bytes).
pub const MAX_LINES: u64 = 2_000_000;
/// Most journals read at one start: each start leaves one, a crash during a start two.
pub const MAX_JOURNALS: usize = 1024;
/// Most jobs taken over (retention keeps far fewer).
pub const MAX_JOBS: usize = 100_000;
/// Highest job id accepted: more than any server gives, low enough that `id + 1` cannot
/// overflow and that ids stay exact as JSON numbers.
pub const MAX_JOB_ID: u64 = 1 << 48;
/// Largest log region and output size: keeps the output store's offset arithmetic far from
/// overflowing.
pub const MAX_SIZE: u64 = 1 << 60;
