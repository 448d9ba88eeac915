//! Appending to this run's journal.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use chrono::Utc;

use super::FILE_NAME;
use super::entry::Entry;

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
            .mode(crate::state_dir::FILE_MODE)
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
