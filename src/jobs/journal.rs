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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::End;

/// Name of the journal file in a run's directory.
pub const FILE_NAME: &str = "journal.jsonl";

/// How a job's output was stored, to read its log again.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Layout {
    pub head_cap: u64,
    pub tail_cap: u64,
}

/// A job's output when it ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sizes {
    pub total: u64,
    pub stdout: u64,
    pub stderr: u64,
    /// Newlines in the whole output (for line numbers).
    pub lines: u64,
}

/// Resource use of an ended job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    pub user_cpu_ms: u64,
    pub system_cpu_ms: u64,
    pub max_rss_bytes: u64,
}

/// A job as it was asked for: the first entry of each job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Created {
    pub job: u64,
    pub command: String,
    pub host: String,
    pub cwd: Option<PathBuf>,
    pub label: Option<String>,
    pub pty: bool,
    pub rule: Option<String>,
    pub created_at: DateTime<Utc>,
    pub log: PathBuf,
    pub layout: Layout,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// The first line: when this run started (runs are read in this order).
    Run {
        started_at: DateTime<Utc>,
    },
    Created(Created),
    Started {
        job: u64,
        started_at: DateTime<Utc>,
        pid: Option<u32>,
    },
    Ended {
        job: u64,
        ended_at: DateTime<Utc>,
        ending: End,
        usage: Option<Usage>,
        output: Sizes,
    },
    /// Forgotten by `clean` or by retention (its log was deleted).
    Forgotten {
        job: u64,
    },
}

/// The journal of this run (appends), or nothing when the state directory is temporary.
pub struct Journal {
    file: Option<Mutex<File>>,
}

impl Journal {
    /// No journal: nothing is recorded.
    pub fn disabled() -> Self {
        Self { file: None }
    }

    /// Creates this run's journal in `run_dir`.
    pub fn create(run_dir: &Path) -> std::io::Result<Self> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(run_dir.join(FILE_NAME))?;
        let journal = Self {
            file: Some(Mutex::new(file)),
        };
        journal.record(&Entry::Run {
            started_at: Utc::now(),
        });
        Ok(journal)
    }

    /// Appends one entry. A failed write is logged, never fatal: the journal only serves a
    /// later restart.
    pub fn record(&self, entry: &Entry) {
        let Some(file) = &self.file else {
            return;
        };
        let mut line = match serde_json::to_vec(entry) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("journal entry not written: {e}");
                return;
            }
        };
        line.push(b'\n');
        let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = file.write_all(&line) {
            tracing::warn!("journal entry not written: {e}");
        }
    }
}

/// A job of an earlier run, as its journal left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub created: Created,
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
    /// The journal files read (the new run's journal takes their place).
    pub files: Vec<PathBuf>,
}

/// The jobs recorded in the journals of earlier runs under `runs` (all runs but `current`).
pub fn previous_jobs(runs: &Path, current: &Path) -> Earlier {
    let mut journals: Vec<(DateTime<Utc>, Vec<Entry>)> = Vec::new();
    let mut files = Vec::new();
    let Ok(dirs) = std::fs::read_dir(runs) else {
        return Earlier::default();
    };
    for dir in dirs.flatten() {
        let path = dir.path();
        if path == current {
            continue;
        }
        let Ok(file) = File::open(path.join(FILE_NAME)) else {
            continue;
        };
        files.push(path.join(FILE_NAME));
        // A torn or foreign line is skipped, not fatal.
        let entries: Vec<Entry> = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect();
        if let Some(Entry::Run { started_at }) = entries.first() {
            journals.push((*started_at, entries));
        }
    }
    journals.sort_by_key(|(started, _)| *started);
    let mut jobs = BTreeMap::new();
    let mut last_id = 0;
    for entry in journals.into_iter().flat_map(|(_, e)| e) {
        match entry {
            Entry::Run { .. } => {}
            Entry::Created(created) => {
                last_id = last_id.max(created.job);
                jobs.insert(
                    created.job,
                    Previous {
                        created,
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
                last_id = last_id.max(job);
                jobs.remove(&job);
            }
        }
    }
    Earlier {
        jobs,
        last_id,
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(job: u64, log: &Path) -> Entry {
        Entry::Created(Created {
            job,
            command: format!("echo {job}"),
            host: "local".into(),
            cwd: None,
            label: None,
            pty: false,
            rule: None,
            created_at: Utc::now(),
            log: log.to_owned(),
            layout: Layout {
                head_cap: 100,
                tail_cap: 100,
            },
        })
    }

    #[test]
    fn later_runs_win_and_forgotten_jobs_are_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = dir.path().join("runs");
        let (a, b, c) = (runs.join("a"), runs.join("b"), runs.join("c"));
        for d in [&a, &b, &c] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let first = Journal::create(&a).expect("journal");
        first.record(&created(1, &a));
        first.record(&created(2, &a));
        first.record(&Entry::Started {
            job: 2,
            started_at: Utc::now(),
            pid: Some(42),
        });
        let second = Journal::create(&b).expect("journal");
        second.record(&Entry::Forgotten { job: 1 });
        second.record(&created(3, &b));
        // A torn last line, as a killed server may leave.
        let mut f = File::options()
            .append(true)
            .open(b.join(FILE_NAME))
            .expect("open");
        f.write_all(b"{\"event\":\"ended\",\"job\":3,")
            .expect("write");
        let earlier = previous_jobs(&runs, &c);
        assert_eq!(earlier.last_id, 3);
        let jobs = earlier.jobs;
        assert_eq!(jobs.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(jobs[&2].started.map(|s| s.1), Some(Some(42)));
        assert!(jobs[&3].ended.is_none());
        // The current run's own journal is not read.
        assert!(previous_jobs(&runs, &b).jobs.contains_key(&1));
    }
}
