//! Whether a running job waits for input — blocked reading its stdin, where its executor can see
//! that (local jobs: `Process::waiting_for_input`) — since when, and at which prompt.
//!
//! Why: an agent waiting on a job that stopped at a prompt (`apt`, `git`, `ssh`, a REPL) would
//! otherwise learn it only at its timeout. `status`, `list` and `wait` ask here.

use std::sync::PoisonError;
use std::time::Instant;

use super::Job;
use super::state::{Phase, Stamp};
use crate::output::view::last_line;

/// The longest prompt reported, in characters (its end is kept: that is where `[y/N]` is).
const MAX_PROMPT: usize = 200;

/// A running job blocked reading its stdin.
#[derive(Debug, Clone)]
pub struct InputWait {
    /// When it started waiting, as far as can be told: its last output, the last input it was
    /// given, or the last time it was seen busy, whichever is latest (a process blocked in a
    /// read has not run since it printed its prompt).
    pub since: Stamp,
    /// The last line of its output, cleaned: the prompt. `None` when it printed nothing.
    pub prompt: Option<String>,
}

/// The moments a wait for input is dated from, besides the job's output.
#[derive(Debug, Default)]
pub(super) struct InputClock {
    /// Input was last written to the job's stdin.
    input: Option<Instant>,
    /// The job was last seen not waiting for input.
    busy: Option<Instant>,
}

impl Job {
    /// Whether the job is blocked reading its stdin now, with its prompt. `None` when it is
    /// not, cannot take input (not running, stdin closed), or its executor cannot tell (SSH).
    ///
    /// Reads a few `/proc` files per process of the job: callers poll it at a modest rate.
    pub fn input_wait(&self) -> Option<InputWait> {
        let Phase::Running { started, .. } = self.phase() else {
            return None;
        };
        let process = self.process()?;
        // While input is being written (the `stdin` text at start, an `interact`), a job
        // blocked reading is about to get it.
        if !process.accepts_stdin() || self.stdin_gate.try_lock().is_err() {
            return None;
        }
        let waiting = process.waiting_for_input()?;
        let now = Stamp::now();
        let mut clock = self.input_clock();
        if !waiting {
            clock.busy = Some(now.mono);
            return None;
        }
        let since = [
            Some(started.mono),
            self.output.last_append(),
            clock.input,
            clock.busy,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(now.mono)
        .min(now.mono);
        drop(clock);
        let ago = chrono::Duration::from_std(now.mono - since).unwrap_or_default();
        Some(InputWait {
            since: Stamp {
                wall: now.wall - ago,
                mono: since,
            },
            prompt: last_line(&self.output, MAX_PROMPT),
        })
    }

    /// Records that input was just written to the job's stdin: a wait for input seen after
    /// this began after it.
    pub(super) fn note_input(&self) {
        self.input_clock().input = Some(Instant::now());
    }

    fn input_clock(&self) -> std::sync::MutexGuard<'_, InputClock> {
        // Each critical section is an assignment or two: a panic cannot leave it half done.
        self.input_clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
