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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::End;
use crate::config::bounds;
use crate::state_dir::{Runs, is_plain_name, log_name, open_regular};

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
    /// The run whose directory holds the log, when it is not the journal's own: a job taken
    /// over from an earlier run keeps its log where it was. A plain name, never a path. (Older
    /// journals had a `log` path instead: it is ignored, as any path a journal holds.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
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

/// Bounds on what a start reads from earlier journals (any job can write to them).
pub mod limits {
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
}

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

/// What is left to read at this start.
struct Budget {
    bytes: u64,
    lines: u64,
}

/// What reading a journal gave next.
enum Next {
    Entry(Entry),
    Skipped(&'static str),
    End,
    OverBudget,
}

/// One journal being read, line by line.
struct Reader {
    path: PathBuf,
    lines: BufReader<File>,
    line: Vec<u8>,
}

impl Reader {
    /// Run `name`'s journal, if it is a regular file.
    fn open(runs: &Runs, name: &str) -> Option<Self> {
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

    fn next(&mut self, budget: &mut Budget) -> Next {
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

/// Why an entry cannot be believed, if it cannot.
fn check(entry: &Entry) -> Result<(), &'static str> {
    match entry {
        Entry::Run { .. } => Ok(()),
        Entry::Created(c) => check_id(c.job).and_then(|()| check_created(c)),
        Entry::Ended { job, output, .. } => check_id(*job).and_then(|()| check_sizes(output)),
        Entry::Started { job, .. } | Entry::Forgotten { job } => check_id(*job),
    }
}

fn check_id(job: u64) -> Result<(), &'static str> {
    if (1..=limits::MAX_JOB_ID).contains(&job) {
        Ok(())
    } else {
        Err("job id out of range")
    }
}

fn check_created(c: &Created) -> Result<(), &'static str> {
    if c.run.as_deref().is_some_and(|r| !is_plain_name(r)) {
        return Err("run is not a plain name");
    }
    if c.layout.head_cap > limits::MAX_SIZE || c.layout.tail_cap > limits::MAX_SIZE {
        return Err("log layout out of range");
    }
    if c.command.len() > bounds::MAX_COMMAND
        || c.label
            .as_ref()
            .is_some_and(|l| l.len() > bounds::MAX_LABEL)
    {
        return Err("command or label too long");
    }
    Ok(())
}

fn check_sizes(o: &Sizes) -> Result<(), &'static str> {
    // As the output store counts: a byte is of one stream at most (a log taken over has lost
    // which), and a newline is a byte.
    if o.total > limits::MAX_SIZE
        || o.stdout.checked_add(o.stderr).is_none_or(|s| s > o.total)
        || o.lines > o.total
    {
        return Err("output sizes inconsistent");
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::sync::Arc;

    use super::*;

    /// A state directory with runs `a`, `b` and `c`, and beside it (outside it) a directory
    /// holding a sentinel file, `j9.log`, that nothing may read or delete.
    struct Fixture {
        _dir: tempfile::TempDir,
        runs: Runs,
        outside: PathBuf,
        sentinel: PathBuf,
    }

    const SECRET: &str = "precious content outside the state directory\n";

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = dir.path().join("state").join("runs");
        for run in ["a", "b", "c"] {
            std::fs::create_dir_all(runs.join(run)).expect("mkdir");
        }
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let sentinel = outside.join("j9.log");
        std::fs::write(&sentinel, SECRET).expect("write");
        Fixture {
            _dir: dir,
            runs: Runs::new(runs),
            outside,
            sentinel,
        }
    }

    impl Fixture {
        fn run(&self, name: &str) -> PathBuf {
            self.runs.path().join(name)
        }

        /// Appends raw lines to run `run`'s journal, as a job could.
        fn forge(&self, run: &str, lines: &[String]) {
            let mut f = File::options()
                .create(true)
                .append(true)
                .open(self.run(run).join(FILE_NAME))
                .expect("open");
            for l in lines {
                f.write_all(l.as_bytes()).expect("write");
                f.write_all(b"\n").expect("write");
            }
        }

