//! The result of `output`: text from a cursor or a line, or the lines matching `grep`, each with
//! the cursor that reads on from it and, with `context`, the lines around it.

use schemars::JsonSchema;
use serde::Serialize;

use super::replies::Reply;
use crate::output::search::Context;

#[derive(Debug, Serialize, JsonSchema)]
pub struct GrepLine {
    /// 1-based line number in the stream read.
    pub line: u64,
    /// Where the line starts: `output {since: cursor}` reads on from this line.
    pub cursor: u64,
    /// The text, cleaned (ANSI escapes stripped) unless `raw`.
    pub text: String,
    /// With `context`: the lines just before it, oldest first (not repeating lines an earlier
    /// match showed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// With `context`: the lines just after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

impl From<Context> for GrepLine {
    fn from(c: Context) -> Self {
        GrepLine {
            line: c.found.line,
            cursor: c.found.at,
            text: c.found.text,
            before: c.before,
            after: c.after,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OutputReply {
    /// The job id, e.g. `j3`.
    pub job_id: String,
    /// Which output was read: combined, stdout or stderr.
    pub stream: String,
    /// The text read (empty with `grep`: the lines are in `matches`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Matching lines, when `grep` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<GrepLine>>,
    /// The number of the first line read, when reading by `line` or `lines`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The cursor this read started at.
    pub since: u64,
    /// Cursor to continue from.
    pub next: u64,
    /// Bytes (all streams) after `next` available now.
    pub remaining_bytes: u64,
    /// Bytes skipped because the log cap dropped them.
    pub omitted_bytes: u64,
    /// Whether the job has ended (no more output will come).
    pub ended: bool,
    /// Whether everything the job will ever print has been read.
    pub eof: bool,
}

impl Reply for OutputReply {
    fn text(&self) -> String {
        let mut t = String::new();
        if self.omitted_bytes > 0 {
            t.push_str(&format!(
                "[{} bytes omitted by the log cap]\n",
                self.omitted_bytes
            ));
        }
        match &self.matches {
            Some(m) => {
                let mut shown = 0u64;
                for l in m {
                    // As `grep -n -C`: `N:` a match, `N-` context, `--` between groups.
                    let first = l.line - l.before.len() as u64;
                    if shown > 0 && first > shown + 1 {
                        t.push_str("--\n");
                    }
                    for (k, b) in l.before.iter().enumerate() {
                        t.push_str(&format!("{}- {b}\n", first + k as u64));
                    }
                    t.push_str(&format!("{}: {}  [cursor {}]\n", l.line, l.text, l.cursor));
                    for (k, a) in l.after.iter().enumerate() {
                        t.push_str(&format!("{}- {a}\n", l.line + 1 + k as u64));
                    }
                    shown = l.line + l.after.len() as u64;
                }
                if m.is_empty() {
                    t.push_str("(no matching lines)\n");
                }
            }
            None => {
                if let Some(line) = self.line {
                    t.push_str(&format!("[from line {line}]\n"));
                }
                t.push_str(&self.text);
            }
        }
        if self.remaining_bytes > 0 {
            t.push_str(&format!(
                "\n[{} bytes more; continue with since={}]",
                self.remaining_bytes, self.next
            ));
        } else if self.eof {
            t.push_str("\n[end of output: the job has ended]");
        } else {
            t.push_str(&format!(
                "\n[no more output yet; next cursor {}]",
                self.next
            ));
        }
        t
    }
}
