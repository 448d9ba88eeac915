//! The `list` and `clean` tools' results.

use schemars::JsonSchema;
use serde::Serialize;

use super::replies::{Reply, one_line};
use super::waiting::InputWaitReply;
use crate::jobs::StateName;

#[derive(Debug, Serialize, JsonSchema)]
pub struct JobRow {
    /// The job id, e.g. `j3`.
    pub job_id: String,
    pub state: StateName,
    /// One line saying how the job is or how it ended.
    pub summary: String,
    /// The command line.
    pub command: String,
    /// Where it runs: `local` or a configured SSH host.
    pub host: String,
    /// The label given at `execute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its fan-out, e.g. `g1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Exit code, when it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for_input: Option<InputWaitReply>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListReply {
    /// Newest first.
    pub jobs: Vec<JobRow>,
    /// Jobs matching the filter (may exceed the rows returned).
    pub total: usize,
}

impl Reply for ListReply {
    fn text(&self) -> String {
        if self.jobs.is_empty() {
            return "no jobs".into();
        }
        let mut t = String::new();
        for r in &self.jobs {
            let label = r
                .label
                .as_ref()
                .map(|l| format!(" [{l}]"))
                .unwrap_or_default();
            let host = if r.host == "local" {
                String::new()
            } else {
                format!(" @{}", r.host)
            };
            t.push_str(&format!(
                "{}{label}{host} {}: {}\n",
                r.job_id,
                r.summary,
                one_line(&r.command, 80)
            ));
        }
        if self.total > self.jobs.len() {
            t.push_str(&format!(
                "({} more not shown)\n",
                self.total - self.jobs.len()
            ));
        }
        t
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CleanReply {
    /// Ids of the jobs forgotten.
    pub removed: Vec<String>,
    /// Jobs still known.
    pub remaining: usize,
}

impl Reply for CleanReply {
    fn text(&self) -> String {
        if self.removed.is_empty() {
            format!("nothing to clean ({} jobs known)", self.remaining)
        } else {
            format!(
                "forgot {} job(s): {} ({} still known)",
                self.removed.len(),
                self.removed.join(", "),
                self.remaining
            )
        }
    }
}