        fn sentinel_intact(&self) -> bool {
            std::fs::read_to_string(&self.sentinel).is_ok_and(|s| s == SECRET)
        }
    }

    fn created(job: u64) -> Created {
        Created {
            job,
            command: format!("echo {job}"),
            host: "local".into(),
            cwd: None,
            label: None,
            pty: false,
            rule: None,
            created_at: Utc::now(),
            run: None,
            layout: Layout {
                head_cap: 100,
                tail_cap: 100,
            },
        }
    }

    /// A `created` line for `job` with `extra` fields set (or replaced) as raw JSON.
    fn created_line(job: u64, extra: serde_json::Value) -> String {
        let mut v = serde_json::to_value(Entry::Created(created(job))).expect("json");
        if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
            obj.extend(extra);
        }
        v.to_string()
    }

    fn ended_line(job: u64, total: u64, stdout: u64, stderr: u64, lines: u64) -> String {
        serde_json::to_string(&Entry::Ended {
            job,
            ended_at: Utc::now(),
            ending: End::Exited { code: 0 },
            usage: None,
            output: Sizes {
                total,
                stdout,
                stderr,
                lines,
            },
        })
        .expect("json")
    }

    fn run_line() -> String {
        serde_json::to_string(&Entry::Run {
            started_at: Utc::now(),
        })
        .expect("json")
    }

    #[test]
    fn later_runs_win_and_forgotten_jobs_are_gone() {
        let fx = fixture();
        let first = Journal::create(&fx.run("a")).expect("journal");
        first.record(&Entry::Created(created(1)));
        first.record(&Entry::Created(created(2)));
        first.record(&Entry::Started {
            job: 2,
            started_at: Utc::now(),
            pid: Some(42),
        });
        let second = Journal::create(&fx.run("b")).expect("journal");
        second.record(&Entry::Forgotten { job: 1 });
        second.record(&Entry::Created(created(3)));
        // A torn last line, as a killed server may leave.
        let mut f = File::options()
            .append(true)
            .open(fx.run("b").join(FILE_NAME))
            .expect("open");
        f.write_all(b"{\"event\":\"ended\",\"job\":3,")
            .expect("write");
        let earlier = previous_jobs(&fx.runs, "c");
        assert_eq!(earlier.last_id, 3);
        let mut read = earlier.runs.clone();
        read.sort();
        assert_eq!(read, ["a", "b"]);
        let jobs = earlier.jobs;
        assert_eq!(jobs.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(jobs[&2].started.map(|s| s.1), Some(Some(42)));
        assert!(jobs[&3].ended.is_none());
        assert_eq!(jobs[&3].log, Some(fx.run("b").join("j3.log")));
        // The current run's own journal is not read.
        assert!(previous_jobs(&fx.runs, "b").jobs.contains_key(&1));
    }

    /// An old journal's `log` path, or one a job forged, is ignored: the log is the one in the
    /// run's directory, named after the id.
    #[test]
    fn a_log_path_in_the_journal_is_never_used() {
        let fx = fixture();
        let sentinel = fx.sentinel.display().to_string();
        fx.forge(
            "a",
            &[
                run_line(),
                created_line(9, serde_json::json!({"log": sentinel})),
                created_line(4, serde_json::json!({"run": "b", "log": sentinel})),
            ],
        );
        let jobs = previous_jobs(&fx.runs, "c").jobs;
        assert_eq!(jobs[&9].log, Some(fx.run("a").join("j9.log")));
        assert_eq!(jobs[&9].run, "a");
        assert_eq!(jobs[&4].log, Some(fx.run("b").join("j4.log")));
        assert_eq!(jobs[&4].run, "b");
    }

    #[test]
    fn run_names_that_leave_the_runs_directory_are_refused() {
        let fx = fixture();
        let outside = fx.outside.display().to_string();
        let names = [
            "..",
            "../..",
            ".",
            "",
            "/",
            &outside,
            "a/../..",
            "../outside",
            "a\0",
        ];
        let mut lines = vec![run_line()];
        lines.extend(
            names
                .iter()
                .zip(1..)
                .map(|(run, id)| created_line(id, serde_json::json!({ "run": run }))),
        );
        fx.forge("a", &lines);
        let earlier = previous_jobs(&fx.runs, "c");
        assert!(earlier.jobs.is_empty(), "{:?}", earlier.jobs);
        assert_eq!(earlier.last_id, 0);
    }

    /// A run directory replaced by a symlink (to a directory with a journal and logs) is not
    /// read, and a job said to have its log there has none.
    #[test]
    fn a_symlinked_run_directory_is_neither_read_nor_used() {
        let fx = fixture();
        std::fs::write(
            fx.outside.join(FILE_NAME),
            format!(
                "{}\n{}\n",
                run_line(),
                created_line(7, serde_json::json!({}))
            ),
        )
        .expect("write");
        symlink(&fx.outside, fx.run("evil")).expect("symlink");
        fx.forge(
            "a",
            &[
                run_line(),
                created_line(9, serde_json::json!({"run": "evil"})),
            ],
        );
        let earlier = previous_jobs(&fx.runs, "c");
        assert_eq!(earlier.jobs.keys().copied().collect::<Vec<_>>(), [9]);
        assert_eq!(earlier.jobs[&9].log, None);
        assert_eq!(earlier.runs, ["a"]);
    }

    /// Garbage of every kind is skipped, never fatal, and what follows it is still read.
    #[test]
    fn huge_lines_bad_ids_and_bad_sizes_are_skipped() {
        let fx = fixture();
        let huge_command = "x".repeat(bounds::MAX_COMMAND + 1);
        let lines = vec![
            run_line(),
            "y".repeat(limits::MAX_LINE + 10),
            created_line(1, serde_json::json!({"command": huge_command})),
            created_line(0, serde_json::json!({})),
            created_line(limits::MAX_JOB_ID + 1, serde_json::json!({})),
            r#"{"event":"forgotten","job":18446744073709551615}"#.into(),
            r#"{"event":"forgotten","job":-1}"#.into(),
            r#"{"event":"forgotten","job":"3"}"#.into(),
            r#"{"event":"forgotten","job":1e300}"#.into(),
            created_line(
                2,
                serde_json::json!({"layout": {"head_cap": u64::MAX, "tail_cap": 1}}),
            ),
            created_line(3, serde_json::json!({"run": null})),
            ended_line(3, 10, 10, 10, 0),
            ended_line(3, u64::MAX, u64::MAX, 0, 0),
            ended_line(3, 10, u64::MAX, 2, 0),
            ended_line(3, 10, 10, 0, 11),
            String::new(),
            "\u{0}\u{7f}not json".into(),
            r#"{"event":"exploded","job":3}"#.into(),
            created_line(5, serde_json::json!({})),
            // A job taken over has lost which stream its bytes came from.
            ended_line(5, 10, 0, 0, 2),
        ];
        fx.forge("a", &lines);
        let earlier = previous_jobs(&fx.runs, "c");
        assert_eq!(earlier.jobs.keys().copied().collect::<Vec<_>>(), [3, 5]);
        assert!(earlier.jobs[&3].ended.is_none(), "bad sizes are not taken");
        assert!(earlier.jobs[&5].ended.is_some());
        assert_eq!(earlier.last_id, 5);
        assert_eq!(earlier.runs, ["a"]);
    }

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

    /// A journal that is a FIFO or a symlink (to a journal outside) is not read, and not
    /// waited on.
    #[test]
    fn a_journal_that_is_not_a_regular_file_is_not_read() {
        let fx = fixture();
        std::fs::write(
            fx.outside.join(FILE_NAME),
            format!(
                "{}\n{}\n",
                run_line(),
                created_line(7, serde_json::json!({}))
            ),
        )
        .expect("write");
        symlink(fx.outside.join(FILE_NAME), fx.run("a").join(FILE_NAME)).expect("symlink");
        nix::unistd::mkfifo(
            &fx.run("b").join(FILE_NAME),
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .expect("mkfifo");
        let earlier = previous_jobs(&fx.runs, "c");
        assert!(earlier.jobs.is_empty());
        assert!(earlier.runs.is_empty());
    }

    /// The whole way a restarted server goes: forged entries in an earlier journal, the jobs
    /// taken over by a JobManager, their output read, then `clean`. Nothing outside the state
    /// directory is read or deleted.
    #[test]
    fn the_server_neither_reads_nor_deletes_files_outside_the_state_directory() {
        use crate::audit::AuditLog;
        use crate::config::Limits;
        use crate::jobs::manager::{CleanScope, JobManager};
        use crate::output::store::Piece;

        let fx = fixture();
        let a = fx.run("a");
        let len = SECRET.len() as u64;
        let sentinel = fx.sentinel.display().to_string();
        // j9: an old-style `log` path to the sentinel, with sizes to read all of it.
        // j8: its log a symlink to the sentinel. j7: its run a symlink to the sentinel's
        // directory, which has a `j7.log`. j6: an honest log, swapped for a symlink after it
        // was taken over. j5: honest, to see that reading works.
        std::fs::copy(&fx.sentinel, fx.outside.join("j7.log")).expect("copy");
        symlink(&fx.sentinel, a.join("j8.log")).expect("symlink");
        symlink(&fx.outside, fx.run("evil")).expect("symlink");
        std::fs::write(a.join("j6.log"), "honest\n").expect("write");
        std::fs::write(a.join("j5.log"), "hello\n").expect("write");
        fx.forge(
            "a",
            &[
                run_line(),
                created_line(9, serde_json::json!({"log": sentinel})),
                ended_line(9, len, len, 0, 1),
                created_line(8, serde_json::json!({})),
                ended_line(8, len, len, 0, 1),
                created_line(7, serde_json::json!({"run": "evil"})),
                ended_line(7, len, len, 0, 1),
                created_line(6, serde_json::json!({})),
                ended_line(6, 7, 7, 0, 1),
                created_line(5, serde_json::json!({})),
                ended_line(5, 6, 6, 0, 1),
            ],
        );

        let current = fx.run("c");
        let audit = AuditLog::open(&fx.outside.join("audit.jsonl")).expect("audit");
        let manager = JobManager::new(
            Limits::default(),
            Arc::new(policies::Policy::allow_all()),
            Arc::new(audit),
            current.clone(),
            std::collections::HashMap::new(),
            std::collections::HashMap::new(),
            "test".into(),
        )
        .with_journal(Journal::create(&current).expect("journal"));
        let earlier = previous_jobs(&fx.runs, "c");
        let read = earlier.runs.clone();
        manager.import(earlier);
        for run in &read {
            remove_journal(&fx.runs, run);
        }
        std::fs::remove_file(a.join("j6.log")).expect("rm");
        symlink(&fx.sentinel, a.join("j6.log")).expect("symlink");

        let output = |id: &str| {
            let job = manager.get(id).expect("job");
            let mut text = Vec::new();
            for piece in job.output.pieces(0, u64::MAX) {
                if let Piece::Data { start, end, .. } = piece
                    && let Ok((_, bytes)) = job.output.read(start, end)
                {
                    text.extend(bytes);
                }
            }
            // Past what the journal says, too.
            if let Ok((_, bytes)) = job.output.read(0, 1 << 20) {
                text.extend(bytes);
            }
            String::from_utf8_lossy(&text).into_owned()
        };
        for id in ["j9", "j8", "j7", "j6"] {
            let text = output(id);
            assert!(!text.contains("precious"), "{id} read {text:?}");
        }
        assert_eq!(output("j5"), "hello\nhello\n");

        let cleaned = manager.clean(&CleanScope::All).expect("clean");
        assert_eq!(cleaned.len(), 5);
        assert!(fx.sentinel_intact());
        assert!(fx.outside.join("j7.log").exists());
        assert!(!a.join("j5.log").exists(), "an honest log is deleted");
        // A journal of the taken-over jobs is left only in the current run.
        assert!(!a.join(FILE_NAME).exists());
        assert!(current.join(FILE_NAME).exists());
    }
}
