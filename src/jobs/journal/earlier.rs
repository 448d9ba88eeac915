//! Reading the journals of earlier runs at a start: their jobs, folded in the order the runs
//! started, and the journals' removal once the new run's journal holds those jobs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::FILE_NAME;
use super::check::check;
use super::entry::{Created, Entry, Sizes, Usage};
use super::limits;
use super::lines::{Budget, Next, Reader};
use crate::jobs::state::End;
use crate::state_dir::{Runs, log_name};

/// A job of an earlier run, as its journal left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub created: Created,
    /// The run whose directory holds its log.
    pub run: String,
    /// Its log, `DIR/runs/<run>/j<id>.log`; `None` when that run's directory is gone or is not
    /// a real directory (a symlink put in its place is not followed).
    pub log: Option<PathBuf>,
    pub started: Option<(DateTime<Utc>, Option<u32>)>,
    pub ended: Option<(DateTime<Utc>, End, Option<Usage>, Sizes)>,
}

/// What the journals of earlier runs say.
#[derive(Debug, Default)]
pub struct Earlier {
    /// Their jobs not forgotten, by id (later runs' entries win).
    pub jobs: BTreeMap<u64, Previous>,
    /// The highest id they gave, forgotten jobs included: ids are never reused.
    pub last_id: u64,
    /// The runs whose journals were read to the end: the new run's journal takes their place
    /// (see [`remove_journal`]). One not read to the end is kept.
    pub runs: Vec<String>,
}

/// The jobs recorded in the journals of earlier runs (all runs in `runs` but `current`).
pub fn previous_jobs(runs: &Runs, current: &str) -> Earlier {
    let mut budget = Budget {
        bytes: limits::MAX_BYTES,
        lines: limits::MAX_LINES,
    };
    // Runs are read in the order they started, which their first lines say.
    let mut order: Vec<(DateTime<Utc>, String)> = Vec::new();
    // Run directories without a journal (kept for their logs) do not count.
    let journals = runs
        .names()
        .filter(|n| n != current)
        .filter_map(|n| Reader::open(runs, &n).map(|r| (n, r)))
        .take(limits::MAX_JOURNALS);
    for (name, mut reader) in journals {
        if let Next::Entry(Entry::Run { started_at }) = reader.next(&mut budget) {
            order.push((started_at, name));
        }
    }
    order.sort();
    let mut fold = Fold {
        runs,
        earlier: Earlier::default(),
    };
    for (_, name) in order {
        let Some(mut reader) = Reader::open(runs, &name) else {
            continue;
        };
        let (mut skipped, mut first_reason) = (0u64, None);
        let read_to_end = loop {
            let reason = match reader.next(&mut budget) {
                Next::End => break true,
                Next::OverBudget => break false,
                Next::Entry(entry) => match fold.apply(&name, entry) {
                    Ok(()) => continue,
                    Err(reason) => reason,
                },
                Next::Skipped(reason) => reason,
            };
            skipped += 1;
            first_reason.get_or_insert(reason);
        };
        if let Some(first) = first_reason {
            tracing::warn!(
                journal = %reader.path.display(),
                skipped,
                first,
                "journal lines skipped (garbled, too long, or out of range)"
            );
        }
        if read_to_end {
            fold.earlier.runs.push(name);
        } else {
            tracing::warn!(
                journal = %reader.path.display(),
                "journal not read to the end: a start reads at most {} bytes and {} lines of \
            journals; it is kept",
                limits::MAX_BYTES,
                limits::MAX_LINES
            );
        }
    }
    fold.earlier
}

/// Deletes run `run`'s journal (its jobs are in the new run's journal now), then its directory
/// if no log is left in it.
pub fn remove_journal(runs: &Runs, run: &str) {
    if let Err(e) = runs.remove_file(&runs.path().join(run).join(FILE_NAME)) {
        tracing::warn!("earlier journal not deleted: {e}");
    }
    // Fails while logs are left in it: they are still read.
    let _ = runs.remove_run_if_empty(run);
}

/// The jobs of the journals read so far, in the order their runs started.
struct Fold<'a> {
    runs: &'a Runs,
    earlier: Earlier,
}

impl Fold<'_> {
    /// Applies one entry of run `run`'s journal.
    fn apply(&mut self, run: &str, entry: Entry) -> Result<(), &'static str> {
        check(&entry)?;
        let Earlier { jobs, last_id, .. } = &mut self.earlier;
        match entry {
            Entry::Run { .. } => {}
            Entry::Created(created) => {
                if jobs.len() >= limits::MAX_JOBS && !jobs.contains_key(&created.job) {
                    return Err("more jobs than a start takes over");
                }
                *last_id = (*last_id).max(created.job);
                let run = created.run.clone().unwrap_or_else(|| run.to_owned());
                // Derived, never read: the run's directory (a real one) and the job's id.
                let log = self
                    .runs
                    .run_dir(&run)
                    .map(|dir| dir.join(log_name(created.job)));
                jobs.insert(
                    created.job,
                    Previous {
                        created,
                        run,
                        log,
                        started: None,
                        ended: None,
                    },
                );
            }
            Entry::Started {
                job,
                started_at,
                pid,
            } => {
                if let Some(p) = jobs.get_mut(&job) {
                    p.started = Some((started_at, pid));
                }
            }
            Entry::Ended {
                job,
                ended_at,
                ending,
                usage,
                output,
            } => {
                if let Some(p) = jobs.get_mut(&job) {
                    p.ended = Some((ended_at, ending, usage, output));
                }
            }
            Entry::Forgotten { job } => {
                *last_id = (*last_id).max(job);
                jobs.remove(&job);
            }
        }
        Ok(())
    }
}
