//! The audit log: one JSON line per policy decision (allowed or refused, with the rules), so
//! that an operator can see everything the agent asked for.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// One decision.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// `execute`, `interact` or `check`.
    pub tool: &'a str,
    pub host: &'a str,
    pub command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub allowed: bool,
    /// The rules that allowed it.
    pub rules: &'a [String],
    /// Why it was refused.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub reasons: &'a [String],
    /// For `interact`: the text sent (cut to 1 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<&'a str>,
    /// The sandbox an allowed local job runs in (`check`: would run in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<&'a str>,
}

/// An append-only JSON-lines file.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            crate::state_dir::create_private_dir(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(crate::state_dir::FILE_MODE)
            .open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record, stamped with the current time. A failed write is logged, not fatal:
    /// the decision stands.
    pub fn write(&self, record: &Record<'_>) {
        #[derive(Serialize)]
        struct Stamped<'r, 'a> {
            time: String,
            #[serde(flatten)]
            record: &'r Record<'a>,
        }
        let stamped = Stamped {
            time: chrono::Utc::now().to_rfc3339(),
            record,
        };
        let mut line = match serde_json::to_vec(&stamped) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot encode an audit record: {e}");
                return;
            }
        };
        line.push(b'\n');
        // One write per record, under the lock, so that lines never interleave.
        let mut f = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = f.write_all(&line) {
            tracing::error!(path = %self.path.display(), "cannot write the audit log: {e}");
        }
    }
}
