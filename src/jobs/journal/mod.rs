//! The job journal: one JSON line per job event, in the run's own directory of a state
//! directory given with `--state-dir`. A server started again on the same state directory reads
//! its predecessors' journals and knows their jobs: ended ones as they ended, and those that
//! were queued or running when the server went as `lost` (their process trees were killed by
//! the server's guardian).
//!
//! Appends are single `write`s of whole lines, so a server killed mid-write leaves at most one
//! torn last line, which the reader skips. A new run writes the jobs it took over into its own
//! journal before it deletes the earlier ones, so each start reads only its predecessor's (and a
//! crash in between leaves repeated entries, which are harmless: later ones win).
//!
//! Jobs run as the server's user and can append to a journal, so the reader trusts nothing in
//! it: lines, bytes, journals and jobs read at a start are bounded, every entry is checked
//! (ids, names, sizes) and one that fails is skipped with a warning, and no path is taken from
//! it. A job's log is always `DIR/runs/<run>/j<id>.log`, `<run>` being the journal's own run or
//! the plain name of the run a job was taken over from (see [`crate::state_dir`]).

mod check;
mod earlier;
mod entry;
pub mod limits;
mod lines;
mod writer;

pub use earlier::{Earlier, Previous, previous_jobs, remove_journal};
pub use entry::{Created, Entry, Layout, Sizes, Usage};
pub use writer::Journal;

/// Name of the journal file in a run's directory.
pub const FILE_NAME: &str = "journal.jsonl";

#[cfg(test)]
mod tests;
