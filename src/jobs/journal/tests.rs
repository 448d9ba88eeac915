//! Earlier journals as a job could have forged them, read back by a restarted server.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;

use super::*;
use crate::config::bounds;
use crate::jobs::state::End;
use crate::state_dir::Runs;

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

    /// A journal with job 7 outside the state directory, for links to point at.
    fn journal_outside(&self) {
        let journal = format!(
            "{}\n{}\n",
            run_line(),
            created_line(7, serde_json::json!({}))
        );
        std::fs::write(self.outside.join(FILE_NAME), journal).expect("write");
    }

    fn sentinel_intact(&self) -> bool {
        std::fs::read_to_string(&self.sentinel).is_ok_and(|s| s == SECRET)
    }
}

fn created(job: u64) -> Created {
    Created {
        group: None,
        job,
        command: format!("echo {job}"),
        host: "local".into(),
        cwd: None,
        label: None,
        pty: false,
        merge_stderr: false,
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
    fx.journal_outside();
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

/// A journal that is a FIFO or a symlink (to a journal outside) is not read, and not
/// waited on.
#[test]
fn a_journal_that_is_not_a_regular_file_is_not_read() {
    let fx = fixture();
    fx.journal_outside();
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
    use crate::output::Piece;

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
